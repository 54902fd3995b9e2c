// Silu kernel math (CPU): y = x * sigmoid(x), elementwise.
//
// Part of the bridgec runtime kernels. bridgec copies this file next to the converted model;
// add it to your app target together with SiluLayer.swift, VectorMath.swift and LayerSupport.swift.
//
// Matches the numpy reference (the `silu` declaration's numpy reference, bridgec/core/ops/activations.py) within the tolerance the
// catalog states for Silu; Float16 is computed in Float32 and rounded once. NaN inputs give NaN.
// `input` and `output` may be the same buffer (in-place); otherwise they must not overlap.
// Neither pointer needs any alignment beyond the element type's.

/// x / (1 + e^-x), as torch computes it; -inf gives NaN (-inf / inf).
@inline(__always)
@usableFromInline
func bridgecSilu(_ x: SIMD16<Float>) -> SIMD16<Float> {
    x / (1 + bridgecExp(-x))
}

/// Silu over `count` Float32 values from `input`, written to `output`.
public func silu(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int) {
    bridgecMap(input, output, count: count) { bridgecSilu($0) }
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))

/// Silu over `count` Float16 values from `input`, written to `output` (computed in Float32).
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
public func silu(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int) {
    bridgecMap(input, output, count: count) { bridgecSilu($0) }
}

#endif
