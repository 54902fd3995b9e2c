// Core ML custom layer "HardSigmoid": max(0, min(1, alpha * x + beta)), elementwise.
//
// Part of the bridgec runtime kernels. bridgec writes models whose custom layer has className
// "HardSigmoid" and the double parameter(s) "alpha", "beta". Add this file, HardSigmoid.swift, VectorMath.swift, LayerSupport.swift and hardsigmoid.metal
// to your app target: Core ML finds this class by its Objective-C name "HardSigmoid", runs `evaluate` on the
// CPU, and `encode` (the Metal kernel `hardsigmoid`) when the model runs on the GPU.

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

// Core ML looks the class up through the Objective-C runtime by the name "HardSigmoid" (see HardTanhLayer.swift).
#if canImport(ObjectiveC)
@objc(HardSigmoid)
#endif
public final class HardSigmoid: NSObject, MLCustomLayer, BridgecElementwiseLayer {
    public static let layerName = "HardSigmoid"
    /// Slope (torch: 1/6).
    public let alpha: Double
    /// Offset (torch: 0.5).
    public let beta: Double

    /// The parameter block the Metal kernel receives with setBytes at buffer index 0. Its layout must
    /// stay identical to `HardSigmoidParams` in hardsigmoid.metal: 2 Float(s), 8 bytes, no padding.
    struct GPUParams {
        var alpha: Float
        var beta: Float
    }

    var gpuParams: GPUParams { GPUParams(alpha: Float(alpha), beta: Float(beta)) }

    public init(parameters: [String: Any]) throws {
        alpha = try BridgecLayerParameters.double(parameters, "alpha", layer: Self.layerName)
        beta = try BridgecLayerParameters.double(parameters, "beta", layer: Self.layerName)
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
        hardsigmoid(input, output, count: count, alpha: Float(alpha), beta: Float(beta))
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    @available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
    public func run(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int) {
        hardsigmoid(input, output, count: count, alpha: Float(alpha), beta: Float(beta))
    }
    #endif

    // MARK: GPU

    #if canImport(Metal) || canImport(CoreMLStandIn)

    /// Encodes the Metal kernel `hardsigmoid` (hardsigmoid.metal) for every input/output texture pair.
    public func encode(
        commandBuffer: any MTLCommandBuffer, inputs: [any MTLTexture], outputs: [any MTLTexture]
    ) throws {
        try BridgecMetalDispatch.encodeElementwise(
            commandBuffer, inputs: inputs, outputs: outputs, function: "hardsigmoid",
            parameters: BridgecMetalDispatch.bytes(of: gpuParams),
            bundle: Bundle(for: HardSigmoid.self), layer: Self.layerName)
    }

    #endif
}
