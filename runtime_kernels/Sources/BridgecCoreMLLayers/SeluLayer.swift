// Core ML custom layer "Selu": gamma * (x if x > 0 else alpha * (exp(x) - 1)), elementwise.
//
// Part of the bridgec runtime kernels. bridgec writes models whose custom layer has className
// "Selu" and the double parameter(s) "alpha", "gamma". Add this file, Selu.swift, VectorMath.swift, LayerSupport.swift and selu.metal
// to your app target: Core ML finds this class by its Objective-C name "Selu", runs `evaluate` on the
// CPU, and `encode` (the Metal kernel `selu`) when the model runs on the GPU.

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

// Core ML looks the class up through the Objective-C runtime by the name "Selu" (see HardTanhLayer.swift).
#if canImport(ObjectiveC)
@objc(Selu)
#endif
public final class Selu: NSObject, MLCustomLayer, BridgecElementwiseLayer {
    public static let layerName = "Selu"
    /// Scale of the negative side (torch: 1.6732632423543772).
    public let alpha: Double
    /// Overall scale (torch: 1.0507009873554805).
    public let gamma: Double

    /// The parameter block the Metal kernel receives with setBytes at buffer index 0. Its layout must
    /// stay identical to `SeluParams` in selu.metal: 2 Float(s), 8 bytes, no padding.
    struct GPUParams {
        var alpha: Float
        var gamma: Float
    }

    var gpuParams: GPUParams { GPUParams(alpha: Float(alpha), gamma: Float(gamma)) }

    public init(parameters: [String: Any]) throws {
        alpha = try BridgecLayerParameters.double(parameters, "alpha", layer: Self.layerName)
        gamma = try BridgecLayerParameters.double(parameters, "gamma", layer: Self.layerName)
        super.init()
    }

    public func setWeightData(_ weights: [Data]) throws {
        try BridgecElementwise.checkNoWeights(weights, layer: Self.layerName)
    }

    public func outputShapes(forInputShapes inputShapes: [[NSNumber]]) throws -> [[NSNumber]] {
        inputShapes
    }

    // MARK: CPU

    public func evaluate(inputs: [MLMultiArray], outputs: [MLMultiArray]) throws {
        try BridgecElementwise.evaluate(self, inputs: inputs, outputs: outputs)
    }

    public func run(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Float>, count: Int) {
        selu(input, output, count: count, alpha: Float(alpha), gamma: Float(gamma))
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    @available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
    public func run(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int) {
        selu(input, output, count: count, alpha: Float(alpha), gamma: Float(gamma))
    }
    #endif

    // MARK: GPU

    #if canImport(Metal) || canImport(CoreMLStandIn)

    /// Encodes the Metal kernel `selu` (selu.metal) for every input/output texture pair.
    public func encode(
        commandBuffer: any MTLCommandBuffer, inputs: [any MTLTexture], outputs: [any MTLTexture]
    ) throws {
        try BridgecMetalDispatch.encodeElementwise(
            commandBuffer, inputs: inputs, outputs: outputs, function: "selu",
            parameters: BridgecMetalDispatch.bytes(of: gpuParams),
            bundle: Bundle(for: Selu.self), layer: Self.layerName)
    }

    #endif
}
