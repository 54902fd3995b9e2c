// A minimal stand-in for the parts of CoreML and Metal that the bridgec custom-layer adapters use,
// so that they type-check and their CPU path can be unit-tested where the real frameworks do not
// exist (Linux). It is NOT part of what bridgec ships next to a model, and it is empty wherever the
// real CoreML is available.
//
// Every declaration mirrors the Swift signature of the real API (as imported from the Apple SDK)
// as closely as the language allows without Objective-C: @objc protocols become class-bound Swift
// protocols, and MLCustomLayer's optional `encode` requirement gets a default implementation.
// Only CPU memory is real here: the Metal protocols exist so the GPU encoding code compiles and can
// be exercised against recording fakes in tests; nothing runs on a GPU.

#if !canImport(CoreML)

import Foundation

// MARK: - CoreML

/// Mirrors `MLMultiArrayDataType` (raw values as in the Apple SDK).
public enum MLMultiArrayDataType: Int, Sendable {
    case double = 65600  // 0x10000 | 64
    case float32 = 65568  // 0x10000 | 32
    case float16 = 65552  // 0x10000 | 16
    case int32 = 131104  // 0x20000 | 32

    public static let float64 = MLMultiArrayDataType.double
    public static let float = MLMultiArrayDataType.float32

    var byteSize: Int {
        switch self {
        case .double: return 8
        case .float32, .int32: return 4
        case .float16: return 2
        }
    }
}

/// Mirrors the parts of `MLMultiArray` the adapters use: a typed, strided view of raw memory.
public final class MLMultiArray: NSObject {
    public let shape: [NSNumber]
    public let strides: [NSNumber]
    public let dataType: MLMultiArrayDataType
    public let dataPointer: UnsafeMutableRawPointer
    public let count: Int
    private let deallocator: ((UnsafeMutableRawPointer) -> Void)?

    /// Allocates a zero-filled, C-contiguous array (like the real initializer).
    public convenience init(shape: [NSNumber], dataType: MLMultiArrayDataType) throws {
        let dims = shape.map(\.intValue)
        guard dims.allSatisfy({ $0 >= 0 }) else {
            throw NSError(domain: "com.apple.CoreML", code: 0, userInfo: [
                NSLocalizedDescriptionKey: "MLMultiArray shape must not contain negative dimensions: \(dims)",
            ])
        }
        var strides = [Int](repeating: 1, count: dims.count)
        var running = 1
        for axis in stride(from: dims.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= dims[axis]
        }
        let bytes = max(running, 1) * dataType.byteSize
        let memory = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16)
        memory.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        try self.init(
            dataPointer: memory, shape: shape, dataType: dataType,
            strides: strides.map { NSNumber(value: $0) },
            deallocator: { $0.deallocate() })
    }

    /// Wraps existing memory (like the real `init(dataPointer:shape:dataType:strides:deallocator:)`).
    public init(
        dataPointer: UnsafeMutableRawPointer,
        shape: [NSNumber],
        dataType: MLMultiArrayDataType,
        strides: [NSNumber],
        deallocator: ((UnsafeMutableRawPointer) -> Void)?
    ) throws {
        guard shape.count == strides.count else {
            throw NSError(domain: "com.apple.CoreML", code: 0, userInfo: [
                NSLocalizedDescriptionKey: "MLMultiArray shape and strides must have the same rank",
            ])
        }
        self.dataPointer = dataPointer
        self.shape = shape
        self.strides = strides
        self.dataType = dataType
        self.count = shape.reduce(1) { $0 * $1.intValue }
        self.deallocator = deallocator
        super.init()
    }

    deinit {
        deallocator?(dataPointer)
    }
}

// MARK: - Metal

/// Mirrors `MTLSize`.
public struct MTLSize: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var depth: Int

    public init() {
        self.init(width: 0, height: 0, depth: 0)
    }

    public init(width: Int, height: Int, depth: Int) {
        self.width = width
        self.height = height
        self.depth = depth
    }
}

/// Mirrors the parts of `MTLFunction` the adapters use.
public protocol MTLFunction: AnyObject {
    var name: String { get }
}

/// Mirrors the parts of `MTLLibrary` the adapters use.
public protocol MTLLibrary: AnyObject {
    func makeFunction(name functionName: String) -> (any MTLFunction)?
}

/// Mirrors the parts of `MTLComputePipelineState` the adapters use.
public protocol MTLComputePipelineState: AnyObject {
    var maxTotalThreadsPerThreadgroup: Int { get }
    var threadExecutionWidth: Int { get }
}

/// Mirrors the parts of `MTLDevice` the adapters use.
public protocol MTLDevice: AnyObject {
    func makeDefaultLibrary() -> (any MTLLibrary)?
    func makeDefaultLibrary(bundle: Bundle) throws -> any MTLLibrary
    func makeComputePipelineState(function computeFunction: any MTLFunction) throws
        -> any MTLComputePipelineState
}

/// Mirrors the parts of `MTLTexture` the adapters use.
public protocol MTLTexture: AnyObject {
    var width: Int { get }
    var height: Int { get }
    var arrayLength: Int { get }
}

/// Mirrors the parts of `MTLComputeCommandEncoder` the adapters use.
public protocol MTLComputeCommandEncoder: AnyObject {
    func setComputePipelineState(_ state: any MTLComputePipelineState)
    func setTexture(_ texture: (any MTLTexture)?, index: Int)
    func setBytes(_ bytes: UnsafeRawPointer, length: Int, index: Int)
    func dispatchThreadgroups(_ threadgroupsPerGrid: MTLSize, threadsPerThreadgroup: MTLSize)
    func endEncoding()
}

/// Mirrors the parts of `MTLCommandBuffer` the adapters use.
public protocol MTLCommandBuffer: AnyObject {
    var device: any MTLDevice { get }
    func makeComputeCommandEncoder() -> (any MTLComputeCommandEncoder)?
    func commit()
}

// MARK: - MLCustomLayer

/// Mirrors `MLCustomLayer`. In the real (Objective-C) protocol `encode` is optional and Core ML
/// falls back to `evaluate` on the CPU when a layer does not implement it; the default
/// implementation here stands for "not implemented".
public protocol MLCustomLayer: AnyObject {
    init(parameters: [String: Any]) throws
    func setWeightData(_ weights: [Data]) throws
    func outputShapes(forInputShapes inputShapes: [[NSNumber]]) throws -> [[NSNumber]]
    func evaluate(inputs: [MLMultiArray], outputs: [MLMultiArray]) throws
    func encode(commandBuffer: any MTLCommandBuffer, inputs: [any MTLTexture], outputs: [any MTLTexture]) throws
}

/// Thrown by the stand-in's default `encode`, i.e. by a layer that has no GPU implementation.
public struct MLCustomLayerGPUNotImplemented: Error {}

extension MLCustomLayer {
    public func encode(
        commandBuffer: any MTLCommandBuffer, inputs: [any MTLTexture], outputs: [any MTLTexture]
    ) throws {
        throw MLCustomLayerGPUNotImplemented()
    }
}

#endif
