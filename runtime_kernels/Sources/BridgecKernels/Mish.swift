// Mish kernel math (CPU): y = x * tanh(softplus(x)), elementwise.
//
// Part of the bridgec runtime kernels. bridgec copies this file next to the converted model;
// add it to your app target together with MishLayer.swift, VectorMath.swift and LayerSupport.swift.
//
// Matches the numpy reference (the `mish` declaration's numpy reference, bridgec/core/ops/activations.py) within the tolerance the
// catalog states for Mish; Float16 is computed in Float32 and rounded once. NaN inputs give NaN.
// `input` and `output` may be the same buffer (in-place); otherwise they must not overlap.
// Neither pointer needs any alignment beyond the element type's.

/// x tanh(log(1 + e^x)); -inf gives NaN (-inf * 0), as in torch.
@inline(__always)
@usableFromInline
func bridgecMish(_ x: SIMD16<Float>) -> SIMD16<Float> {
    // tanh(log(1 + e)) = n / (n + 2) with e = exp(x), n = e (e + 2): no cancellation, and 1 in
    // float for x > 20 (where n would overflow for larger x).
    let e = bridgecExp(bridgecMin(x, SIMD16(repeating: 20)))
    let n = e * (e + 2)
    var y = x * n / (n + 2)
    y.replace(with: x, where: x .> 20)
    return y
}

/// Mish over `count` Float32 values from `input`, written to `output`.
public func mish(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int) {
    bridgecMap(input, output, count: count) { bridgecMish($0) }
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))

/// Mish over `count` Float16 values from `input`, written to `output` (computed in Float32).
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
public func mish(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int) {
    bridgecMap(input, output, count: count) { bridgecMish($0) }
}

#endif
