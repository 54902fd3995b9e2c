// HardSwish kernel math (CPU): y = x * relu6(x + 3) / 6, elementwise.
//
// Part of the bridgec runtime kernels. bridgec copies this file next to the converted model;
// add it to your app target together with HardSwishLayer.swift, VectorMath.swift and LayerSupport.swift.
//
// Matches the numpy reference (the `hardswish` declaration's numpy reference, bridgec/core/ops/activations.py) within the tolerance the
// catalog states for HardSwish; Float16 is computed in Float32 and rounded once. NaN inputs give NaN.
// `input` and `output` may be the same buffer (in-place); otherwise they must not overlap.
// Neither pointer needs any alignment beyond the element type's.

/// x * relu6(x + 3) / 6; -inf gives NaN (-inf * 0), as in torch.
@inline(__always)
@usableFromInline
func bridgecHardSwish(_ x: SIMD16<Float>) -> SIMD16<Float> {
    x * bridgecMax(bridgecMin(x + 3, SIMD16(repeating: 6)), SIMD16(repeating: 0)) / 6
}

/// HardSwish over `count` Float32 values from `input`, written to `output`.
public func hardswish(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int) {
    bridgecMap(input, output, count: count) { bridgecHardSwish($0) }
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))

/// HardSwish over `count` Float16 values from `input`, written to `output` (computed in Float32).
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
public func hardswish(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int) {
    bridgecMap(input, output, count: count) { bridgecHardSwish($0) }
}

#endif
