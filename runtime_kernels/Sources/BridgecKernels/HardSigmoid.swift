// HardSigmoid kernel math (CPU): y = max(0, min(1, alpha * x + beta)), elementwise.
//
// Part of the bridgec runtime kernels. bridgec copies this file next to the converted model;
// add it to your app target together with HardSigmoidLayer.swift, VectorMath.swift and LayerSupport.swift.
//
// Matches the numpy reference (the `hardsigmoid` declaration's numpy reference, bridgec/core/ops/activations.py) within the tolerance the
// catalog states for HardSigmoid; Float16 is computed in Float32 and rounded once; the layer's
// Double parameters are rounded to Float. NaN inputs give NaN.
// `input` and `output` may be the same buffer (in-place); otherwise they must not overlap.
// Neither pointer needs any alignment beyond the element type's.

/// max(0, min(1, alpha x + beta)), NaN propagating.
@inline(__always)
@usableFromInline
func bridgecHardSigmoid(_ x: SIMD16<Float>, _ alpha: Float, _ beta: Float) -> SIMD16<Float> {
    bridgecMax(bridgecMin(alpha * x + beta, SIMD16(repeating: 1)), SIMD16(repeating: 0))
}

/// HardSigmoid over `count` Float32 values from `input`, written to `output`.
public func hardsigmoid(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int, alpha: Double, beta: Double) {
    bridgecMap(input, output, count: count) { bridgecHardSigmoid($0, Float(alpha), Float(beta)) }
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))

/// HardSigmoid over `count` Float16 values from `input`, written to `output` (computed in Float32).
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
public func hardsigmoid(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int, alpha: Double, beta: Double) {
    bridgecMap(input, output, count: count) { bridgecHardSigmoid($0, Float(alpha), Float(beta)) }
}

#endif
