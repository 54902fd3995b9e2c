// Core ML custom layer "Elu": x if x > 0 else alpha * (exp(x) - 1), elementwise.
//
// Part of the bridgec runtime kernels. bridgec writes models whose custom layer has className
// "Elu" and the double parameter(s) "alpha". Add this file, Elu.swift, VectorMath.swift, LayerSupport.swift and elu.metal
// to your app target: Core ML finds this class by its Objective-C name "Elu", runs `evaluate` on the
// CPU, and `encode` (the Metal kernel `elu`) when the model runs on the GPU.

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

// Core ML looks the class up through the Objective-C runtime by the name "Elu" (see HardTanhLayer.swift).
#if canImport(ObjectiveC)
@objc(Elu)
#endif
public final class Elu: NSObject, MLCustomLayer, BridgecElementwiseLayer {
    public static let layerName = "Elu"
    /// Scale of the negative side.
    public let alpha: Double

    /// The parameter block the Metal kernel receives with setBytes at buffer index 0. Its layout must
    /// stay identical to `EluParams` in elu.metal: 1 Float(s), 4 bytes, no padding.
    struct GPUParams {
        var alpha: Float
    }

    var gpuParams: GPUParams { GPUParams(alpha: Float(alpha)) }

    public init(parameters: [String: Any]) throws {
        alpha = try BridgecLayerParameters.double(parameters, "alpha", layer: Self.layerName)
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
        elu(input, output, count: count, alpha: Float(alpha))
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    @available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
    public func run(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int) {
        elu(input, output, count: count, alpha: Float(alpha))
    }
    #endif

    // MARK: GPU

    #if canImport(Metal) || canImport(CoreMLStandIn)

    /// Encodes the Metal kernel `elu` (elu.metal) for every input/output texture pair.
    public func encode(
        commandBuffer: any MTLCommandBuffer, inputs: [any MTLTexture], outputs: [any MTLTexture]
    ) throws {
        try BridgecMetalDispatch.encodeElementwise(
            commandBuffer, inputs: inputs, outputs: outputs, function: "elu",
            parameters: BridgecMetalDispatch.bytes(of: gpuParams),
            bundle: Bundle(for: Elu.self), layer: Self.layerName)
    }

    #endif
}
