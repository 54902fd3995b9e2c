// LeakyRelu kernel math (CPU): y = x if x > 0 else alpha * x, elementwise.
//
// Part of the bridgec runtime kernels. bridgec copies this file next to the converted model;
// add it to your app target together with LeakyReluLayer.swift, VectorMath.swift and LayerSupport.swift.
//
// Matches the numpy reference (the `leaky_relu` declaration's numpy reference, bridgec/core/ops/activations.py) within the tolerance the
// catalog states for LeakyRelu; Float16 is computed in Float32 and rounded once; the layer's
// Double parameters are rounded to Float. NaN inputs give NaN.
// `input` and `output` may be the same buffer (in-place); otherwise they must not overlap.
// Neither pointer needs any alignment beyond the element type's.

/// x if x > 0 else alpha x.
@inline(__always)
@usableFromInline
func bridgecLeakyRelu(_ x: SIMD16<Float>, _ alpha: Float) -> SIMD16<Float> {
    var y = alpha * x
    y.replace(with: x, where: x .> 0)
    return y
}

/// LeakyRelu over `count` Float32 values from `input`, written to `output`.
public func leakyRelu(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int, alpha: Double) {
    bridgecMap(input, output, count: count) { bridgecLeakyRelu($0, Float(alpha)) }
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))

/// LeakyRelu over `count` Float16 values from `input`, written to `output` (computed in Float32).
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
public func leakyRelu(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int, alpha: Double) {
    bridgecMap(input, output, count: count) { bridgecLeakyRelu($0, Float(alpha)) }
}

#endif
