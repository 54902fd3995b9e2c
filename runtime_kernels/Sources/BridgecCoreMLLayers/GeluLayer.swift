// Core ML custom layer "Gelu": x * Phi(x) (approximate "none") or its tanh approximation
// (approximate "tanh"), elementwise.
//
// Part of the bridgec runtime kernels. bridgec writes models whose custom layer has className
// "Gelu" and the string parameter "approximate" ("none" or "tanh", as in torch). Add this file,
// Gelu.swift, VectorMath.swift, LayerSupport.swift and gelu.metal to your app target: Core ML finds
// this class by its Objective-C name "Gelu", runs `evaluate` on the CPU, and `encode` (the Metal
// kernel `gelu` or `gelu_tanh`) when the model runs on the GPU.

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

// Core ML looks the class up through the Objective-C runtime by the name "Gelu" (see HardTanhLayer.swift).
#if canImport(ObjectiveC)
@objc(Gelu)
#endif
public final class Gelu: NSObject, MLCustomLayer, BridgecElementwiseLayer {
    public static let layerName = "Gelu"
    /// The values of the "approximate" parameter, as in torch.nn.functional.gelu.
    static let approximations = ["none", "tanh"]

    /// True for approximate = "tanh", false for the exact form (approximate = "none").
    public let approximateTanh: Bool

    public init(parameters: [String: Any]) throws {
        let approximate = try BridgecLayerParameters.string(parameters, "approximate", layer: Self.layerName)
        guard Self.approximations.contains(approximate) else {
            throw BridgecLayerError.unsupportedParameterValue(
                layer: Self.layerName, name: "approximate", value: "\"\(approximate)\"", expected: Self.approximations)
        }
        approximateTanh = approximate == "tanh"
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
        gelu(input, output, count: count, approximateTanh: approximateTanh)
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    @available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
    public func run(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int) {
        gelu(input, output, count: count, approximateTanh: approximateTanh)
    }
    #endif

    // MARK: GPU

    #if canImport(Metal) || canImport(CoreMLStandIn)

    /// The kernel function in gelu.metal for this layer's form.
    var metalFunctionName: String { approximateTanh ? "gelu_tanh" : "gelu" }

    /// Encodes the Metal kernel `gelu` or `gelu_tanh` (gelu.metal) for every input/output texture pair.
    public func encode(
        commandBuffer: any MTLCommandBuffer, inputs: [any MTLTexture], outputs: [any MTLTexture]
    ) throws {
        try BridgecMetalDispatch.encodeElementwise(
            commandBuffer, inputs: inputs, outputs: outputs, function: metalFunctionName,
            bundle: Bundle(for: Gelu.self), layer: Self.layerName)
    }

    #endif
}
