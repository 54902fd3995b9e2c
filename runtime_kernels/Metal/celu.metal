// Core ML custom layer "Celu", GPU path: y = max(0, x) + min(0, alpha * (exp(x / alpha) - 1)), elementwise.
//
// Part of the bridgec runtime kernels. Add this file to your app target next to CeluLayer.swift;
// Xcode compiles it into the app's default Metal library, where Celu.encode(commandBuffer:inputs:outputs:)
// looks up the kernel function `celu`.
//
// Core ML's custom-layer GPU convention: inputs and outputs are 2D texture arrays in .rgba16Float;
// for a blob (batch, C, H, W): width = W, height = H, arrayLength = batch * ceil(C / 4), channel c in
// slice c / 4, lane c % 4. Padding lanes are processed too (harmless for an elementwise op). The
// grid is whole threadgroups covering (width, height, arrayLength) (BridgecMetalDispatch in
// LayerSupport.swift); threads outside the texture return early.
//
// Numerics: computed in float from the half input, rounded once to half; matches the numpy
// reference (runtime_kernels/reference.py `celu`) to about 1 half ulp. Metal has no erf / expm1 /
// log1p, so the ones needed are written out here. A NaN input gives NaN: NaN lanes are restored from
// the input's bit pattern, since Xcode compiles Metal with fast math, which may assume no NaNs.

#include <metal_stdlib>
using namespace metal;

// Parameters, bound with setBytes(_:length:index:) at buffer index 0. generate_layers.py
// writes what CeluLayer.swift sends from this struct: 1 float(s), 4 bytes, no padding.
struct CeluParams {
    float alpha;
};

static inline bool4 bridgec_celu_is_nan(half4 v) {
    return (as_type<ushort4>(v) & ushort4(0x7fff)) > ushort4(0x7c00);
}

// exp(x) - 1 without cancellation near 0 (Taylor series below |x| = 0.35, error < 1e-9 relative).
static inline float4 bridgec_celu_expm1(float4 x) {
    const float4 t = x * (1.0f + x * (1.0f / 2 + x * (1.0f / 6 + x * (1.0f / 24 + x * (1.0f / 120
                   + x * (1.0f / 720 + x * (1.0f / 5040 + x * (1.0f / 40320))))))));
    return select(exp(x) - 1.0f, t, fabs(x) < 0.35f);
}

kernel void celu(texture2d_array<half, access::read> input [[texture(0)]],
                 texture2d_array<half, access::write> output [[texture(1)]],
                 constant CeluParams& params [[buffer(0)]],
                 uint3 gid [[thread_position_in_grid]])
{
    if (gid.x >= output.get_width() || gid.y >= output.get_height() || gid.z >= output.get_array_size()) {
        return;
    }
    const half4 xh = input.read(gid.xy, gid.z);
    const float4 x = float4(xh);
    const float4 neg = params.alpha * bridgec_celu_expm1(x / params.alpha);
    const float4 y = select(float4(0.0f), x, x > 0.0f) + select(float4(0.0f), neg, neg < 0.0f);
    output.write(select(half4(y), xh, bridgec_celu_is_nan(xh)), gid.xy, gid.z);
}
