// Selu kernel math (CPU): y = gamma * (x if x > 0 else alpha * (exp(x) - 1)), elementwise.
//
// Part of the bridgec runtime kernels. bridgec copies this file next to the converted model;
// add it to your app target together with SeluLayer.swift, VectorMath.swift and LayerSupport.swift.
//
// Matches the numpy reference (the `selu` declaration's numpy reference, bridgec/core/ops/activations.py) within the tolerance the
// catalog states for Selu; Float16 is computed in Float32 and rounded once; the layer's
// Double parameters are rounded to Float. NaN inputs give NaN.
// `input` and `output` may be the same buffer (in-place); otherwise they must not overlap.
// Neither pointer needs any alignment beyond the element type's.

/// gamma (x if x > 0 else alpha (e^x - 1)).
@inline(__always)
@usableFromInline
func bridgecSelu(_ x: SIMD16<Float>, _ alpha: Float, _ gamma: Float) -> SIMD16<Float> {
    var y = alpha * bridgecExpm1(bridgecMin(x, SIMD16(repeating: 0)))
    y.replace(with: x, where: x .> 0)
    return gamma * y
}

/// Selu over `count` Float32 values from `input`, written to `output`.
public func selu(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int, alpha: Double, gamma: Double) {
    bridgecMap(input, output, count: count) { bridgecSelu($0, Float(alpha), Float(gamma)) }
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))

/// Selu over `count` Float16 values from `input`, written to `output` (computed in Float32).
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
public func selu(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int, alpha: Double, gamma: Double) {
    bridgecMap(input, output, count: count) { bridgecSelu($0, Float(alpha), Float(gamma)) }
}

#endif
