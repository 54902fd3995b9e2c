// Gelu kernel math (CPU): y = x * Phi(x) (exact, approximate "none") or its tanh approximation
// (approximate "tanh"), elementwise.
//
// Part of the bridgec runtime kernels. bridgec copies this file next to the converted model;
// add it to your app target together with GeluLayer.swift, VectorMath.swift and LayerSupport.swift.
//
// Matches the numpy reference (the `gelu` declaration's numpy reference, bridgec/core/ops/activations.py) within the tolerance the
// catalog states for Gelu; Float16 is computed in Float32 and rounded once. NaN inputs give NaN,
// -inf gives NaN (-inf * 0) as in torch. The exact form computes 0.5 x (1 + erf(x / sqrt 2)) like
// torch, so for x below about -3 the result has an absolute (not relative) error of about 1e-7.
// `input` and `output` may be the same buffer (in-place); otherwise they must not overlap.

/// 0.5 x (1 + erf(x / sqrt 2)).
@inline(__always)
@usableFromInline
func bridgecGelu(_ x: SIMD16<Float>) -> SIMD16<Float> {
    0.5 * x * (1 + bridgecErfApprox(x * 0.707_106_781_186_547_52))
}

/// 0.5 x (1 + tanh(u)) = x / (1 + e^(-2u)), u = sqrt(2 / pi) (x + 0.044715 x^3).
@inline(__always)
@usableFromInline
func bridgecGeluTanh(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let u = 0.797_884_560_802_865_36 * (x + 0.044_715 * x * x * x)
    return x / (1 + bridgecExp(-2 * u))
}

/// Whether `approximate` selects the tanh form; any value but "none" and "tanh" is a caller's bug
/// (the adapter rejects it when the model is loaded).
@inline(__always)
@usableFromInline
func bridgecGeluIsTanh(_ approximate: String) -> Bool {
    precondition(approximate == "none" || approximate == "tanh", "gelu: approximate must be \"none\" or \"tanh\"")
    return approximate == "tanh"
}

/// Gelu over `count` Float32 values from `input`, written to `output`; `approximate` is "none"
/// (exact) or "tanh" (the tanh approximation), as in torch.nn.functional.gelu.
public func gelu(
    _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int, approximate: String
) {
    if bridgecGeluIsTanh(approximate) {
        bridgecMap(input, output, count: count) { bridgecGeluTanh($0) }
    } else {
        bridgecMap(input, output, count: count) { bridgecGelu($0) }
    }
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))

/// Gelu over `count` Float16 values from `input`, written to `output` (computed in Float32).
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
public func gelu(
    _ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int, approximate: String
) {
    if bridgecGeluIsTanh(approximate) {
        bridgecMap(input, output, count: count) { bridgecGeluTanh($0) }
    } else {
        bridgecMap(input, output, count: count) { bridgecGelu($0) }
    }
}

#endif
