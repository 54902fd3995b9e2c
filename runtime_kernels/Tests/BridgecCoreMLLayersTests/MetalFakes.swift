// Recording fakes of the stand-in Metal protocols (Linux): they log which calls `encode` makes, in
// which order, with which sizes. Nothing runs on a GPU.

#if canImport(CoreMLStandIn)

import CoreMLStandIn
import Foundation
import XCTest

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
    let function: String
    let threadExecutionWidth: Int
    let maxTotalThreadsPerThreadgroup: Int
    init(function: String = "", threadExecutionWidth: Int, maxTotalThreadsPerThreadgroup: Int) {
        self.function = function
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
        return FakePipeline(function: computeFunction.name, threadExecutionWidth: 32, maxTotalThreadsPerThreadgroup: 1024)
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
        calls.append("pipeline \((state as! FakePipeline).function)")
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
