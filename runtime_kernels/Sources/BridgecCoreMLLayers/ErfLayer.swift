// Core ML custom layer "Erf": erf(x), the error function, elementwise.
//
// Part of the bridgec runtime kernels. bridgec writes models whose custom layer has className
// "Erf" and no parameters. Add this file, Erf.swift, VectorMath.swift, LayerSupport.swift and erf.metal
// to your app target: Core ML finds this class by its Objective-C name "Erf", runs `evaluate` on the
// CPU, and `encode` (the Metal kernel `erf`) when the model runs on the GPU.

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

// Core ML looks the class up through the Objective-C runtime by the name "Erf" (see HardTanhLayer.swift).
#if canImport(ObjectiveC)
@objc(Erf)
#endif
public final class Erf: NSObject, MLCustomLayer, BridgecElementwiseLayer {
    public static let layerName = "Erf"

    public init(parameters: [String: Any]) throws {
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
        erf(input, output, count: count)
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    @available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
    public func run(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int) {
        erf(input, output, count: count)
    }
    #endif

    // MARK: GPU

    #if canImport(Metal) || canImport(CoreMLStandIn)

    /// Encodes the Metal kernel `erf` (erf.metal) for every input/output texture pair.
    public func encode(
        commandBuffer: any MTLCommandBuffer, inputs: [any MTLTexture], outputs: [any MTLTexture]
    ) throws {
        try BridgecMetalDispatch.encodeElementwise(
            commandBuffer, inputs: inputs, outputs: outputs, function: "erf",
            bundle: Bundle(for: Erf.self), layer: Self.layerName)
    }

    #endif
}
