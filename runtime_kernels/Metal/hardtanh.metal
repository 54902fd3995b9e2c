// Core ML custom layer "HardTanh", GPU path: y = min(max(x, min_value), max_value), elementwise.
//
// Part of the bridgec runtime kernels. Add this file to your app target next to
// HardTanhLayer.swift; Xcode compiles it into the app's default Metal library, where
// HardTanh.encode(commandBuffer:inputs:outputs:) looks up the kernel function `hardtanh`.
//
// Core ML's custom-layer GPU convention: inputs and outputs are 2D texture arrays in
// .rgba16Float. For a blob of shape (batch, C, H, W): width = W, height = H,
// arrayLength = batch * ceil(C / 4); channel c lives in slice c / 4, lane c % 4. Padding lanes of
// the last slice are processed too (harmless for an elementwise op).
//
// Dispatch (see BridgecMetalDispatch.threadgroups in LayerSupport.swift): grid of whole
// threadgroups covering (width, height, arrayLength); threads outside the texture return early.
//
// Semantics follow the numpy reference np.minimum(np.maximum(x, lo), hi) in float16:
// NaN inputs stay NaN, a NaN bound makes every output NaN, an infinite bound leaves that side open.
// NaN is detected from the bit pattern, not with isnan(): Xcode compiles Metal with fast math on by
// default, under which the compiler may assume no NaNs and fold isnan() / min / max.

#include <metal_stdlib>
using namespace metal;

// Bounds block, bound with setBytes(_:length:index:) at buffer index 0. generate_layers.py
// writes what HardTanhLayer.swift sends from this struct: two IEEE 754 binary16 values, 4 bytes, no padding.
// The host rounds the layer's double parameters to half (ties to even), as numpy does for float16.
struct HardTanhParams {
    half minValue;
    half maxValue;
};

static inline bool4 bridgec_is_nan(half4 v) {
    const ushort4 bits = as_type<ushort4>(v);
    return (bits & ushort4(0x7fff)) > ushort4(0x7c00);
}

static inline bool bridgec_is_nan(half v) {
    return (as_type<ushort>(v) & ushort(0x7fff)) > ushort(0x7c00);
}

kernel void hardtanh(texture2d_array<half, access::read> input [[texture(0)]],
                     texture2d_array<half, access::write> output [[texture(1)]],
                     constant HardTanhParams& params [[buffer(0)]],
                     uint3 gid [[thread_position_in_grid]])
{
    if (gid.x >= output.get_width() || gid.y >= output.get_height() || gid.z >= output.get_array_size()) {
        return;
    }

    const half4 x = input.read(gid.xy, gid.z);
    const half4 lo = half4(params.minValue);
    const half4 hi = half4(params.maxValue);

    half4 y = select(x, lo, x < lo);  // max(x, lo); a NaN lane compares false
    y = select(y, hi, y > hi);        // min(y, hi)
    y = select(y, x, bridgec_is_nan(x));  // restore NaN lanes even if the compiler used fmax/fmin

    if (bridgec_is_nan(params.minValue) || bridgec_is_nan(params.maxValue)) {
        y = as_type<half4>(ushort4(0x7e00));  // quiet NaN
    }

    output.write(y, gid.xy, gid.z);
}
