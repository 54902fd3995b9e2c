// The activation layers' GPU encoding against the recording fakes of HardTanhEncodeTests.swift:
// kernel function looked up by name, one encoder, parameter block, dispatch sizes, no commit.
// Only where the stand-in replaces Metal (Linux). The kernels themselves run in
// tests/runtime_kernels/test_metal_linux.py (Metal compiled as C++).

#if canImport(CoreMLStandIn)

import CoreMLStandIn
import Foundation
import XCTest

@testable import BridgecCoreMLLayers

final class ActivationEncodeTests: XCTestCase {
    /// (layer, parameters, Metal function, expected setBytes block or nil)
    nonisolated(unsafe) static let cases: [(String, [String: Any], String, [UInt8]?)] = [
        ("HardSwish", [:], "hardswish", nil),
        ("HardSigmoid", ["alpha": 0.25, "beta": 0.5], "hardsigmoid", [0x00, 0x00, 0x80, 0x3E, 0x00, 0x00, 0x00, 0x3F]),
        ("Gelu", ["approximate": "none"], "gelu", nil),
        ("Gelu", ["approximate": "tanh"], "gelu_tanh", nil),
        ("Silu", [:], "silu", nil),
        ("Mish", [:], "mish", nil),
        ("Elu", ["alpha": 1.0], "elu", [0x00, 0x00, 0x80, 0x3F]),
        ("Selu", ["alpha": 2.0, "gamma": -1.0], "selu", [0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x80, 0xBF]),
        ("Celu", ["alpha": 0.5], "celu", [0x00, 0x00, 0x00, 0x3F]),
        ("Softplus", ["beta": 1.0, "threshold": 20.0], "softplus", [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0xA0, 0x41]),
        ("LeakyRelu", ["alpha": 0.125], "leakyrelu", [0x00, 0x00, 0x00, 0x3E]),
        ("Erf", [:], "erf", nil),
    ]

    func testEveryLayerEncodesItsKernel() throws {
        XCTAssertEqual(Set(Self.cases.map(\.0)), Set(activationFactories.keys))
        for (name, parameters, function, block) in Self.cases {
            let layer = try activationFactories[name]!(parameters)
            let buffer = FakeCommandBuffer(device: FakeDevice(functions: [function]))
            let inputs = [FakeTexture(width: 13, height: 5, arrayLength: 3), FakeTexture(width: 1, height: 1, arrayLength: 2)]
            let outputs = [FakeTexture(width: 13, height: 5, arrayLength: 3), FakeTexture(width: 1, height: 1, arrayLength: 2)]
            try layer.encode(commandBuffer: buffer, inputs: inputs, outputs: outputs)
            XCTAssertEqual(buffer.encoders.count, 1, name)
            XCTAssertEqual(buffer.commits, 0, name)
            let calls = buffer.encoders[0].calls
            XCTAssertEqual(calls.first, "pipeline hardtanh", name)  // (the fake encoder labels every pipeline so)
            XCTAssertEqual(calls.last, "end", name)
            let bytes = calls.filter { $0.hasPrefix("bytes") }
            if let block {
                let hex = block.map { String(format: "%02X", $0) }.joined(separator: " ")
                XCTAssertEqual(bytes, ["bytes 0 [\(hex)]"], name)
            } else {
                XCTAssertEqual(bytes, [], name)
            }
            XCTAssertEqual(buffer.encoders[0].dispatches, [
                .init(groups: MTLSize(width: 1, height: 1, depth: 3), threads: MTLSize(width: 32, height: 5, depth: 1)),
                .init(groups: MTLSize(width: 1, height: 1, depth: 2), threads: MTLSize(width: 32, height: 1, depth: 1)),
            ], name)
        }
    }

    func testMissingFunctionThrowsNamingItBeforeCreatingAnEncoder() throws {
        for (name, parameters, function, _) in Self.cases {
            let layer = try activationFactories[name]!(parameters)
            let buffer = FakeCommandBuffer(device: FakeDevice(functions: ["hardtanh"]))
            let t = [FakeTexture(width: 2, height: 2, arrayLength: 1)]
            XCTAssertThrowsError(try layer.encode(commandBuffer: buffer, inputs: t, outputs: t)) { error in
                guard case let .metal(layer, detail)? = error as? BridgecLayerError else {
                    return XCTFail("\(name): unexpected error \(error)")
                }
                XCTAssertEqual(layer, name)
                XCTAssertTrue(detail.contains("'\(function)'"), detail)
            }
            XCTAssertEqual(buffer.encoders.count, 0, name)
        }
    }

    func testMismatchedTexturesThrowBeforeCreatingAnEncoder() throws {
        let layer = try Elu(parameters: ["alpha": 1.0])
        let buffer = FakeCommandBuffer(device: FakeDevice(functions: ["elu"]))
        let a = FakeTexture(width: 2, height: 2, arrayLength: 1)
        let b = FakeTexture(width: 3, height: 2, arrayLength: 1)
        XCTAssertThrowsError(try layer.encode(commandBuffer: buffer, inputs: [a], outputs: [b]))
        XCTAssertThrowsError(try layer.encode(commandBuffer: buffer, inputs: [a], outputs: []))
        XCTAssertEqual(buffer.encoders.count, 0)
    }

    func testPipelineIsCachedPerDeviceAndFunction() throws {
        let device = FakeDevice(functions: ["gelu", "gelu_tanh"])
        let exact = try Gelu(parameters: ["approximate": "none"])
        let tanh = try Gelu(parameters: ["approximate": "tanh"])
        let t = [FakeTexture(width: 4, height: 4, arrayLength: 1)]
        for _ in 0..<3 {
            try exact.encode(commandBuffer: FakeCommandBuffer(device: device), inputs: t, outputs: t)
            try tanh.encode(commandBuffer: FakeCommandBuffer(device: device), inputs: t, outputs: t)
        }
        XCTAssertEqual(device.pipelinesBuilt, 2)
    }
}

#endif
