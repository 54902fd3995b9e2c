// HardTanh kernel math (CPU): y = min(max(x, minValue), maxValue), elementwise.
//
// Part of the bridgec runtime kernels. bridgec copies this file next to the converted model;
// add it to your app target together with HardTanhLayer.swift, VectorMath.swift and LayerSupport.swift.
//
// Bit-exact with the numpy reference (the `hardtanh` declaration's numpy reference, bridgec/core/ops/activations.py), which computes
// np.minimum(np.maximum(x, lo), hi) in the input's dtype with the bounds rounded to that dtype:
//   - an infinite bound leaves that side open;
//   - a NaN input element gives NaN (it is passed through unchanged);
//   - a NaN bound gives NaN for every element;
//   - if minValue > maxValue every non-NaN element becomes maxValue.
// The sign of a zero result is not specified (numpy itself is not consistent about it).
// Float16 runs through the shared Float32 driver: widening is exact and every result is x or a
// bound rounded to Float16, so rounding back is exact too (a signalling NaN comes back quiet).
//
// `input` and `output` may be the same buffer (in-place); otherwise they must not overlap.
// Neither pointer needs any alignment beyond the element type's.

/// x clamped to [lo, hi] by compare-and-replace rather than Float.maximum/minimum: those drop a
/// NaN operand, numpy (and this kernel) propagate it. A NaN lane compares false and is kept.
@inline(__always)
@usableFromInline
func bridgecHardTanh(_ x: SIMD16<Float>, _ lo: Float, _ hi: Float) -> SIMD16<Float> {
    bridgecMin(bridgecMax(x, SIMD16(repeating: lo)), SIMD16(repeating: hi))
}

/// Clamps `count` Float32 values from `input` into [`minValue`, `maxValue`] (rounded to Float, as
/// numpy rounds them for a float32 input) and writes them to `output`.
public func hardtanh(
    _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int, minValue: Double, maxValue: Double
) {
    precondition(count >= 0, "hardtanh: negative count")
    if minValue.isNaN || maxValue.isNaN {
        output.update(repeating: .nan, count: count)
        return
    }
    let lo = Float(minValue)
    let hi = Float(maxValue)
    bridgecMap(input, output, count: count) { bridgecHardTanh($0, lo, hi) }
}

// Float16 is unavailable on macOS / Mac Catalyst on x86_64 (it exists on Apple arm64 and on Linux).
#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))

/// Clamps `count` Float16 values from `input` into [`minValue`, `maxValue`] and writes them to
/// `output`. The bounds are rounded straight from Double to Float16, as numpy rounds them for a
/// float16 input (through Float they could round twice).
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
public func hardtanh(
    _ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int,
    minValue: Double, maxValue: Double
) {
    precondition(count >= 0, "hardtanh: negative count")
    if minValue.isNaN || maxValue.isNaN {
        output.update(repeating: .nan, count: count)
        return
    }
    let lo = Float(Float16(minValue))
    let hi = Float(Float16(maxValue))
    bridgecMap(input, output, count: count) { bridgecHardTanh($0, lo, hi) }
}

#endif
