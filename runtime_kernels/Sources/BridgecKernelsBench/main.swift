// Throughput of the bridgec CPU kernels against a plain memcpy of the same buffer, in one run.
//
//     swift run -c release BridgecKernelsBench                 # 16M Float32 elements
//     swift run -c release BridgecKernelsBench --float16       # also the Float16 kernels
//     swift run -c release BridgecKernelsBench --elements 4194304 --repeats 9
//
// Each kernel reads N elements and writes N elements (out of place), like memcpy(dst, src, N * size).
// GB/s counts the bytes read (N * element size) per second; "x memcpy" is memcpy's time divided by
// the kernel's (1.0 = as fast as copying the buffer). Best of --repeats runs after one warm-up run.
// Not part of the test suite: timings depend on the machine and its load.

import Foundation

import BridgecKernels

/// Best wall time in seconds of `repeats` runs of `body`, after one warm-up run.
func best(_ repeats: Int, _ body: () -> Void) -> Double {
    body()
    var result = Double.infinity
    for _ in 0..<repeats {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        let end = DispatchTime.now().uptimeNanoseconds
        result = min(result, Double(end - start) / 1e9)
    }
    return result
}

/// Deterministic inputs spread over [-8, 8): both sides of every kernel's interesting region.
func fill(_ buffer: UnsafeMutableBufferPointer<Float>) {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    for i in buffer.indices {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        buffer[i] = Float(state >> 40) / Float(1 << 24) * 16 - 8
    }
}

func report(_ name: String, _ seconds: Double, bytes: Int, memcpySeconds: Double) {
    let gbps = Double(bytes) / seconds / 1e9
    let label = name.padding(toLength: 24, withPad: " ", startingAt: 0)
    print("\(label) \(String(format: "%8.2f GB/s  %6.2f ms  %5.2fx memcpy", gbps, seconds * 1e3, memcpySeconds / seconds))")
}

func benchmark(elements: Int, repeats: Int, withFloat16: Bool) {
    let source = UnsafeMutableBufferPointer<Float>.allocate(capacity: elements)
    let destination = UnsafeMutableBufferPointer<Float>.allocate(capacity: elements)
    fill(source)
    destination.initialize(repeating: 0)
    let src = UnsafePointer(source.baseAddress!)
    let dst = destination.baseAddress!
    let bytes = elements * MemoryLayout<Float>.stride

    let kernels32: [(String, () -> Void)] = [
        ("HardTanh", { hardtanh(src, dst, count: elements, minValue: 0, maxValue: 6) }),
        ("HardSwish", { hardswish(src, dst, count: elements) }),
        ("HardSigmoid", { hardsigmoid(src, dst, count: elements, alpha: 1.0 / 6, beta: 0.5) }),
        ("Gelu (none)", { gelu(src, dst, count: elements, approximate: "none") }),
        ("Gelu (tanh)", { gelu(src, dst, count: elements, approximate: "tanh") }),
        ("Silu", { silu(src, dst, count: elements) }),
        ("Mish", { mish(src, dst, count: elements) }),
        ("Elu", { elu(src, dst, count: elements, alpha: 1) }),
        ("Selu", { selu(src, dst, count: elements, alpha: 1.6732632, gamma: 1.0507010) }),
        ("Celu", { celu(src, dst, count: elements, alpha: 1) }),
        ("Softplus", { softplus(src, dst, count: elements, beta: 1, threshold: 20) }),
        ("LeakyRelu", { leakyRelu(src, dst, count: elements, alpha: 0.01) }),
        ("Erf", { erf(src, dst, count: elements) }),
    ]

    print("\(elements) elements, best of \(repeats) runs")
    print("Float32 (\(bytes / 1_048_576) MiB per buffer)")
    let memcpy32 = best(repeats) { memcpy(dst, src, bytes) }
    report("memcpy", memcpy32, bytes: bytes, memcpySeconds: memcpy32)
    var checksum: Float = 0
    for (name, run) in kernels32 {
        report(name, best(repeats, run), bytes: bytes, memcpySeconds: memcpy32)
        checksum += dst[elements / 3]
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
if withFloat16 {
    let source16 = UnsafeMutableBufferPointer<Float16>.allocate(capacity: elements)
    let destination16 = UnsafeMutableBufferPointer<Float16>.allocate(capacity: elements)
    for i in source16.indices { source16[i] = Float16(source[i]) }
    destination16.initialize(repeating: 0)
    let s16 = UnsafePointer(source16.baseAddress!)
    let d16 = destination16.baseAddress!
    let bytes16 = elements * MemoryLayout<Float16>.stride
    let kernels16: [(String, () -> Void)] = [
        ("HardTanh", { hardtanh(s16, d16, count: elements, minValue: 0, maxValue: 6) }),
        ("HardSwish", { hardswish(s16, d16, count: elements) }),
        ("Gelu (none)", { gelu(s16, d16, count: elements, approximate: "none") }),
        ("Silu", { silu(s16, d16, count: elements) }),
        ("Erf", { erf(s16, d16, count: elements) }),
    ]
    print("Float16 (\(bytes16 / 1_048_576) MiB per buffer)")
    let memcpy16 = best(repeats) { memcpy(d16, s16, bytes16) }
    report("memcpy", memcpy16, bytes: bytes16, memcpySeconds: memcpy16)
    for (name, run) in kernels16 {
        report(name, best(repeats, run), bytes: bytes16, memcpySeconds: memcpy16)
        checksum += Float(d16[elements / 3])
    }
}
#endif

print("(checksum \(checksum))")
}

var elements = 16 * 1024 * 1024
var repeats = 7
var withFloat16 = false
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--elements": elements = Int(arguments.next() ?? "") ?? elements
    case "--repeats": repeats = max(1, Int(arguments.next() ?? "") ?? repeats)
    case "--float16": withFloat16 = true
    default:
        print("usage: BridgecKernelsBench [--elements N] [--repeats R] [--float16]")
        exit(2)
    }
}
benchmark(elements: elements, repeats: repeats, withFloat16: withFloat16)
