// Elu kernel math (CPU): y = x if x > 0 else alpha * (exp(x) - 1), elementwise.
//
// Part of the bridgec runtime kernels. bridgec copies this file next to the converted model;
// add it to your app target together with EluLayer.swift, VectorMath.swift and LayerSupport.swift.
//
// Matches the numpy reference (the `elu` declaration's numpy reference, bridgec/core/ops/activations.py) within the tolerance the
// catalog states for Elu; Float16 is computed in Float32 and rounded once; the layer's
// Double parameters are rounded to Float. NaN inputs give NaN.
// `input` and `output` may be the same buffer (in-place); otherwise they must not overlap.
// Neither pointer needs any alignment beyond the element type's.

/// x if x > 0 else alpha (e^x - 1).
@inline(__always)
@usableFromInline
func bridgecElu(_ x: SIMD16<Float>, _ alpha: Float) -> SIMD16<Float> {
    var y = alpha * bridgecExpm1(bridgecMin(x, SIMD16(repeating: 0)))
    y.replace(with: x, where: x .> 0)
    return y
}

/// Elu over `count` Float32 values from `input`, written to `output`.
public func elu(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int, alpha: Double) {
    bridgecMap(input, output, count: count) { bridgecElu($0, Float(alpha)) }
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))

/// Elu over `count` Float16 values from `input`, written to `output` (computed in Float32).
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
public func elu(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int, alpha: Double) {
    bridgecMap(input, output, count: count) { bridgecElu($0, Float(alpha)) }
}

#endif
