// Core ML custom layer "HardSigmoid", GPU path: y = max(0, min(1, alpha * x + beta)), elementwise.
//
// Part of the bridgec runtime kernels. Add this file to your app target next to HardSigmoidLayer.swift;
// Xcode compiles it into the app's default Metal library, where HardSigmoid.encode(commandBuffer:inputs:outputs:)
// looks up the kernel function `hardsigmoid`.
//
// Core ML's custom-layer GPU convention: inputs and outputs are 2D texture arrays in .rgba16Float;
// for a blob (batch, C, H, W): width = W, height = H, arrayLength = batch * ceil(C / 4), channel c in
// slice c / 4, lane c % 4. Padding lanes are processed too (harmless for an elementwise op). The
// grid is whole threadgroups covering (width, height, arrayLength) (BridgecMetalDispatch in
// LayerSupport.swift); threads outside the texture return early.
//
// Numerics: computed in float from the half input, rounded once to half; matches the numpy
// reference (runtime_kernels/reference.py `hardsigmoid`) to about 1 half ulp. Metal has no erf / expm1 /
// log1p, so the ones needed are written out here. A NaN input gives NaN: NaN lanes are restored from
// the input's bit pattern, since Xcode compiles Metal with fast math, which may assume no NaNs.

#include <metal_stdlib>
using namespace metal;

// Parameters, bound with setBytes(_:length:index:) at buffer index 0. generate_layers.py
// writes what HardSigmoidLayer.swift sends from this struct: 2 float(s), 8 bytes, no padding.
struct HardSigmoidParams {
    float alpha;
    float beta;
};

static inline bool4 bridgec_hardsigmoid_is_nan(half4 v) {
    return (as_type<ushort4>(v) & ushort4(0x7fff)) > ushort4(0x7c00);
}

kernel void hardsigmoid(texture2d_array<half, access::read> input [[texture(0)]],
                        texture2d_array<half, access::write> output [[texture(1)]],
                        constant HardSigmoidParams& params [[buffer(0)]],
                        uint3 gid [[thread_position_in_grid]])
{
    if (gid.x >= output.get_width() || gid.y >= output.get_height() || gid.z >= output.get_array_size()) {
        return;
    }
    const half4 xh = input.read(gid.xy, gid.z);
    const float4 x = float4(xh);
    const float4 y = clamp(params.alpha * x + params.beta, float4(0.0f), float4(1.0f));
    output.write(select(half4(y), xh, bridgec_hardsigmoid_is_nan(xh)), gid.xy, gid.z);
}
