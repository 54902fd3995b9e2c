// Core ML custom layer "Softplus", GPU path: y = x if beta * x > threshold else log(1 + exp(beta * x)) / beta, elementwise.
//
// Part of the bridgec runtime kernels. Add this file to your app target next to SoftplusLayer.swift;
// Xcode compiles it into the app's default Metal library, where Softplus.encode(commandBuffer:inputs:outputs:)
// looks up the kernel function `softplus`.
//
// Core ML's custom-layer GPU convention: inputs and outputs are 2D texture arrays in .rgba16Float;
// for a blob (batch, C, H, W): width = W, height = H, arrayLength = batch * ceil(C / 4), channel c in
// slice c / 4, lane c % 4. Padding lanes are processed too (harmless for an elementwise op). The
// grid is whole threadgroups covering (width, height, arrayLength) (BridgecMetalDispatch in
// LayerSupport.swift); threads outside the texture return early.
//
// Numerics: computed in float from the half input, rounded once to half; matches the numpy
// reference (runtime_kernels/reference.py `softplus`) to about 1 half ulp. Metal has no erf / expm1 /
// log1p, so the ones needed are written out here. A NaN input gives NaN: NaN lanes are restored from
// the input's bit pattern, since Xcode compiles Metal with fast math, which may assume no NaNs.

#include <metal_stdlib>
using namespace metal;

// Parameters, bound with setBytes(_:length:index:) at buffer index 0. generate_layers.py
// writes what SoftplusLayer.swift sends from this struct: 2 float(s), 8 bytes, no padding.
struct SoftplusParams {
    float beta;
    float threshold;
};

static inline bool4 bridgec_softplus_is_nan(half4 v) {
    return (as_type<ushort4>(v) & ushort4(0x7fff)) > ushort4(0x7c00);
}

// log(1 + e) for e in [0, 1]: 2 atanh(s), s = e / (2 + e) in [0, 1/3] (series to s^15, < 2e-9 relative).
static inline float4 bridgec_softplus_log1p01(float4 e) {
    const float4 s = e / (2.0f + e);
    const float4 z = s * s;
    return 2.0f * s * (1.0f + z * (1.0f / 3 + z * (1.0f / 5 + z * (1.0f / 7 + z * (1.0f / 9 + z * (1.0f / 11
                   + z * (1.0f / 13 + z * (1.0f / 15))))))));
}

kernel void softplus(texture2d_array<half, access::read> input [[texture(0)]],
                     texture2d_array<half, access::write> output [[texture(1)]],
                     constant SoftplusParams& params [[buffer(0)]],
                     uint3 gid [[thread_position_in_grid]])
{
    if (gid.x >= output.get_width() || gid.y >= output.get_height() || gid.z >= output.get_array_size()) {
        return;
    }
    const half4 xh = input.read(gid.xy, gid.z);
    const float4 x = float4(xh);
    // log(1 + exp(b)) = max(b, 0) + log(1 + exp(-|b|)), which neither overflows nor cancels.
    const float4 b = params.beta * x;
    const float4 sp = (max(b, float4(0.0f)) + bridgec_softplus_log1p01(exp(-fabs(b)))) / params.beta;
    const float4 y = select(sp, x, b > params.threshold);
    output.write(select(half4(y), xh, bridgec_softplus_is_nan(xh)), gid.xy, gid.z);
}
