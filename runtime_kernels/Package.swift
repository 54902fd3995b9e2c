// swift-tools-version:6.0
//
// bridgec runtime kernels: Swift (CPU) and Metal (GPU) implementations of the Core ML custom
// layers bridgec emits. bridgec copies the files of the layers a model needs flat into one folder
// next to the .mlmodel (see catalog.py); this package exists to build and test them.
//
// No outside dependencies. On Linux, CoreMLStandIn replaces CoreML/Metal so the adapters
// type-check and their CPU path can be unit-tested; on Apple platforms the real frameworks are used.

import PackageDescription

let applePlatforms: [Platform] = [.macOS, .iOS, .tvOS, .watchOS, .visionOS, .macCatalyst]

let package = Package(
    name: "BridgecRuntimeKernels",
    // MLCustomLayer needs macOS 10.13.2 / iOS 11.2; Float16 needs macOS 11 / iOS 14.
    platforms: [.macOS(.v11), .iOS(.v14), .tvOS(.v14), .watchOS(.v7), .visionOS(.v1)],
    products: [
        .library(name: "BridgecKernels", targets: ["BridgecKernels"]),
        .library(name: "BridgecCoreMLLayers", targets: ["BridgecCoreMLLayers"]),
        // Throughput of the CPU kernels vs memcpy: swift run -c release BridgecKernelsBench
        .executable(name: "BridgecKernelsBench", targets: ["BridgecKernelsBench"]),
    ],
    targets: [
        // Pure-Swift kernel math on raw buffers; no framework dependencies.
        .target(name: "BridgecKernels"),

        // Linux-only stand-in for the CoreML / Metal API surface the adapters use.
        .target(name: "CoreMLStandIn"),

        // MLCustomLayer adapters (one class per Core ML custom layer className).
        .target(
            name: "BridgecCoreMLLayers",
            dependencies: [
                "BridgecKernels",
                .target(name: "CoreMLStandIn", condition: .when(platforms: [.linux])),
            ],
            linkerSettings: [
                .linkedFramework("CoreML", .when(platforms: applePlatforms)),
                .linkedFramework("Metal", .when(platforms: [.macOS, .iOS, .tvOS, .visionOS, .macCatalyst])),
            ]
        ),

        // Benchmark (not a test): swift run -c release BridgecKernelsBench [--elements N] [--float16]
        .executableTarget(name: "BridgecKernelsBench", dependencies: ["BridgecKernels"]),

        .testTarget(name: "BridgecKernelsTests", dependencies: ["BridgecKernels"]),
        .testTarget(
            name: "BridgecCoreMLLayersTests",
            dependencies: [
                "BridgecCoreMLLayers",
                "BridgecKernels",
                .target(name: "CoreMLStandIn", condition: .when(platforms: [.linux])),
            ]
        ),
    ]
)
