// Softplus kernel math (CPU): y = x if beta * x > threshold else log(1 + exp(beta * x)) / beta, elementwise.
//
// Part of the bridgec runtime kernels. bridgec copies this file next to the converted model;
// add it to your app target together with SoftplusLayer.swift, VectorMath.swift and LayerSupport.swift.
//
// Matches the numpy reference (the `softplus` declaration's numpy reference, bridgec/core/ops/activations.py) within the tolerance the
// catalog states for Softplus; Float16 is computed in Float32 and rounded once; the layer's
// Double parameters are rounded to Float. NaN inputs give NaN.
// `input` and `output` may be the same buffer (in-place); otherwise they must not overlap.
// Neither pointer needs any alignment beyond the element type's.

/// x if beta x > threshold else log(1 + e^(beta x)) / beta.
@inline(__always)
@usableFromInline
func bridgecSoftplus(_ x: SIMD16<Float>, _ beta: Float, _ threshold: Float) -> SIMD16<Float> {
    // log(1 + e^b) = max(b, 0) + log(1 + e^-|b|): neither overflows nor cancels.
    let b = beta * x
    let positive = bridgecMax(b, SIMD16<Float>(repeating: 0))
    let minusAbs = bridgecMin(b, -b)
    var y = (positive + bridgecLog1p01(bridgecExp(minusAbs))) / beta
    y.replace(with: x, where: b .> threshold)
    return y
}

/// Softplus over `count` Float32 values from `input`, written to `output`.
public func softplus(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int, beta: Double, threshold: Double) {
    bridgecMap(input, output, count: count) { bridgecSoftplus($0, Float(beta), Float(threshold)) }
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))

/// Softplus over `count` Float16 values from `input`, written to `output` (computed in Float32).
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
public func softplus(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int, beta: Double, threshold: Double) {
    bridgecMap(input, output, count: count) { bridgecSoftplus($0, Float(beta), Float(threshold)) }
}

#endif
