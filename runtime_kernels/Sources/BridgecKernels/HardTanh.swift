// HardTanh kernel math (CPU): y = min(max(x, minValue), maxValue), elementwise.
//
// Part of the bridgec runtime kernels. bridgec copies this file next to the converted model;
// add it to your app target together with HardTanhLayer.swift and LayerSupport.swift.
//
// Semantics match the numpy reference (runtime_kernels/reference.py `hardtanh`), which computes
// np.minimum(np.maximum(x, lo), hi) in the input's dtype:
//   - an infinite bound leaves that side open;
//   - a NaN input element gives NaN (it is passed through unchanged);
//   - a NaN bound gives NaN for every element;
//   - if minValue > maxValue every non-NaN element becomes maxValue.
// The sign of a zero result is not specified (numpy itself is not consistent about it).
//
// `input` and `output` may be the same buffer (in-place); otherwise they must not overlap.
// Neither pointer needs any alignment beyond the element type's.

/// Clamps `count` Float32 values from `input` into [`minValue`, `maxValue`] and writes them to `output`.
public func hardtanh(
    _ input: UnsafePointer<Float>,
    _ output: UnsafeMutablePointer<Float>,
    count: Int,
    minValue: Float,
    maxValue: Float
) {
    precondition(count >= 0, "hardtanh: negative count")
    if minValue.isNaN || maxValue.isNaN {
        output.update(repeating: .nan, count: count)
        return
    }
    let src = UnsafeRawPointer(input)
    let dst = UnsafeMutableRawPointer(output)
    let stride = MemoryLayout<Float>.stride
    var i = 0

    let lo16 = SIMD16<Float>(repeating: minValue)
    let hi16 = SIMD16<Float>(repeating: maxValue)
    while i + 16 <= count {
        var v = src.loadUnaligned(fromByteOffset: i * stride, as: SIMD16<Float>.self)
        // Compare-and-replace rather than Float.maximum/minimum: those drop a NaN operand,
        // numpy (and this kernel) propagate it. A NaN lane compares false and is kept.
        v.replace(with: lo16, where: v .< lo16)
        v.replace(with: hi16, where: v .> hi16)
        dst.storeBytes(of: v, toByteOffset: i * stride, as: SIMD16<Float>.self)
        i += 16
    }
    if i + 8 <= count {
        let lo8 = SIMD8<Float>(repeating: minValue)
        let hi8 = SIMD8<Float>(repeating: maxValue)
        var v = src.loadUnaligned(fromByteOffset: i * stride, as: SIMD8<Float>.self)
        v.replace(with: lo8, where: v .< lo8)
        v.replace(with: hi8, where: v .> hi8)
        dst.storeBytes(of: v, toByteOffset: i * stride, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count {
        var x = input[i]
        if x < minValue { x = minValue }
        if x > maxValue { x = maxValue }
        output[i] = x
        i += 1
    }
}

// Float16 is unavailable on macOS / Mac Catalyst on x86_64 (it exists on Apple arm64 and on Linux).
#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))

/// Clamps `count` Float16 values from `input` into [`minValue`, `maxValue`] and writes them to `output`.
///
/// Pass the bounds already rounded to Float16 (`Float16(someDouble)`), as numpy does for a
/// float16 input.
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
public func hardtanh(
    _ input: UnsafePointer<Float16>,
    _ output: UnsafeMutablePointer<Float16>,
    count: Int,
    minValue: Float16,
    maxValue: Float16
) {
    precondition(count >= 0, "hardtanh: negative count")
    if minValue.isNaN || maxValue.isNaN {
        output.update(repeating: .nan, count: count)
        return
    }
    let src = UnsafeRawPointer(input)
    let dst = UnsafeMutableRawPointer(output)
    let stride = MemoryLayout<Float16>.stride
    var i = 0

    let lo16 = SIMD16<Float16>(repeating: minValue)
    let hi16 = SIMD16<Float16>(repeating: maxValue)
    while i + 16 <= count {
        var v = src.loadUnaligned(fromByteOffset: i * stride, as: SIMD16<Float16>.self)
        v.replace(with: lo16, where: v .< lo16)
        v.replace(with: hi16, where: v .> hi16)
        dst.storeBytes(of: v, toByteOffset: i * stride, as: SIMD16<Float16>.self)
        i += 16
    }
    if i + 8 <= count {
        let lo8 = SIMD8<Float16>(repeating: minValue)
        let hi8 = SIMD8<Float16>(repeating: maxValue)
        var v = src.loadUnaligned(fromByteOffset: i * stride, as: SIMD8<Float16>.self)
        v.replace(with: lo8, where: v .< lo8)
        v.replace(with: hi8, where: v .> hi8)
        dst.storeBytes(of: v, toByteOffset: i * stride, as: SIMD8<Float16>.self)
        i += 8
    }
    while i < count {
        var x = input[i]
        if x < minValue { x = minValue }
        if x > maxValue { x = maxValue }
        output[i] = x
        i += 1
    }
}

#endif
