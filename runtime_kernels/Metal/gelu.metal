// Core ML custom layer "Gelu", GPU path: y = x * Phi(x) (kernel gelu) or its tanh approximation (kernel gelu_tanh), elementwise.
//
// Part of the bridgec runtime kernels. Add this file to your app target next to GeluLayer.swift;
// Xcode compiles it into the app's default Metal library, where Gelu.encode(commandBuffer:inputs:outputs:)
// looks up the kernel function `gelu` or `gelu_tanh`.
//
// Core ML's custom-layer GPU convention: inputs and outputs are 2D texture arrays in .rgba16Float;
// for a blob (batch, C, H, W): width = W, height = H, arrayLength = batch * ceil(C / 4), channel c in
// slice c / 4, lane c % 4. Padding lanes are processed too (harmless for an elementwise op). The
// grid is whole threadgroups covering (width, height, arrayLength) (BridgecMetalDispatch in
// LayerSupport.swift); threads outside the texture return early.
//
// Numerics: computed in float from the half input, rounded once to half; matches the numpy
// reference (runtime_kernels/reference.py `gelu`) to about 1 half ulp. Metal has no erf / expm1 /
// log1p, so the ones needed are written out here. A NaN input gives NaN: NaN lanes are restored from
// the input's bit pattern, since Xcode compiles Metal with fast math, which may assume no NaNs.

#include <metal_stdlib>
using namespace metal;

static inline bool4 bridgec_gelu_is_nan(half4 v) {
    return (as_type<ushort4>(v) & ushort4(0x7fff)) > ushort4(0x7c00);
}

// erf(x): odd rational approximation x * P(x^2) / Q(x^2) on [-4, 4] (|error| < 1e-7; erf is +-1 in
// float beyond). The same coefficients as the Swift kernel (VectorMath.swift).
static inline float4 bridgec_gelu_erf(float4 x) {
    x = select(x, float4(4.0f), x > 4.0f);
    x = select(x, float4(-4.0f), x < -4.0f);
    const float4 z = x * x;
    float4 p = float4(-2.72614225801306e-10f);
    p = fma(p, z, float4(2.77068142495902e-08f));
    p = fma(p, z, float4(-2.10102402082508e-06f));
    p = fma(p, z, float4(-5.69250639462346e-05f));
    p = fma(p, z, float4(-7.34990630326855e-04f));
    p = fma(p, z, float4(-2.95459980854025e-03f));
    p = fma(p, z, float4(-1.60960333262415e-02f));
    float4 q = float4(-1.45660718464996e-05f);
    q = fma(q, z, float4(-2.13374055278905e-04f));
    q = fma(q, z, float4(-1.68282697438203e-03f));
    q = fma(q, z, float4(-7.37332916720468e-03f));
    q = fma(q, z, float4(-1.42647390514189e-02f));
    return x * p / q;
}

kernel void gelu(texture2d_array<half, access::read> input [[texture(0)]],
                 texture2d_array<half, access::write> output [[texture(1)]],
                 uint3 gid [[thread_position_in_grid]])
{
    if (gid.x >= output.get_width() || gid.y >= output.get_height() || gid.z >= output.get_array_size()) {
        return;
    }
    const half4 xh = input.read(gid.xy, gid.z);
    const float4 x = float4(xh);
    // 0.5 x (1 + erf(x / sqrt 2)), as torch computes it.
    const float4 y = 0.5f * x * (1.0f + bridgec_gelu_erf(x * 0.70710678118654752f));
    output.write(select(half4(y), xh, bridgec_gelu_is_nan(xh)), gid.xy, gid.z);
}

kernel void gelu_tanh(texture2d_array<half, access::read> input [[texture(0)]],
                      texture2d_array<half, access::write> output [[texture(1)]],
                      uint3 gid [[thread_position_in_grid]])
{
    if (gid.x >= output.get_width() || gid.y >= output.get_height() || gid.z >= output.get_array_size()) {
        return;
    }
    const half4 xh = input.read(gid.xy, gid.z);
    const float4 x = float4(xh);
    // 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3).
    const float4 u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
    const float4 y = x / (1.0f + exp(-2.0f * u));
    output.write(select(half4(y), xh, bridgec_gelu_is_nan(xh)), gid.xy, gid.z);
}
