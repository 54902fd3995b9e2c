// Core ML custom layer "HardTanh": y = min(max(x, min_value), max_value), elementwise.
//
// Part of the bridgec runtime kernels. bridgec writes models whose custom layer has
// className "HardTanh" and the double parameters "min_value" / "max_value" (either may be
// +/-infinity, meaning that side is open). Add this file, LayerSupport.swift, HardTanh.swift and
// hardtanh.metal to your app target: Core ML finds this class by its Objective-C name "HardTanh",
// runs `evaluate` on the CPU, and `encode` (the Metal kernel `hardtanh`) when the model runs on the GPU.

import Foundation

#if canImport(BridgecKernels)
import BridgecKernels  // In this Swift package; in an app every file is in the app's module.
#endif

#if canImport(CoreML)
import CoreML
#if canImport(Metal)
import Metal
#endif
#else
import CoreMLStandIn  // Linux: API stand-in so this file type-checks and the CPU path is testable.
#endif

// Core ML looks the class up through the Objective-C runtime by the name "HardTanh", so the
// @objc name is essential on Apple platforms. Linux has no Objective-C runtime and rejects @objc;
// since Swift 5.8 (SE-0367) an attribute may be wrapped in #if on its own.
#if canImport(ObjectiveC)
@objc(HardTanh)
#endif
public final class HardTanh: NSObject, MLCustomLayer {
    static let layerName = "HardTanh"
    /// Name of the kernel function in hardtanh.metal.
    static let metalFunctionName = "hardtanh"

    /// Lower bound; -infinity means no lower bound.
    public let minValue: Double
    /// Upper bound; +infinity means no upper bound.
    public let maxValue: Double

    /// The bounds block the Metal kernel receives with setBytes at buffer index 0. Its layout must
    /// stay identical to `HardTanhParams` in hardtanh.metal: two IEEE 754 binary16 values
    /// (`half minValue; half maxValue;`), 4 bytes, no padding. The bounds are stored as bit
    /// patterns because Swift's Float16 does not exist on Intel Macs.
    struct GPUParams {
        var minValue: UInt16
        var maxValue: UInt16
    }

    let gpuParams: GPUParams

    public init(parameters: [String: Any]) throws {
        minValue = try BridgecLayerParameters.double(parameters, "min_value", layer: Self.layerName)
        maxValue = try BridgecLayerParameters.double(parameters, "max_value", layer: Self.layerName)
        gpuParams = GPUParams(minValue: BridgecHalf.bits(from: minValue), maxValue: BridgecHalf.bits(from: maxValue))
        super.init()
    }

    public func setWeightData(_ weights: [Data]) throws {
        let nonEmpty = weights.filter { !$0.isEmpty }.count
        guard nonEmpty == 0 else {
            throw BridgecLayerError.unexpectedWeights(layer: Self.layerName, count: nonEmpty)
        }
    }

    public func outputShapes(forInputShapes inputShapes: [[NSNumber]]) throws -> [[NSNumber]] {
        inputShapes
    }

    // MARK: CPU

    public func evaluate(inputs: [MLMultiArray], outputs: [MLMultiArray]) throws {
        try BridgecMultiArray.checkPairs(inputs, outputs, layer: Self.layerName)
        for input in inputs where !Self.supportsOnCPU(input.dataType) {
            throw BridgecLayerError.unsupportedDataType(
                layer: Self.layerName, dataType: BridgecMultiArray.name(of: input.dataType))
        }
        for (input, output) in zip(inputs, outputs) {
            if input.dataType == .float32 {
                // Same rounding of the bounds as numpy's np.asarray(bound, dtype=np.float32).
                let lo = Float(minValue)
                let hi = Float(maxValue)
                BridgecMultiArray.forEachRun(input, output, elementSize: MemoryLayout<Float>.stride) { src, dst, n in
                    hardtanh(
                        src.assumingMemoryBound(to: Float.self), dst.assumingMemoryBound(to: Float.self),
                        count: n, minValue: lo, maxValue: hi)
                }
            } else {
                evaluateFloat16(input, output)
            }
        }
    }

    static func supportsOnCPU(_ dataType: MLMultiArrayDataType) -> Bool {
        if dataType == .float32 { return true }
        #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
        if #available(macOS 12.0, iOS 16.0, tvOS 16.0, watchOS 9.0, *) {
            return dataType == .float16
        }
        #endif
        return false
    }

    private func evaluateFloat16(_ input: MLMultiArray, _ output: MLMultiArray) {
        #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
        if #available(macOS 12.0, iOS 16.0, tvOS 16.0, watchOS 9.0, *) {
            // Rounded straight from Double, like np.asarray(bound, dtype=np.float16).
            let lo = Float16(minValue)
            let hi = Float16(maxValue)
            BridgecMultiArray.forEachRun(input, output, elementSize: MemoryLayout<Float16>.stride) { src, dst, n in
                hardtanh(
                    src.assumingMemoryBound(to: Float16.self), dst.assumingMemoryBound(to: Float16.self),
                    count: n, minValue: lo, maxValue: hi)
            }
            return
        }
        #endif
        preconditionFailure("HardTanh: float16 reached evaluateFloat16 where it is unsupported")
    }

    // MARK: GPU

    #if canImport(Metal) || canImport(CoreMLStandIn)

    /// Encodes the Metal kernel `hardtanh` (hardtanh.metal) for every input/output texture pair.
    /// Core ML's GPU textures are `.rgba16Float` 2D arrays: width W, height H, arrayLength
    /// batch * ceil(C / 4), four channels per slice. One compute encoder for all pairs; Core ML
    /// commits the command buffer.
    public func encode(
        commandBuffer: any MTLCommandBuffer, inputs: [any MTLTexture], outputs: [any MTLTexture]
    ) throws {
        // Validate everything before creating the encoder: an encoder that is never ended is fatal.
        try BridgecMetalDispatch.checkPairs(inputs, outputs, layer: Self.layerName)
        let pipeline = try BridgecMetalPipelineCache.shared.pipeline(
            named: Self.metalFunctionName, device: commandBuffer.device,
            bundle: Bundle(for: HardTanh.self), layer: Self.layerName)
        guard let encoder = commandBuffer.makeComputeCommandEncoder() else {
            throw BridgecLayerError.metal(layer: Self.layerName, detail: "cannot create a compute command encoder")
        }
        encoder.setComputePipelineState(pipeline)
        withUnsafeBytes(of: gpuParams) { bytes in
            encoder.setBytes(bytes.baseAddress!, length: bytes.count, index: 0)
        }
        for (input, output) in zip(inputs, outputs) {
            encoder.setTexture(input, index: 0)
            encoder.setTexture(output, index: 1)
            let sizes = BridgecMetalDispatch.threadgroups(for: output, pipeline: pipeline)
            encoder.dispatchThreadgroups(sizes.threadgroupsPerGrid, threadsPerThreadgroup: sizes.threadsPerThreadgroup)
        }
        encoder.endEncoding()
    }

    #endif
}
