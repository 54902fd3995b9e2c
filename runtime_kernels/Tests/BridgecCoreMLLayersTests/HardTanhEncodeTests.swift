// The GPU encoding path against recording fakes of the stand-in Metal protocols: which calls
// `encode` makes, in which order, with which sizes. Nothing runs on a GPU; the kernel itself
// (hardtanh.metal) is not exercised here. Only where the stand-in replaces Metal (Linux).

#if canImport(CoreMLStandIn)

import CoreMLStandIn
import Foundation
import XCTest

@testable import BridgecCoreMLLayers

final class HardTanhEncodeTests: XCTestCase {
    func testEncodesOneEncoderForAllPairsWithoutCommitting() throws {
        let device = FakeDevice(functions: ["hardtanh"])
        let buffer = FakeCommandBuffer(device: device)
        let layer = try HardTanh(parameters: ["min_value": 0.0, "max_value": 6.0])
        let inputs = [FakeTexture(width: 13, height: 5, arrayLength: 3), FakeTexture(width: 1, height: 1, arrayLength: 2)]
        let outputs = [FakeTexture(width: 13, height: 5, arrayLength: 3), FakeTexture(width: 1, height: 1, arrayLength: 2)]

        try layer.encode(commandBuffer: buffer, inputs: inputs, outputs: outputs)

        XCTAssertEqual(buffer.encoders.count, 1)
        XCTAssertEqual(buffer.commits, 0)
        let calls = buffer.encoders[0].calls
        XCTAssertEqual(calls.first, "pipeline hardtanh")
        XCTAssertEqual(calls.last, "end")
        XCTAssertEqual(calls.filter { $0 == "end" }.count, 1)
        XCTAssertEqual(calls.filter { $0.hasPrefix("pipeline") }.count, 1)
        // Bounds: two binary16 values, 0.0 and 6.0, at buffer index 0.
        XCTAssertTrue(calls.contains("bytes 0 [00 00 00 46]"), "\(calls)")
        // Pair 0: threadExecutionWidth 32, 1024 / 32 = 32 rows but only 5 are needed.
        XCTAssertTrue(calls.contains("texture 0 \(ObjectIdentifier(inputs[0]).hashValue)"))
        XCTAssertTrue(calls.contains("texture 1 \(ObjectIdentifier(outputs[0]).hashValue)"))
        XCTAssertEqual(buffer.encoders[0].dispatches, [
            .init(groups: MTLSize(width: 1, height: 1, depth: 3), threads: MTLSize(width: 32, height: 5, depth: 1)),
            .init(groups: MTLSize(width: 1, height: 1, depth: 2), threads: MTLSize(width: 32, height: 1, depth: 1)),
        ])
        // The grid covers every pixel of every slice.
        for (texture, dispatch) in zip(outputs, buffer.encoders[0].dispatches) {
            XCTAssertGreaterThanOrEqual(dispatch.groups.width * dispatch.threads.width, texture.width)
            XCTAssertGreaterThanOrEqual(dispatch.groups.height * dispatch.threads.height, texture.height)
            XCTAssertEqual(dispatch.groups.depth * dispatch.threads.depth, texture.arrayLength)
            XCTAssertLessThanOrEqual(dispatch.threads.width * dispatch.threads.height, 1024)
        }
    }

    func testThreadgroupsForLargeTextures() {
        let pipeline = FakePipeline(threadExecutionWidth: 32, maxTotalThreadsPerThreadgroup: 1024)
        let sizes = BridgecMetalDispatch.threadgroups(
            for: FakeTexture(width: 100, height: 70, arrayLength: 4), pipeline: pipeline)
        XCTAssertEqual(sizes.threadsPerThreadgroup, MTLSize(width: 32, height: 32, depth: 1))
        XCTAssertEqual(sizes.threadgroupsPerGrid, MTLSize(width: 4, height: 3, depth: 4))
        // A pipeline that allows fewer threads per group than the SIMD width.
        let small = BridgecMetalDispatch.threadgroups(
            for: FakeTexture(width: 100, height: 70, arrayLength: 1),
            pipeline: FakePipeline(threadExecutionWidth: 64, maxTotalThreadsPerThreadgroup: 48))
        XCTAssertEqual(small.threadsPerThreadgroup, MTLSize(width: 48, height: 1, depth: 1))
        XCTAssertEqual(small.threadgroupsPerGrid, MTLSize(width: 3, height: 70, depth: 1))
    }

    func testPipelineIsBuiltOncePerDevice() throws {
        let deviceA = FakeDevice(functions: ["hardtanh"])
        let deviceB = FakeDevice(functions: ["hardtanh"])
        let layer = try HardTanh(parameters: ["min_value": -1.0, "max_value": 1.0])
        let other = try HardTanh(parameters: ["min_value": 0.0, "max_value": Double.infinity])
        let t = [FakeTexture(width: 4, height: 4, arrayLength: 1)]
        for _ in 0..<3 {
            try layer.encode(commandBuffer: FakeCommandBuffer(device: deviceA), inputs: t, outputs: t)
            try other.encode(commandBuffer: FakeCommandBuffer(device: deviceA), inputs: t, outputs: t)
        }
        XCTAssertEqual(deviceA.pipelinesBuilt, 1)
        XCTAssertEqual(deviceB.pipelinesBuilt, 0)
        try layer.encode(commandBuffer: FakeCommandBuffer(device: deviceB), inputs: t, outputs: t)
        XCTAssertEqual(deviceB.pipelinesBuilt, 1)
        XCTAssertEqual(deviceA.pipelinesBuilt, 1)
    }

    func testInfiniteBoundsAreEncodedAsHalfInfinity() throws {
        let buffer = FakeCommandBuffer(device: FakeDevice(functions: ["hardtanh"]))
        let layer = try HardTanh(parameters: ["min_value": -Double.infinity, "max_value": 1.5])
        let t = [FakeTexture(width: 2, height: 2, arrayLength: 1)]
        try layer.encode(commandBuffer: buffer, inputs: t, outputs: t)
        XCTAssertTrue(buffer.encoders[0].calls.contains("bytes 0 [00 FC 00 3E]"), "\(buffer.encoders[0].calls)")
    }

    func testMissingMetalFunctionThrowsBeforeCreatingAnEncoder() throws {
        let buffer = FakeCommandBuffer(device: FakeDevice(functions: []))
        let layer = try HardTanh(parameters: ["min_value": 0.0, "max_value": 6.0])
        let t = [FakeTexture(width: 2, height: 2, arrayLength: 1)]
        XCTAssertThrowsError(try layer.encode(commandBuffer: buffer, inputs: t, outputs: t)) { error in
            guard case let .metal(layer, detail)? = error as? BridgecLayerError else {
                return XCTFail("unexpected error \(error)")
            }
            XCTAssertEqual(layer, "HardTanh")
            XCTAssertTrue(detail.contains("hardtanh"), detail)
        }
        XCTAssertEqual(buffer.encoders.count, 0)
    }

    func testMismatchedTexturesThrowBeforeCreatingAnEncoder() throws {
        let buffer = FakeCommandBuffer(device: FakeDevice(functions: ["hardtanh"]))
        let layer = try HardTanh(parameters: ["min_value": 0.0, "max_value": 6.0])
        let a = FakeTexture(width: 2, height: 2, arrayLength: 1)
        let b = FakeTexture(width: 2, height: 2, arrayLength: 2)
        XCTAssertThrowsError(try layer.encode(commandBuffer: buffer, inputs: [a], outputs: [b]))
        XCTAssertThrowsError(try layer.encode(commandBuffer: buffer, inputs: [a, a], outputs: [a]))
        XCTAssertEqual(buffer.encoders.count, 0)
    }
}

// MARK: - Recording fakes

final class FakeFunction: MTLFunction {
    let name: String
    init(name: String) { self.name = name }
}

final class FakeLibrary: MTLLibrary {
    let functions: Set<String>
    init(functions: Set<String>) { self.functions = functions }
    func makeFunction(name functionName: String) -> (any MTLFunction)? {
        functions.contains(functionName) ? FakeFunction(name: functionName) : nil
    }
}

final class FakePipeline: MTLComputePipelineState {
    let threadExecutionWidth: Int
    let maxTotalThreadsPerThreadgroup: Int
    init(threadExecutionWidth: Int, maxTotalThreadsPerThreadgroup: Int) {
        self.threadExecutionWidth = threadExecutionWidth
        self.maxTotalThreadsPerThreadgroup = maxTotalThreadsPerThreadgroup
    }
}

final class FakeDevice: MTLDevice {
    let functions: Set<String>
    var pipelinesBuilt = 0
    init(functions: Set<String>) { self.functions = functions }
    func makeDefaultLibrary() -> (any MTLLibrary)? { FakeLibrary(functions: functions) }
    func makeDefaultLibrary(bundle: Bundle) throws -> any MTLLibrary {
        throw NSError(domain: "FakeDevice", code: 1)  // as for an app whose bundle has no metallib of its own
    }
    func makeComputePipelineState(function computeFunction: any MTLFunction) throws -> any MTLComputePipelineState {
        pipelinesBuilt += 1
        return FakePipeline(threadExecutionWidth: 32, maxTotalThreadsPerThreadgroup: 1024)
    }
}

final class FakeTexture: MTLTexture {
    let width: Int
    let height: Int
    let arrayLength: Int
    init(width: Int, height: Int, arrayLength: Int) {
        self.width = width
        self.height = height
        self.arrayLength = arrayLength
    }
}

struct Dispatch: Equatable {
    var groups: MTLSize
    var threads: MTLSize
}

final class FakeEncoder: MTLComputeCommandEncoder {
    var calls: [String] = []
    var dispatches: [Dispatch] = []
    var ended = false

    func setComputePipelineState(_ state: any MTLComputePipelineState) {
        XCTAssertFalse(ended)
        calls.append("pipeline hardtanh")
    }
    func setTexture(_ texture: (any MTLTexture)?, index: Int) {
        XCTAssertFalse(ended)
        calls.append("texture \(index) \(texture.map { ObjectIdentifier($0).hashValue } ?? 0)")
    }
    func setBytes(_ bytes: UnsafeRawPointer, length: Int, index: Int) {
        XCTAssertFalse(ended)
        let hex = UnsafeRawBufferPointer(start: bytes, count: length).map { String(format: "%02X", $0) }
        calls.append("bytes \(index) [\(hex.joined(separator: " "))]")
    }
    func dispatchThreadgroups(_ threadgroupsPerGrid: MTLSize, threadsPerThreadgroup: MTLSize) {
        XCTAssertFalse(ended)
        calls.append("dispatch")
        dispatches.append(Dispatch(groups: threadgroupsPerGrid, threads: threadsPerThreadgroup))
    }
    func endEncoding() {
        XCTAssertFalse(ended)
        ended = true
        calls.append("end")
    }
}

final class FakeCommandBuffer: MTLCommandBuffer {
    let device: any MTLDevice
    var encoders: [FakeEncoder] = []
    var commits = 0
    init(device: any MTLDevice) { self.device = device }
    func makeComputeCommandEncoder() -> (any MTLComputeCommandEncoder)? {
        let encoder = FakeEncoder()
        encoders.append(encoder)
        return encoder
    }
    func commit() { commits += 1 }
}

#endif
