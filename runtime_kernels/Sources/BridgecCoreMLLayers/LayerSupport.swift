// Shared by the bridgec Core ML custom-layer adapters: the error type, parameter reading, the
// elementwise MLCustomLayer base class, MLMultiArray iteration, Float16 bit conversion, and the
// Metal pipeline cache.
//
// Part of the bridgec runtime kernels. bridgec copies this file next to the converted model
// whenever it ships any custom layer; add it to your app target with the layer files.
// Every name here starts with "Bridgec" because, in an app, these files are compiled into the
// app's own module.

import Foundation

#if canImport(CoreML)
import CoreML
#if canImport(Metal)
import Metal
#endif
#else
import CoreMLStandIn
#endif

// MARK: - Errors

/// Errors thrown by bridgec custom layers. Core ML reports them as the NSError of the failed
/// prediction / model load; `errorDescription` says which layer failed and why.
public enum BridgecLayerError: Error, Equatable, LocalizedError, CustomStringConvertible {
    /// A parameter the layer needs is not in the model's CustomLayerParams.
    case missingParameter(layer: String, name: String)
    /// A parameter is present but is not a number.
    case invalidParameter(layer: String, name: String, value: String)
    /// The model gave the layer weights it does not take.
    case unexpectedWeights(layer: String, count: Int)
    /// Inputs and outputs do not pair up (count, shape or data type differ).
    case mismatchedArrays(layer: String, detail: String)
    /// The CPU path was given an MLMultiArray data type it does not implement.
    case unsupportedDataType(layer: String, dataType: String)
    /// The GPU path could not get its Metal function / pipeline / encoder.
    case metal(layer: String, detail: String)
    /// A parameter has a value the layer does not implement (e.g. Gelu approximate = "erf").
    case unsupportedParameterValue(layer: String, name: String, value: String, expected: [String])

    public var description: String {
        switch self {
        case let .missingParameter(layer, name):
            return "\(layer): missing parameter '\(name)' in the model's custom layer parameters"
        case let .invalidParameter(layer, name, value):
            return "\(layer): parameter '\(name)' must be a number, got \(value)"
        case let .unexpectedWeights(layer, count):
            return "\(layer): takes no weights, but the model provides \(count)"
        case let .mismatchedArrays(layer, detail):
            return "\(layer): \(detail)"
        case let .unsupportedDataType(layer, dataType):
            return "\(layer): unsupported MLMultiArray data type \(dataType) on the CPU path"
        case let .metal(layer, detail):
            return "\(layer): Metal: \(detail)"
        case let .unsupportedParameterValue(layer, name, value, expected):
            return "\(layer): parameter '\(name)' is \(value), expected one of \(expected.joined(separator: ", "))"
        }
    }

    public var errorDescription: String? { description }
}

// MARK: - Parameters

/// Reads values out of the `parameters` dictionary Core ML passes to `init(parameters:)`.
/// Core ML supplies numbers as NSNumber; plain Swift numbers are accepted too (tests, callers).
public enum BridgecLayerParameters {
    /// The number stored under `name`, as a Double (infinities and NaN pass through).
    public static func double(_ parameters: [String: Any], _ name: String, layer: String) throws -> Double {
        guard let value = parameters[name] else {
            throw BridgecLayerError.missingParameter(layer: layer, name: name)
        }
        switch value {
        case let v as Double: return v
        case let v as Float: return Double(v)
        case let v as Int: return Double(v)
        case let v as Int32: return Double(v)
        case let v as Int64: return Double(v)
        case let v as NSNumber: return v.doubleValue
        default:
            throw BridgecLayerError.invalidParameter(
                layer: layer, name: name, value: "\(type(of: value)) \(String(describing: value))")
        }
    }

    /// The string stored under `name` (Core ML passes CustomLayerParams stringValue as NSString).
    public static func string(_ parameters: [String: Any], _ name: String, layer: String) throws -> String {
        guard let value = parameters[name] else {
            throw BridgecLayerError.missingParameter(layer: layer, name: name)
        }
        if let v = value as? String { return v }
        if let v = value as? NSString { return String(describing: v) }
        throw BridgecLayerError.invalidParameter(
            layer: layer, name: name, value: "\(type(of: value)) \(String(describing: value))")
    }
}

// MARK: - Elementwise layers

/// The `MLCustomLayer` of an elementwise op: input i -> output i, same shape and data type, no
/// weights. It does everything but the op's math: a subclass (one generated `<Name>Layer.swift` per
/// class, see generate_layers.py) reads the parameters in `init(parameters:)`, overrides the two
/// `run` methods with its kernel and names its Metal kernel function and parameter block.
/// Core ML calls the methods through the Objective-C runtime, which sees inherited methods.
public class BridgecElementwiseLayer: NSObject, MLCustomLayer {
    /// The Core ML className, which is the Swift class name (every subclass is `@objc(<its name>)`).
    public class var layerName: String { String(describing: self) }

    public required init(parameters: [String: Any]) throws {
        super.init()
    }

    // MARK: What a subclass provides

    /// The kernel over `count` contiguous Float32 values; `input` may be `output`.
    public func run(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int) {
        preconditionFailure("\(Self.layerName) must override run(_:_:count:) for Float")
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    /// The kernel over `count` contiguous Float16 values; `input` may be `output`.
    @available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
    public func run(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int) {
        preconditionFailure("\(Self.layerName) must override run(_:_:count:) for Float16")
    }
    #endif

    /// The kernel function in the layer's .metal file.
    var metalFunction: String {
        preconditionFailure("\(Self.layerName) must override metalFunction")
    }

    /// The parameter block the Metal kernel gets with setBytes at buffer index 0 (`floats` or
    /// `halves` of the parameters, in the order of the `<Name>Params` struct); empty for none.
    var metalParameters: [UInt8] { [] }

    // MARK: Helpers for subclasses

    /// The number under `name` in the model's parameters.
    static func double(_ parameters: [String: Any], _ name: String) throws -> Double {
        try BridgecLayerParameters.double(parameters, name, layer: layerName)
    }

    /// The string under `name` in the model's parameters, which must be one of `values`.
    static func string(_ parameters: [String: Any], _ name: String, among values: [String]) throws -> String {
        let value = try BridgecLayerParameters.string(parameters, name, layer: layerName)
        guard values.contains(value) else {
            throw BridgecLayerError.unsupportedParameterValue(
                layer: layerName, name: name, value: "\"\(value)\"", expected: values)
        }
        return value
    }

    /// A Metal parameter block of `float`s: the values rounded to Float, 4 bytes each, no padding.
    static func floats(_ values: Double...) -> [UInt8] {
        values.flatMap { value in withUnsafeBytes(of: Float(value)) { Array($0) } }
    }

    /// A Metal parameter block of `half`s, 2 bytes each, rounded from Double as numpy rounds a bound
    /// for a float16 input (not through Float, which could round twice).
    static func halves(_ values: Double...) -> [UInt8] {
        values.flatMap { value in withUnsafeBytes(of: BridgecHalf.bits(from: value)) { Array($0) } }
    }

    // MARK: MLCustomLayer

    /// Empty weight blobs are accepted; anything else throws.
    public func setWeightData(_ weights: [Data]) throws {
        let nonEmpty = weights.filter { !$0.isEmpty }.count
        guard nonEmpty == 0 else {
            throw BridgecLayerError.unexpectedWeights(layer: Self.layerName, count: nonEmpty)
        }
    }

    public func outputShapes(forInputShapes inputShapes: [[NSNumber]]) throws -> [[NSNumber]] {
        inputShapes
    }

    /// Whether the CPU path implements `dataType` (Float32 always; Float16 where Swift has it and
    /// Core ML can hand it over).
    static func supportsOnCPU(_ dataType: MLMultiArrayDataType) -> Bool {
        if dataType == .float32 { return true }
        #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
        if #available(macOS 12.0, iOS 16.0, tvOS 16.0, watchOS 9.0, *) {
            return dataType == .float16
        }
        #endif
        return false
    }

    /// Runs the kernel from input i to output i, any strides. Every pair is checked before any is
    /// written, so a failing call leaves the outputs untouched.
    public func evaluate(inputs: [MLMultiArray], outputs: [MLMultiArray]) throws {
        let name = Self.layerName
        try BridgecMultiArray.checkPairs(inputs, outputs, layer: name)
        for input in inputs where !Self.supportsOnCPU(input.dataType) {
            throw BridgecLayerError.unsupportedDataType(layer: name, dataType: BridgecMultiArray.name(of: input.dataType))
        }
        for (input, output) in zip(inputs, outputs) {
            if input.dataType == .float32 {
                BridgecMultiArray.forEachRun(input, output, elementSize: MemoryLayout<Float>.stride) { src, dst, n in
                    run(src.assumingMemoryBound(to: Float.self), dst.assumingMemoryBound(to: Float.self), count: n)
                }
                continue
            }
            #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
            if #available(macOS 12.0, iOS 16.0, tvOS 16.0, watchOS 9.0, *) {
                BridgecMultiArray.forEachRun(input, output, elementSize: MemoryLayout<Float16>.stride) { src, dst, n in
                    run(src.assumingMemoryBound(to: Float16.self), dst.assumingMemoryBound(to: Float16.self), count: n)
                }
                continue
            }
            #endif
            preconditionFailure("\(name): data type passed supportsOnCPU but has no kernel")
        }
    }

    #if canImport(Metal) || canImport(CoreMLStandIn)

    /// Encodes `metalFunction` with `metalParameters` for every input/output texture pair.
    public func encode(
        commandBuffer: any MTLCommandBuffer, inputs: [any MTLTexture], outputs: [any MTLTexture]
    ) throws {
        // Built as the Swift package bridgec writes beside a model, the .metal files are that package's
        // resources; added to an app target, they are in the bundle the class is compiled into.
        #if BRIDGEC_KERNELS_PACKAGE
        let bundle = Bundle.module
        #else
        let bundle = Bundle(for: type(of: self))
        #endif
        try BridgecMetalDispatch.encodeElementwise(
            commandBuffer, inputs: inputs, outputs: outputs, function: metalFunction, parameters: metalParameters,
            bundle: bundle, layer: Self.layerName)
    }

    #endif
}

// MARK: - MLMultiArray helpers

public enum BridgecMultiArray {
    /// A readable name for a data type, for error messages.
    public static func name(of dataType: MLMultiArrayDataType) -> String {
        switch dataType {
        case .float32: return "float32"
        case .double: return "float64"
        case .int32: return "int32"
        default:
            if #available(macOS 12.0, iOS 16.0, tvOS 16.0, watchOS 9.0, *), dataType == .float16 {
                return "float16"
            }
            return "MLMultiArrayDataType(rawValue: \(dataType.rawValue))"
        }
    }

    /// Checks that `inputs` and `outputs` pair up one to one with equal shapes and data types.
    public static func checkPairs(_ inputs: [MLMultiArray], _ outputs: [MLMultiArray], layer: String) throws {
        guard inputs.count == outputs.count else {
            throw BridgecLayerError.mismatchedArrays(
                layer: layer, detail: "\(inputs.count) input(s) but \(outputs.count) output(s)")
        }
        for (index, (input, output)) in zip(inputs, outputs).enumerated() {
            let inShape = input.shape.map(\.intValue)
            let outShape = output.shape.map(\.intValue)
            guard inShape == outShape else {
                throw BridgecLayerError.mismatchedArrays(
                    layer: layer, detail: "input \(index) has shape \(inShape) but output \(index) has \(outShape)")
            }
            guard input.dataType == output.dataType else {
                throw BridgecLayerError.mismatchedArrays(
                    layer: layer,
                    detail: "input \(index) is \(name(of: input.dataType)) but output \(index) is "
                        + "\(name(of: output.dataType))")
            }
        }
    }

    /// Calls `body(src, dst, n)` over runs of `n` consecutive elements of an elementwise input/output
    /// pair of equal shape, honouring each array's strides. Contiguous arrays (the usual case) are
    /// one run; otherwise the runs are rows of the innermost axis (or single elements if that axis
    /// is strided).
    public static func forEachRun(
        _ input: MLMultiArray,
        _ output: MLMultiArray,
        elementSize: Int,
        _ body: (UnsafeRawPointer, UnsafeMutableRawPointer, Int) -> Void
    ) {
        let shape = input.shape.map(\.intValue)
        let count = shape.reduce(1, *)
        guard count > 0 else { return }
        let src = UnsafeRawPointer(input.dataPointer)
        let dst = output.dataPointer
        let inStrides = input.strides.map(\.intValue)
        let outStrides = output.strides.map(\.intValue)
        let dense = denseStrides(shape)
        if shape.isEmpty || (ignoringUnitAxes(inStrides, shape) == ignoringUnitAxes(dense, shape)
            && ignoringUnitAxes(outStrides, shape) == ignoringUnitAxes(dense, shape))
        {
            body(src, dst, count)
            return
        }
        let rank = shape.count
        let inner = shape[rank - 1]
        let innerContiguous = (inStrides[rank - 1] == 1 && outStrides[rank - 1] == 1) || inner == 1
        var index = [Int](repeating: 0, count: rank - 1)
        while true {
            var inOffset = 0
            var outOffset = 0
            for axis in 0..<(rank - 1) {
                inOffset += index[axis] * inStrides[axis]
                outOffset += index[axis] * outStrides[axis]
            }
            if innerContiguous {
                body(src + inOffset * elementSize, dst + outOffset * elementSize, inner)
            } else {
                for k in 0..<inner {
                    body(
                        src + (inOffset + k * inStrides[rank - 1]) * elementSize,
                        dst + (outOffset + k * outStrides[rank - 1]) * elementSize, 1)
                }
            }
            // Advance the odometer over the outer axes.
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < shape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
            if axis < 0 { return }
        }
    }

    static func denseStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    /// Strides of size-1 axes are irrelevant for addressing; blank them before comparing.
    private static func ignoringUnitAxes(_ strides: [Int], _ shape: [Int]) -> [Int] {
        zip(strides, shape).map { $1 == 1 ? 0 : $0 }
    }
}

// MARK: - Float16 bits

public enum BridgecHalf {
    /// The IEEE 754 binary16 bit pattern nearest to `value` (round to nearest, ties to even),
    /// i.e. what `Float16(value).bitPattern` gives, computed without the Float16 type (which does
    /// not exist on Intel Macs) and without rounding through Float first. Used to hand bounds to
    /// Metal `half` code exactly as numpy rounds them for a float16 input.
    public static func bits(from value: Double) -> UInt16 {
        let sign: UInt16 = value.sign == .minus ? 0x8000 : 0
        if value.isNaN { return sign | 0x7E00 }
        let magnitude = value.magnitude
        if magnitude.isInfinite || magnitude >= 65520.0 { return sign | 0x7C00 }  // 65520 rounds to inf
        if magnitude < 0x1p-14 {
            // Subnormal (or zero): units of 2^-24. Scaling by a power of two is exact.
            // 1024 units is the smallest normal, whose bit pattern is also 1024 (0x0400).
            let units = (magnitude * 0x1p24).rounded(.toNearestOrEven)
            return sign | UInt16(units)
        }
        var exponent = Int(magnitude.exponent)  // -14 ... 15
        var mantissa = (magnitude.significand * 1024).rounded(.toNearestOrEven)  // 1024 ... 2048
        if mantissa == 2048 {
            mantissa = 1024
            exponent += 1
        }
        if exponent > 15 { return sign | 0x7C00 }
        return sign | UInt16(exponent + 15) << 10 | UInt16(mantissa - 1024)
    }
}

// MARK: - Metal

#if canImport(Metal) || canImport(CoreMLStandIn)

/// Compute pipelines for the bridgec Metal kernels, built lazily once per (device, function) and
/// shared by all layer instances in the process.
public final class BridgecMetalPipelineCache: @unchecked Sendable {
    public static let shared = BridgecMetalPipelineCache()

    private let lock = NSLock()
    private var entries: [(device: any MTLDevice, function: String, pipeline: any MTLComputePipelineState)] = []

    public init() {}

    /// The pipeline for the kernel function `functionName`, looked up in the default Metal library of
    /// `bundle` (the bundle the layer class lives in) and then in the app's default library.
    public func pipeline(
        named functionName: String, device: any MTLDevice, bundle: Bundle, layer: String
    ) throws -> any MTLComputePipelineState {
        lock.lock()
        defer { lock.unlock() }
        if let hit = entries.first(where: { $0.device === device && $0.function == functionName }) {
            return hit.pipeline
        }
        var function = (try? device.makeDefaultLibrary(bundle: bundle))?.makeFunction(name: functionName)
        if function == nil {
            function = device.makeDefaultLibrary()?.makeFunction(name: functionName)
        }
        guard let function else {
            throw BridgecLayerError.metal(
                layer: layer,
                detail: "kernel function '\(functionName)' not found in the default Metal library; "
                    + "add the layer's .metal file to the same target as its .swift files")
        }
        let pipeline: any MTLComputePipelineState
        do {
            pipeline = try device.makeComputePipelineState(function: function)
        } catch {
            throw BridgecLayerError.metal(
                layer: layer, detail: "cannot build the pipeline for '\(functionName)': \(error)")
        }
        entries.append((device, functionName, pipeline))
        return pipeline
    }
}

public enum BridgecMetalDispatch {
    /// Threadgroup sizing for a kernel with one thread per pixel of a texture2d_array, the grid
    /// being (width, height, arrayLength). The kernel must return early for threads outside the
    /// texture, since the grid is rounded up to whole threadgroups.
    public static func threadgroups(
        for texture: any MTLTexture, pipeline: any MTLComputePipelineState
    ) -> (threadgroupsPerGrid: MTLSize, threadsPerThreadgroup: MTLSize) {
        let maxThreads = max(1, pipeline.maxTotalThreadsPerThreadgroup)
        let width = max(1, min(pipeline.threadExecutionWidth, maxThreads))
        // As many rows as fit, but no more than the texture has (small textures are common).
        let height = max(1, min(maxThreads / width, texture.height))
        let threads = MTLSize(width: width, height: height, depth: 1)
        let groups = MTLSize(
            width: (texture.width + width - 1) / width,
            height: (texture.height + height - 1) / height,
            depth: texture.arrayLength)
        return (groups, threads)
    }

    /// `encode(commandBuffer:inputs:outputs:)` of an elementwise layer: one compute encoder running
    /// the kernel `function` once per input/output texture pair, with `parameters` (if not empty)
    /// bound with setBytes at buffer index 0. Everything is validated before the encoder is made;
    /// no commit (Core ML commits the command buffer).
    public static func encodeElementwise(
        _ commandBuffer: any MTLCommandBuffer, inputs: [any MTLTexture], outputs: [any MTLTexture],
        function: String, parameters: [UInt8] = [], bundle: Bundle, layer: String
    ) throws {
        try checkPairs(inputs, outputs, layer: layer)
        let pipeline = try BridgecMetalPipelineCache.shared.pipeline(
            named: function, device: commandBuffer.device, bundle: bundle, layer: layer)
        guard let encoder = commandBuffer.makeComputeCommandEncoder() else {
            throw BridgecLayerError.metal(layer: layer, detail: "cannot create a compute command encoder")
        }
        encoder.setComputePipelineState(pipeline)
        if !parameters.isEmpty {
            parameters.withUnsafeBytes { bytes in
                encoder.setBytes(bytes.baseAddress!, length: bytes.count, index: 0)
            }
        }
        for (input, output) in zip(inputs, outputs) {
            encoder.setTexture(input, index: 0)
            encoder.setTexture(output, index: 1)
            let sizes = threadgroups(for: output, pipeline: pipeline)
            encoder.dispatchThreadgroups(sizes.threadgroupsPerGrid, threadsPerThreadgroup: sizes.threadsPerThreadgroup)
        }
        encoder.endEncoding()
    }

    /// Checks that input and output textures pair up one to one with equal dimensions.
    public static func checkPairs(_ inputs: [any MTLTexture], _ outputs: [any MTLTexture], layer: String) throws {
        guard inputs.count == outputs.count else {
            throw BridgecLayerError.mismatchedArrays(
                layer: layer, detail: "\(inputs.count) input texture(s) but \(outputs.count) output texture(s)")
        }
        for (index, (input, output)) in zip(inputs, outputs).enumerated() {
            let inSize = [input.width, input.height, input.arrayLength]
            let outSize = [output.width, output.height, output.arrayLength]
            guard inSize == outSize else {
                throw BridgecLayerError.mismatchedArrays(
                    layer: layer,
                    detail: "input texture \(index) is \(inSize) (width, height, arrayLength) "
                        + "but output texture \(index) is \(outSize)")
            }
        }
    }
}

#endif
