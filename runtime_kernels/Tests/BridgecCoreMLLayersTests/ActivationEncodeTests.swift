// Every layer's GPU encoding against the recording fakes of MetalFakes.swift: kernel function looked
// up by name, one encoder for all pairs, parameter block, dispatch sizes, no commit. Only where the
// stand-in replaces Metal (Linux). The kernels themselves run in tests/runtime_kernels/test_metal_linux.py
// (Metal compiled as C++).

#if canImport(CoreMLStandIn)

import CoreMLStandIn
import Foundation
import XCTest

@testable import BridgecCoreMLLayers

final class ActivationEncodeTests: XCTestCase {
    /// (layer, parameters, Metal function, expected setBytes block or nil)
    nonisolated(unsafe) static let cases: [(String, [String: Any], String, [UInt8]?)] = [
        // Two binary16 bounds: 0.0 and 6.0; -inf and 1.5 (an open side is half infinity).
        ("HardTanh", ["min_value": 0.0, "max_value": 6.0], "hardtanh", [0x00, 0x00, 0x00, 0x46]),
        ("HardTanh", ["min_value": -Double.infinity, "max_value": 1.5], "hardtanh", [0x00, 0xFC, 0x00, 0x3E]),
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
        XCTAssertEqual(Set(Self.cases.map(\.0)), Set(layerClasses.keys))
        for (name, parameters, function, block) in Self.cases {
            let layer = try layerClasses[name]!.init(parameters: parameters)
            let buffer = FakeCommandBuffer(device: FakeDevice(functions: [function]))
            let inputs = [FakeTexture(width: 13, height: 5, arrayLength: 3), FakeTexture(width: 1, height: 1, arrayLength: 2)]
            let outputs = [FakeTexture(width: 13, height: 5, arrayLength: 3), FakeTexture(width: 1, height: 1, arrayLength: 2)]
            try layer.encode(commandBuffer: buffer, inputs: inputs, outputs: outputs)
            XCTAssertEqual(buffer.encoders.count, 1, name)
            XCTAssertEqual(buffer.commits, 0, name)
            let calls = buffer.encoders[0].calls
            XCTAssertEqual(calls.first, "pipeline \(function)", name)
            XCTAssertEqual(calls.last, "end", name)
            XCTAssertEqual(calls.filter { $0 == "end" || $0.hasPrefix("pipeline") }.count, 2, name)
            let bytes = calls.filter { $0.hasPrefix("bytes") }
            if let block {
                let hex = block.map { String(format: "%02X", $0) }.joined(separator: " ")
                XCTAssertEqual(bytes, ["bytes 0 [\(hex)]"], name)
            } else {
                XCTAssertEqual(bytes, [], name)
            }
            XCTAssertTrue(calls.contains("texture 0 \(ObjectIdentifier(inputs[0]).hashValue)"), name)
            XCTAssertTrue(calls.contains("texture 1 \(ObjectIdentifier(outputs[1]).hashValue)"), name)
            // Pair 0: threadExecutionWidth 32, 1024 / 32 = 32 rows but only 5 are needed.
            XCTAssertEqual(buffer.encoders[0].dispatches, [
                .init(groups: MTLSize(width: 1, height: 1, depth: 3), threads: MTLSize(width: 32, height: 5, depth: 1)),
                .init(groups: MTLSize(width: 1, height: 1, depth: 2), threads: MTLSize(width: 32, height: 1, depth: 1)),
            ], name)
        }
    }

    func testThreadgroupsCoverLargeTextures() {
        let pipeline = FakePipeline(threadExecutionWidth: 32, maxTotalThreadsPerThreadgroup: 1024)
        let texture = FakeTexture(width: 100, height: 70, arrayLength: 4)
        let sizes = BridgecMetalDispatch.threadgroups(for: texture, pipeline: pipeline)
        XCTAssertEqual(sizes.threadsPerThreadgroup, MTLSize(width: 32, height: 32, depth: 1))
        XCTAssertEqual(sizes.threadgroupsPerGrid, MTLSize(width: 4, height: 3, depth: 4))
        XCTAssertGreaterThanOrEqual(sizes.threadgroupsPerGrid.width * sizes.threadsPerThreadgroup.width, texture.width)
        XCTAssertGreaterThanOrEqual(sizes.threadgroupsPerGrid.height * sizes.threadsPerThreadgroup.height, texture.height)
        // A pipeline that allows fewer threads per group than the SIMD width.
        let small = BridgecMetalDispatch.threadgroups(
            for: FakeTexture(width: 100, height: 70, arrayLength: 1),
            pipeline: FakePipeline(threadExecutionWidth: 64, maxTotalThreadsPerThreadgroup: 48))
        XCTAssertEqual(small.threadsPerThreadgroup, MTLSize(width: 48, height: 1, depth: 1))
        XCTAssertEqual(small.threadgroupsPerGrid, MTLSize(width: 3, height: 70, depth: 1))
    }

    func testMissingFunctionThrowsNamingItBeforeCreatingAnEncoder() throws {
        for (name, parameters, function, _) in Self.cases {
            let layer = try layerClasses[name]!.init(parameters: parameters)
            let buffer = FakeCommandBuffer(device: FakeDevice(functions: ["relu"]))
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
        let c = FakeTexture(width: 2, height: 2, arrayLength: 2)
        XCTAssertThrowsError(try layer.encode(commandBuffer: buffer, inputs: [a], outputs: [b]))
        XCTAssertThrowsError(try layer.encode(commandBuffer: buffer, inputs: [a], outputs: [c]))
        XCTAssertThrowsError(try layer.encode(commandBuffer: buffer, inputs: [a, a], outputs: [a]))
        XCTAssertEqual(buffer.encoders.count, 0)
    }

    func testPipelineIsCachedPerDeviceAndFunction() throws {
        let device = FakeDevice(functions: ["gelu", "gelu_tanh"])
        let other = FakeDevice(functions: ["gelu", "gelu_tanh"])
        let exact = try Gelu(parameters: ["approximate": "none"])
        let tanh = try Gelu(parameters: ["approximate": "tanh"])
        let exactToo = try Gelu(parameters: ["approximate": "none"])
        let t = [FakeTexture(width: 4, height: 4, arrayLength: 1)]
        for _ in 0..<3 {
            try exact.encode(commandBuffer: FakeCommandBuffer(device: device), inputs: t, outputs: t)
            try tanh.encode(commandBuffer: FakeCommandBuffer(device: device), inputs: t, outputs: t)
            try exactToo.encode(commandBuffer: FakeCommandBuffer(device: device), inputs: t, outputs: t)
        }
        XCTAssertEqual(device.pipelinesBuilt, 2)
        XCTAssertEqual(other.pipelinesBuilt, 0)
        try exact.encode(commandBuffer: FakeCommandBuffer(device: other), inputs: t, outputs: t)
        XCTAssertEqual(other.pipelinesBuilt, 1)
        XCTAssertEqual(device.pipelinesBuilt, 2)
    }
}

#endif
