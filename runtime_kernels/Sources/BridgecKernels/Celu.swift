// Celu kernel math (CPU): y = max(0, x) + min(0, alpha * (exp(x / alpha) - 1)), elementwise.
//
// Part of the bridgec runtime kernels. bridgec copies this file next to the converted model;
// add it to your app target together with CeluLayer.swift, VectorMath.swift and LayerSupport.swift.
//
// Matches the numpy reference (the `celu` declaration's numpy reference, bridgec/core/ops/activations.py) within the tolerance the
// catalog states for Celu; Float16 is computed in Float32 and rounded once; the layer's
// Double parameters are rounded to Float. NaN inputs give NaN.
// `input` and `output` may be the same buffer (in-place); otherwise they must not overlap.
// Neither pointer needs any alignment beyond the element type's.

/// max(0, x) + min(0, alpha (e^(x / alpha) - 1)).
@inline(__always)
@usableFromInline
func bridgecCelu(_ x: SIMD16<Float>, _ alpha: Float) -> SIMD16<Float> {
    var pos = x
    pos.replace(with: 0, where: x .< 0)  // max(0, x); NaN stays
    var neg = alpha * bridgecExpm1(x / alpha)
    neg.replace(with: 0, where: neg .> 0)  // min(0, ...)
    return pos + neg
}

/// Celu over `count` Float32 values from `input`, written to `output`.
public func celu(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int, alpha: Double) {
    bridgecMap(input, output, count: count) { bridgecCelu($0, Float(alpha)) }
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))

/// Celu over `count` Float16 values from `input`, written to `output` (computed in Float32).
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
public func celu(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int, alpha: Double) {
    bridgecMap(input, output, count: count) { bridgecCelu($0, Float(alpha)) }
}

#endif
