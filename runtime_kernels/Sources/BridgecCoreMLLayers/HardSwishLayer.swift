// Core ML custom layer "HardSwish": x * relu6(x + 3) / 6, elementwise.
//
// Part of the bridgec runtime kernels. bridgec writes models whose custom layer has className
// "HardSwish" and no parameters. Add this file, HardSwish.swift, VectorMath.swift, LayerSupport.swift and hardswish.metal
// to your app target: Core ML finds this class by its Objective-C name "HardSwish", runs `evaluate` on the
// CPU, and `encode` (the Metal kernel `hardswish`) when the model runs on the GPU.

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

// Core ML looks the class up through the Objective-C runtime by the name "HardSwish" (see HardTanhLayer.swift).
#if canImport(ObjectiveC)
@objc(HardSwish)
#endif
public final class HardSwish: NSObject, MLCustomLayer, BridgecElementwiseLayer {
    public static let layerName = "HardSwish"

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
        hardswish(input, output, count: count)
    }

    #if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
    @available(macOS 11.0, iOS 14.0, tvOS 14.0, watchOS 7.0, *)
    public func run(_ input: UnsafePointer<Float16>, _ output: UnsafeMutablePointer<Float16>, count: Int) {
        hardswish(input, output, count: count)
    }
    #endif

    // MARK: GPU

    #if canImport(Metal) || canImport(CoreMLStandIn)

    /// Encodes the Metal kernel `hardswish` (hardswish.metal) for every input/output texture pair.
    public func encode(
        commandBuffer: any MTLCommandBuffer, inputs: [any MTLTexture], outputs: [any MTLTexture]
    ) throws {
        try BridgecMetalDispatch.encodeElementwise(
            commandBuffer, inputs: inputs, outputs: outputs, function: "hardswish",
            bundle: Bundle(for: HardSwish.self), layer: Self.layerName)
    }

    #endif
}
