import Foundation
import XCTest

@testable import BridgecCoreMLLayers

#if canImport(CoreML)
import CoreML
#else
import CoreMLStandIn
#endif

/// The HardTanh adapter's CPU surface: parameters, weights, shapes and `evaluate` on MLMultiArrays
/// (the stand-in ones on Linux, the real ones on Apple platforms).
final class HardTanhLayerTests: XCTestCase {
    // MARK: init(parameters:)

    func testReadsParametersOfEveryNumericKind() throws {
        let cases: [([String: Any], Double, Double)] = [
            (["min_value": NSNumber(value: 0.0), "max_value": NSNumber(value: 6.0)], 0, 6),
            (["min_value": -2.0, "max_value": 2.0], -2, 2),
            (["min_value": Float(-1.5), "max_value": Float(0.25)], -1.5, 0.25),
            (["min_value": -3, "max_value": 3], -3, 3),
            (["min_value": 0.0, "max_value": Double.infinity], 0, .infinity),
            (["min_value": NSNumber(value: -Double.infinity), "max_value": NSNumber(value: 1.5)], -.infinity, 1.5),
        ]
        for (parameters, lo, hi) in cases {
            let layer = try HardTanh(parameters: parameters)
            XCTAssertEqual(layer.minValue, lo)
            XCTAssertEqual(layer.maxValue, hi)
        }
    }

    func testMissingParameterThrowsDescriptiveError() {
        XCTAssertThrowsError(try HardTanh(parameters: ["max_value": 6.0])) { error in
            XCTAssertEqual(error as? BridgecLayerError, .missingParameter(layer: "HardTanh", name: "min_value"))
            XCTAssertTrue("\(error)".contains("min_value"), "\(error)")
            XCTAssertTrue(error.localizedDescription.contains("HardTanh"), error.localizedDescription)
        }
        XCTAssertThrowsError(try HardTanh(parameters: ["min_value": 0.0])) { error in
            XCTAssertEqual(error as? BridgecLayerError, .missingParameter(layer: "HardTanh", name: "max_value"))
        }
        XCTAssertThrowsError(try HardTanh(parameters: [:]))
    }

    func testNonNumericParameterThrows() {
        XCTAssertThrowsError(try HardTanh(parameters: ["min_value": "zero", "max_value": 6.0])) { error in
            guard case let .invalidParameter(layer, name, _)? = error as? BridgecLayerError else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(layer, "HardTanh")
            XCTAssertEqual(name, "min_value")
        }
    }

    // MARK: setWeightData / outputShapes

    func testTakesNoWeights() throws {
        let layer = try HardTanh(parameters: ["min_value": 0.0, "max_value": 6.0])
        XCTAssertNoThrow(try layer.setWeightData([]))
        XCTAssertNoThrow(try layer.setWeightData([Data()]))
        XCTAssertThrowsError(try layer.setWeightData([Data([1, 2, 3, 4])])) { error in
            XCTAssertEqual(error as? BridgecLayerError, .unexpectedWeights(layer: "HardTanh", count: 1))
        }
    }

    func testOutputShapesAreInputShapes() throws {
        let layer = try HardTanh(parameters: ["min_value": 0.0, "max_value": 6.0])
        let shapes: [[NSNumber]] = [[1, 1, 3, 4, 5], [2, 8, 1, 1, 7]]
        XCTAssertEqual(try layer.outputShapes(forInputShapes: shapes), shapes)
        XCTAssertEqual(try layer.outputShapes(forInputShapes: []), [])
    }

    // MARK: evaluate — float32

    func testEvaluateFloat32Rank5() throws {
        let shape: [NSNumber] = [1, 2, 3, 4, 5]  // Core ML's (Seq, Batch, C, H, W)
        let values = Self.sampleValues(count: 120)
        for (lo, hi) in [(0.0, 6.0), (-2.0, 2.0), (0.0, Double.infinity), (-Double.infinity, 1.5), (-0.1, 0.3)] {
            let layer = try HardTanh(parameters: ["min_value": lo, "max_value": hi])
            let input = try Self.array(shape, .float32, values.map { Float($0) })
            let output = try MLMultiArray(shape: shape, dataType: .float32)
            try layer.evaluate(inputs: [input], outputs: [output])
            let expected = values.map { Self.reference(Float($0), Float(lo), Float(hi)) }
            Self.assertSame(Self.floats(output), expected, "(\(lo), \(hi))")
        }
    }

    func testEvaluateSeveralPairsAndInPlace() throws {
        let layer = try HardTanh(parameters: ["min_value": -1.0, "max_value": 1.0])
        let a = try Self.array([1, 1, 1, 1, 33], .float32, Self.sampleValues(count: 33).map { Float($0) })
        let b = try Self.array([1, 1, 2, 3, 3], .float32, Self.sampleValues(count: 18).map { Float($0) })
        let outA = try MLMultiArray(shape: a.shape, dataType: .float32)
        let expectedA = Self.floats(a).map { Self.reference($0, -1, 1) }
        let expectedB = Self.floats(b).map { Self.reference($0, -1, 1) }
        try layer.evaluate(inputs: [a, b], outputs: [outA, b])  // second pair in place
        Self.assertSame(Self.floats(outA), expectedA, "a")
        Self.assertSame(Self.floats(b), expectedB, "b in place")
    }

    func testEvaluateNonContiguousArrays() throws {
        // A (2, 3, 4) view with padded rows (row stride 6) and a transposed-last-axis output.
        let shape: [NSNumber] = [2, 3, 4]
        let inStorage = UnsafeMutablePointer<Float>.allocate(capacity: 2 * 3 * 6)
        inStorage.initialize(repeating: 1000, count: 2 * 3 * 6)
        let outStorage = UnsafeMutablePointer<Float>.allocate(capacity: 2 * 3 * 4 * 2)
        outStorage.initialize(repeating: -7, count: 2 * 3 * 4 * 2)
        let values = Self.sampleValues(count: 24).map { Float($0) }
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { inStorage[i * 18 + j * 6 + k] = values[i * 12 + j * 4 + k] } } }
        let input = try MLMultiArray(
            dataPointer: inStorage, shape: shape, dataType: .float32, strides: [18, 6, 1],
            deallocator: { $0.deallocate() })
        let output = try MLMultiArray(
            dataPointer: outStorage, shape: shape, dataType: .float32, strides: [24, 2, 6],
            deallocator: { $0.deallocate() })
        let layer = try HardTanh(parameters: ["min_value": 0.0, "max_value": 6.0])
        try layer.evaluate(inputs: [input], outputs: [output])
        for i in 0..<2 {
            for j in 0..<3 {
                for k in 0..<4 {
                    let got = outStorage[i * 24 + j * 2 + k * 6]
                    let want = Self.reference(values[i * 12 + j * 4 + k], 0, 6)
                    XCTAssertTrue((got.isNaN && want.isNaN) || got == want, "[\(i),\(j),\(k)] \(got) != \(want)")
                }
            }
        }
        // Padding of the input is untouched and no write lands outside the output's elements.
        XCTAssertEqual(inStorage[4], 1000)
        XCTAssertEqual(outStorage[1], -7)
        XCTAssertEqual(outStorage[24 + 1], -7)
    }

    // MARK: evaluate — float16

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    func testEvaluateFloat16() throws {
        guard #available(macOS 12.0, iOS 16.0, tvOS 16.0, watchOS 9.0, *) else {
            throw XCTSkip("MLMultiArray float16 needs macOS 12 / iOS 16")
        }
        let shape: [NSNumber] = [1, 1, 3, 5, 7]
        let values = Self.sampleValues(count: 105)
        for (lo, hi) in [(0.0, 6.0), (-0.1, 0.3), (-Double.infinity, 1.5)] {
            let layer = try HardTanh(parameters: ["min_value": lo, "max_value": hi])
            let input = try Self.array(shape, .float16, values.map { Float16($0) })
            let output = try MLMultiArray(shape: shape, dataType: .float16)
            try layer.evaluate(inputs: [input], outputs: [output])
            let got = Array(
                UnsafeBufferPointer(start: output.dataPointer.assumingMemoryBound(to: Float16.self), count: 105))
            // Bounds rounded straight from Double to Float16, as numpy does.
            let expected = values.map { Self.reference(Float16($0), Float16(lo), Float16(hi)) }
            Self.assertSame(got, expected, "float16 (\(lo), \(hi))")
        }
    }
    #endif

    // MARK: evaluate — errors

    func testUnsupportedDataTypeThrowsAndWritesNothing() throws {
        let layer = try HardTanh(parameters: ["min_value": 0.0, "max_value": 6.0])
        for dataType in [MLMultiArrayDataType.int32, .double] {
            let input = try MLMultiArray(shape: [4], dataType: dataType)
            let output = try MLMultiArray(shape: [4], dataType: dataType)
            XCTAssertThrowsError(try layer.evaluate(inputs: [input], outputs: [output])) { error in
                guard case .unsupportedDataType(layer: "HardTanh", _)? = error as? BridgecLayerError else {
                    return XCTFail("unexpected error \(error)")
                }
            }
        }
        // A supported pair before an unsupported one must not be written either.
        let good = try Self.array([3], .float32, [10, 20, 30] as [Float])
        let goodOut = try Self.array([3], .float32, [-1, -1, -1] as [Float])
        let bad = try MLMultiArray(shape: [3], dataType: .int32)
        XCTAssertThrowsError(try layer.evaluate(inputs: [good, bad], outputs: [goodOut, bad]))
        XCTAssertEqual(Self.floats(goodOut), [-1, -1, -1])
    }

    func testMismatchedInputsAndOutputsThrow() throws {
        let layer = try HardTanh(parameters: ["min_value": 0.0, "max_value": 6.0])
        let a = try MLMultiArray(shape: [2, 3], dataType: .float32)
        let b = try MLMultiArray(shape: [3, 2], dataType: .float32)
        let c = try MLMultiArray(shape: [2, 3], dataType: .double)
        XCTAssertThrowsError(try layer.evaluate(inputs: [a], outputs: []))
        XCTAssertThrowsError(try layer.evaluate(inputs: [a], outputs: [b])) { error in
            guard case .mismatchedArrays(layer: "HardTanh", _)? = error as? BridgecLayerError else {
                return XCTFail("unexpected error \(error)")
            }
        }
        XCTAssertThrowsError(try layer.evaluate(inputs: [a], outputs: [c]))
        XCTAssertNoThrow(try layer.evaluate(inputs: [], outputs: []))
    }

    // MARK: helpers

    /// Values on both sides of every bound used here, plus NaN / infinities / signed zeros.
    static func sampleValues(count: Int) -> [Double] {
        let specials: [Double] = [.nan, .infinity, -.infinity, -0.0, 0.0, 6, -2, 2, 1.5, -0.1, 0.3]
        return (0..<count).map { i in
            i % 5 == 0 ? specials[(i / 5) % specials.count] : Double((i * 7919) % 200 - 100) / 8
        }
    }

    /// Scalar numpy semantics: np.minimum(np.maximum(x, lo), hi), NaN propagating.
    static func reference<T: FloatingPoint>(_ x: T, _ lo: T, _ hi: T) -> T {
        if x.isNaN || lo.isNaN || hi.isNaN { return .nan }
        let y = x < lo ? lo : x
        return y > hi ? hi : y
    }

    static func array<T: BinaryFloatingPoint>(
        _ shape: [NSNumber], _ dataType: MLMultiArrayDataType, _ values: [T]
    ) throws -> MLMultiArray {
        let array = try MLMultiArray(shape: shape, dataType: dataType)
        precondition(array.count == values.count)
        precondition(
            (dataType == .float32 && T.self == Float.self) || (dataType != .float32 && MemoryLayout<T>.stride == 2),
            "element type does not match the array's data type")
        values.withUnsafeBytes { array.dataPointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return array
    }

    static func floats(_ array: MLMultiArray) -> [Float] {
        Array(UnsafeBufferPointer(start: array.dataPointer.assumingMemoryBound(to: Float.self), count: array.count))
    }

    static func assertSame<T: FloatingPoint>(
        _ actual: [T], _ expected: [T], _ name: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(actual.count, expected.count, name, file: file, line: line)
        for (i, (a, e)) in zip(actual, expected).enumerated() where !((a.isNaN && e.isNaN) || a == e) {
            XCTFail("\(name)[\(i)]: got \(a), expected \(e)", file: file, line: line)
            return
        }
    }
}
