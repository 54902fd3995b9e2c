import Foundation
import XCTest

@testable import BridgecCoreMLLayers

final class LayerSupportTests: XCTestCase {
    func testMetalParameterBlocks() throws {
        // hardtanh.metal: struct HardTanhParams { half minValue; half maxValue; }: 4 bytes.
        XCTAssertEqual(BridgecElementwiseLayer.halves(0.0, 6.0), [0x00, 0x00, 0x00, 0x46])
        XCTAssertEqual(BridgecElementwiseLayer.halves(-.infinity, .infinity), [0x00, 0xFC, 0x00, 0x7C])
        // -0.1 rounded straight from Double (0xAE66), not through Float.
        XCTAssertEqual(BridgecElementwiseLayer.halves(-0.1), [0x66, 0xAE])
        // The others: struct <Name>Params { float ...; }, 4 bytes per parameter, no padding.
        XCTAssertEqual(BridgecElementwiseLayer.floats(0.25, -1.0), [0x00, 0x00, 0x80, 0x3E, 0x00, 0x00, 0x80, 0xBF])
        XCTAssertEqual(try HardTanh(parameters: ["min_value": 0.0, "max_value": 6.0]).metalParameters, [0x00, 0x00, 0x00, 0x46])
        XCTAssertEqual(try Silu(parameters: [:]).metalParameters, [])
    }

    func testHalfBitsKnownValues() {
        let known: [(Double, UInt16)] = [
            (0, 0x0000), (-0.0, 0x8000), (1, 0x3C00), (-2, 0xC000), (1.5, 0x3E00), (6, 0x4600),
            (65504, 0x7BFF), (65519.99, 0x7BFF), (65520, 0x7C00), (1e300, 0x7C00), (-1e300, 0xFC00),
            (.infinity, 0x7C00), (-.infinity, 0xFC00), (0x1p-14, 0x0400), (0x1p-24, 0x0001),
            (0x1p-25, 0x0000),  // tie -> even (zero)
            (0x1.8p-25, 0x0001), (0x1p-26, 0x0000),
            (0x1.ff8p-15, 0x03FF),  // largest subnormal
            (0x1.ffap-15, 0x03FF), (0x1.ffcp-15, 0x0400),  // tie rounds up (to even) into the normals
            (-0.1, 0xAE66), (0.3, 0x34CD),
        ]
        for (value, bits) in known {
            XCTAssertEqual(BridgecHalf.bits(from: value), bits, "\(value)")
        }
        let nan = BridgecHalf.bits(from: .nan)
        XCTAssertTrue(nan & 0x7C00 == 0x7C00 && nan & 0x03FF != 0)
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    func testHalfBitsMatchFloat16Conversion() throws {
        guard #available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *) else { throw XCTSkip("needs Float16") }
        var generator = SplitMix64(seed: 42)
        var checked = 0
        for _ in 0..<200_000 {
            // Random doubles over the whole half range and beyond, including near-ties.
            let exponent = Int(generator.next() % 50) - 30
            let mantissa = Double(generator.next() >> 11) / Double(1 << 53) + 1
            let value = (generator.next() & 1 == 0 ? 1 : -1) * mantissa * pow(2, Double(exponent))
            XCTAssertEqual(BridgecHalf.bits(from: value), Float16(value).bitPattern, "\(value)")
            checked += 1
        }
        // Exact ties between adjacent halves.
        for bits in stride(from: UInt16(0), to: 0x7C00, by: 7) {
            let a = Double(Float16(bitPattern: bits))
            let b = Double(Float16(bitPattern: bits + 1))
            let mid = (a + b) / 2
            XCTAssertEqual(BridgecHalf.bits(from: mid), Float16(mid).bitPattern, "tie \(mid)")
            XCTAssertEqual(BridgecHalf.bits(from: -mid), Float16(-mid).bitPattern, "tie \(-mid)")
        }
        XCTAssertEqual(checked, 200_000)
    }
    #endif
}

/// Small deterministic PRNG for tests (SplitMix64).
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
