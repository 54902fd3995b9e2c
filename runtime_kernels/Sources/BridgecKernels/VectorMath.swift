// Shared by the bridgec activation kernels (CPU): an elementwise SIMD driver over raw Float32 /
// Float16 buffers, and vectorised exp, expm1, log1p and erf on SIMD16<Float>.
//
// Part of the bridgec runtime kernels. bridgec copies this file next to the converted model
// whenever it ships any custom layer; add it to your app target.
// Every name here starts with "bridgec" because, in an app, these files are compiled into the
// app's own module.
//
// Accuracy (float32, vs. the exact value): exp and expm1 within 2 ulp; log1p on [0, 1] within
// 2 ulp; erf within 5e-7 absolute. Float16 data is computed in Float32 and rounded once.

// MARK: - Elementwise driver

/// Applies `body` to `count` Float32 values 16 at a time; the tail is padded with zeros, computed
/// as one more vector and stored partially. `input` and `output` may be the same buffer.
@inline(__always)
@usableFromInline
func bridgecMap(
    _ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int,
    _ body: (SIMD16<Float>) -> SIMD16<Float>
) {
    precondition(count >= 0, "negative count")
    let src = UnsafeRawPointer(input)
    let dst = UnsafeMutableRawPointer(output)
    let stride = MemoryLayout<Float>.stride
    var i = 0
    while i + 16 <= count {
        let v = src.loadUnaligned(fromByteOffset: i * stride, as: SIMD16<Float>.self)
        dst.storeBytes(of: body(v), toByteOffset: i * stride, as: SIMD16<Float>.self)
        i += 16
    }
    let rest = count - i
    if rest > 0 {
        var v = SIMD16<Float>(repeating: 0)
        for k in 0..<rest { v[k] = input[i + k] }
        let y = body(v)
        for k in 0..<rest { output[i + k] = y[k] }
    }
}

// Float16 is unavailable on macOS / Mac Catalyst on x86_64 (it exists on Apple arm64 and on Linux).
#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))

/// Float16 variant of `bridgecMap`: each vector is widened to Float32, computed, and rounded back.
@available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
@inline(__always)
@usableFromInline
func bridgecMap(
    _ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int,
    _ body: (SIMD16<Float>) -> SIMD16<Float>
) {
    precondition(count >= 0, "negative count")
    let src = UnsafeRawPointer(input)
    let dst = UnsafeMutableRawPointer(output)
    let stride = MemoryLayout<Float16>.stride
    var i = 0
    while i + 16 <= count {
        let v = src.loadUnaligned(fromByteOffset: i * stride, as: SIMD16<Float16>.self)
        let y = SIMD16<Float16>(body(SIMD16<Float>(v)))
        dst.storeBytes(of: y, toByteOffset: i * stride, as: SIMD16<Float16>.self)
        i += 16
    }
    let rest = count - i
    if rest > 0 {
        var v = SIMD16<Float>(repeating: 0)
        for k in 0..<rest { v[k] = Float(input[i + k]) }
        let y = body(v)
        for k in 0..<rest { output[i + k] = Float16(y[k]) }
    }
}

#endif

// MARK: - Helpers

/// `a` with every lane where `b` is smaller replaced by `b`; NaN lanes of `a` stay NaN
/// (unlike `pointwiseMin`, which drops NaN).
@inline(__always)
@usableFromInline
func bridgecMin(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    var r = a
    r.replace(with: b, where: b .< a)
    return r
}

/// `a` with every lane where `b` is larger replaced by `b`; NaN lanes of `a` stay NaN.
@inline(__always)
@usableFromInline
func bridgecMax(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
    var r = a
    r.replace(with: b, where: b .> a)
    return r
}

// MARK: - exp

/// Range reduction shared by exp and expm1: x = n ln2 + r with |r| <= ln2 / 2, and e^r - 1 by a
/// degree-7 polynomial (Cephes expf coefficients): returns (e^r - 1, 2^(n/2), 2^(n - n/2)), two
/// factors so that 2^n can be anywhere from the subnormals to overflow. x must be in [-104, 88.73].
@inline(__always)
@usableFromInline
func bridgecExpReduce(_ x: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>, SIMD16<Float>) {
    // n = round(x / ln2) with the 1.5 * 2^23 trick: the low bits of t hold n.
    let magic = SIMD16<Float>(repeating: 12_582_912)
    let t = x * 1.442_695_04 + magic
    let n = t - magic
    var r = x - n * 0.693_359_375
    r = r - n * -2.121_944_4e-4
    var p = SIMD16<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_12e-1
    let em1 = p * (r * r) + r
    let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000  // n as an integer
    let half = ni &>> 1
    let scale1 = unsafeBitCast((half &+ 127) &<< 23, to: SIMD16<Float>.self)
    let scale2 = unsafeBitCast((ni &- half &+ 127) &<< 23, to: SIMD16<Float>.self)
    return (em1, scale1, scale2)
}

/// e^x: +inf above 88.72 (overflow), 0 below -104, subnormal results in between; NaN stays NaN.
@inline(__always)
@usableFromInline
func bridgecExp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let xc = bridgecMax(bridgecMin(x, SIMD16(repeating: 88.72284)), SIMD16(repeating: -104))
    let (em1, scale1, scale2) = bridgecExpReduce(xc)
    var y = (em1 + 1) * scale1 * scale2
    y.replace(with: .infinity, where: x .> 88.72284)
    return y
}

/// e^x - 1 without cancellation near 0: 2^n (e^r - 1) + (2^n - 1), exact e^r - 1 for n = 0.
@inline(__always)
@usableFromInline
func bridgecExpm1(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let xc = bridgecMax(bridgecMin(x, SIMD16(repeating: 88.72284)), SIMD16(repeating: -104))
    let (em1, scale1, scale2) = bridgecExpReduce(xc)
    var y = em1 * scale1 * scale2 + (scale1 * scale2 - 1)
    y.replace(with: .infinity, where: x .> 88.72284)
    return y
}

/// log(1 + e) for e in [0, 1] (what a stable softplus needs): 2 atanh(s) with s = e / (2 + e).
@inline(__always)
@usableFromInline
func bridgecLog1p01(_ e: SIMD16<Float>) -> SIMD16<Float> {
    let s = e / (2 + e)
    let z = s * s
    var p = SIMD16<Float>(repeating: 1.0 / 15)
    p = p * z + 1.0 / 13
    p = p * z + 1.0 / 11
    p = p * z + 1.0 / 9
    p = p * z + 1.0 / 7
    p = p * z + 1.0 / 5
    p = p * z + 1.0 / 3
    p = p * z + 1
    return 2 * s * p
}

/// erf(x): odd rational approximation x P(x^2) / Q(x^2) on [-4, 4] (erf is +-1 in float beyond);
/// the same coefficients as the Metal kernels. NaN stays NaN.
@inline(__always)
@usableFromInline
func bridgecErfApprox(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let xc = bridgecMax(bridgecMin(x, SIMD16(repeating: 4)), SIMD16(repeating: -4))
    let z = xc * xc
    var p = SIMD16<Float>(repeating: -2.726_142_258_013_06e-10)
    p = p * z + 2.770_681_424_959_02e-08
    p = p * z + -2.101_024_020_825_08e-06
    p = p * z + -5.692_506_394_623_46e-05
    p = p * z + -7.349_906_303_268_55e-04
    p = p * z + -2.954_599_808_540_25e-03
    p = p * z + -1.609_603_332_624_15e-02
    var q = SIMD16<Float>(repeating: -1.456_607_184_649_96e-05)
    q = q * z + -2.133_740_552_789_05e-04
    q = q * z + -1.682_826_974_382_03e-03
    q = q * z + -7.373_329_167_204_68e-03
    q = q * z + -1.426_473_905_141_89e-02
    return xc * p / q
}
