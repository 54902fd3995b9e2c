// Core ML custom layer "Softplus": x if beta * x > threshold else log(1 + exp(beta * x)) / beta, elementwise.
//
// Part of the bridgec runtime kernels. bridgec writes models whose custom layer has className
// "Softplus" and the double parameter(s) "beta", "threshold". Add this file, Softplus.swift, VectorMath.swift, LayerSupport.swift and softplus.metal
// to your app target: Core ML finds this class by its Objective-C name "Softplus", runs `evaluate` on the
// CPU, and `encode` (the Metal kernel `softplus`) when the model runs on the GPU.

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

// Core ML looks the class up through the Objective-C runtime by the name "Softplus" (see HardTanhLayer.swift).
#if canImport(ObjectiveC)
@objc(Softplus)
#endif
public final class Softplus: NSObject, MLCustomLayer, BridgecElementwiseLayer {
    public static let layerName = "Softplus"
    /// Sharpness (torch: 1).
    public let beta: Double
    /// Above beta * x > threshold the layer is the identity (torch: 20).
    public let threshold: Double

    /// The parameter block the Metal kernel receives with setBytes at buffer index 0. Its layout must
    /// stay identical to `SoftplusParams` in softplus.metal: 2 Float(s), 8 bytes, no padding.
    struct GPUParams {
        var beta: Float
        var threshold: Float
    }

    var gpuParams: GPUParams { GPUParams(beta: Float(beta), threshold: Float(threshold)) }

    public init(parameters: [String: Any]) throws {
        beta = try BridgecLayerParameters.double(parameters, "beta", layer: Self.layerName)
        threshold = try BridgecLayerParameters.double(parameters, "threshold", layer: Self.layerName)
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
        softplus(input, output, count: count, beta: Float(beta), threshold: Float(threshold))
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    @available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
    public func run(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int) {
        softplus(input, output, count: count, beta: Float(beta), threshold: Float(threshold))
    }
    #endif

    // MARK: GPU

    #if canImport(Metal) || canImport(CoreMLStandIn)

    /// Encodes the Metal kernel `softplus` (softplus.metal) for every input/output texture pair.
    public func encode(
        commandBuffer: any MTLCommandBuffer, inputs: [any MTLTexture], outputs: [any MTLTexture]
    ) throws {
        try BridgecMetalDispatch.encodeElementwise(
            commandBuffer, inputs: inputs, outputs: outputs, function: "softplus",
            parameters: BridgecMetalDispatch.bytes(of: gpuParams),
            bundle: Bundle(for: Softplus.self), layer: Self.layerName)
    }

    #endif
}
