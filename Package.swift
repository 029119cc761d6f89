// swift-tools-version: 6.1
// Hark: an on-device, two-stage voice daemon for smart-speaker boards.
// Dependencies point one way: executables → HarkDaemon → feature modules → HarkKernels / C wrappers.
import PackageDescription
import Foundation

/// The kernels use the vector units of the machine that builds them (Hark is built on the board it
/// runs on, like llama.cpp's native builds). On x86-64 that is x86-64-v4 (AVX-512) where the build
/// machine's /proc/cpuinfo lists every AVX-512 feature v4 names, else x86-64-v3 (AVX2 + FMA: Haswell
/// and later, every current x86 board); HARK_CPU=x86-64-v3 or x86-64-v4 chooses instead (to build for
/// another machine). HARK_X86_FMA turns `addingProduct` into fused multiply-adds, which needs those
/// features. On arm64, NEON and its fused multiply-add are baseline.
#if arch(x86_64)
/// The build machine's CPU features (the first `flags` line of /proc/cpuinfo; none if unreadable).
let buildMachineFlags: Set<String> = {
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flags = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
    return Set(flags.split(separator: " ").map(String.init))
}()
let x86Level = switch Context.environment["HARK_CPU"] {
case "x86-64-v3": "x86-64-v3"
case "x86-64-v4": "x86-64-v4"
default: ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"].allSatisfy(buildMachineFlags.contains) ? "x86-64-v4" : "x86-64-v3"
}
/// AVX-512 VNNI (vpdpbusd: 64 byte products summed into 16 int32 lanes, Cascade Lake / Zen 4 and
/// later) for the int8 matrix products, where x86-64-v4 is chosen and the build machine has it
/// (HARK_VNNI=0 leaves it out).
let vnni = x86Level == "x86-64-v4" && Context.environment["HARK_VNNI"] != "0" && buildMachineFlags.contains("avx512_vnni")
let kernelSettings: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-march=\(x86Level)"] + (vnni ? ["-Xcc", "-mavx512vnni"] : [])), .define("HARK_X86_FMA")]
    + (x86Level == "x86-64-v4" ? [.define("HARK_X86_AVX512")] : [])
    + (vnni ? [.define("HARK_X86_VNNI")] : [])
#else
let kernelSettings: [SwiftSetting] = []
#endif

let package = Package(
    name: "Hark",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "harkd", targets: ["harkd"]),
        .executable(name: "harkctl", targets: ["harkctl"]),
        .executable(name: "hark-whisper", targets: ["hark-whisper"]),
        .executable(name: "hark-llm", targets: ["hark-llm"]),
        .executable(name: "hark-stage2", targets: ["hark-stage2"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // No default traits: the BinaryDelimitedStreams trait links all of Foundation (ICU included) into harkd.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0", traits: []),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries, imported only by their wrapper module.
        .systemLibrary(name: "CALSA", pkgConfig: "alsa", providers: [.apt(["libasound2-dev"])]),
        .systemLibrary(name: "CMosquitto", pkgConfig: "libmosquitto", providers: [.apt(["libmosquitto-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CPocketSphinx", pkgConfig: "pocketsphinx", providers: [.apt(["libpocketsphinx-dev", "libsphinxbase-dev"])]),
        // Linux kernel interfaces the Glibc module lacks (epoll, eventfd, accept4, peer credentials).
        .systemLibrary(name: "CLinuxIO"),

        // Kernels: plain synchronous numeric functions (reference + fast), no dependencies.
        .systemLibrary(name: "CIntrinsics"),
        .target(name: "HarkKernels", dependencies: ["CIntrinsics"], swiftSettings: kernelSettings),

        // Features.
        .target(name: "HarkAudio", dependencies: [
            "CALSA",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "HarkWake", dependencies: [
            "HarkKernels",
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // SQLite through GRDB: the action journal, device state, timers.
        .target(name: "HarkStore", dependencies: [
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // The catalog, actions, validation and policy, transports, device state.
        .target(name: "HarkDevices", dependencies: [
            "HarkAudio", "HarkStore", "CMosquitto", "CCurl",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Stage-1 commands: the grammar built from the catalog, text parsing, utterance capture and
        // streaming recognition with PocketSphinx.
        .target(name: "HarkCommands", dependencies: [
            "HarkDevices", "HarkAudio", "CPocketSphinx",
        ]),

        // Stage-2 model files: the GGUF reader (mmap, every count, size, offset and type checked as
        // untrusted input) and the header's semantic checks per architecture.
        .target(name: "HarkGGUF"),

        // Stage-2 speech to text: Whisper tiny.en (CTranslate2 model.bin) on the package's kernels; a
        // prompt's text is tokenized with HarkLLM's byte-level BPE.
        .target(name: "HarkWhisper", dependencies: ["HarkKernels", "HarkLLM"], swiftSettings: kernelSettings),

        // Power: per-thread CPU accounting, board profiles, the estimate in milliwatts, the governor.
        .target(name: "HarkPower"),

        // Stage-2 language models: tokenizer, architectures, KV cache, sampler.
        .target(name: "HarkLLM", dependencies: ["HarkGGUF", "HarkKernels"], swiftSettings: kernelSettings),

        // Stage 2 on demand: the worker process's protocol (framed JSON and audio over a socket pair),
        // the loader that starts it, talks to it and drops it when idle, and the worker's server side.
        .target(name: "HarkStage2"),

        // The control socket: JSON-RPC 2.0 over a Unix stream socket (an epoll loop on its own
        // thread), peer-credential roles, limits; and the client harkctl uses.
        .target(name: "HarkControl", dependencies: [
            "HarkDevices", "CLinuxIO",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // The daemon: pipeline, events, service wiring.
        .target(name: "HarkDaemon", dependencies: [
            "HarkAudio", "HarkWake", "HarkDevices", "HarkStore", "HarkCommands", "HarkWhisper", "HarkControl", "HarkPower", "HarkStage2",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),

        // Executables: argument parsing and wiring only.
        .executableTarget(name: "harkd", dependencies: [
            "HarkDaemon",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        .executableTarget(name: "harkctl", dependencies: [
            "HarkControl",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "hark-llm", dependencies: [
            "HarkLLM",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "hark-stage2", dependencies: ["HarkStage2", "HarkWhisper", "HarkLLM"], swiftSettings: kernelSettings),
        .executableTarget(name: "hark-whisper", dependencies: [
            "HarkWhisper", "HarkAudio", "HarkKernels",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),

        // Benchmarks that need the package's modules (make bench-dispatch).
        .executableTarget(name: "hark-bench-dispatch", dependencies: [
            "HarkDevices", "HarkStore", "CMosquitto",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "bench/dispatch"),

        // Stage-1 accuracy and latency: first pass, Whisper second pass, and both (make bench-second-pass).
        .executableTarget(name: "hark-bench-second-pass", dependencies: [
            "HarkDaemon", "HarkCommands", "HarkDevices", "HarkAudio",
            .product(name: "Logging", package: "swift-log"),
        ], path: "bench/second-pass"),

        // The always-on stage's estimated milliwatts on each board profile (make bench-power).
        .executableTarget(name: "hark-bench-power", dependencies: [
            "HarkDaemon", "HarkPower", "HarkAudio",
            .product(name: "Logging", package: "swift-log"),
        ], path: "bench/power"),

        // Helpers shared by the test targets.
        .target(name: "HarkTestSupport", dependencies: [
            "HarkAudio",
            "HarkGGUF",
            .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/HarkTestSupport"),
        .testTarget(name: "HarkKernelsTests", dependencies: ["HarkKernels", "HarkTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "HarkAudioTests", dependencies: ["HarkAudio", "HarkTestSupport"]),
        // Fixtures are read from the source tree by path.
        .testTarget(name: "HarkWakeTests", dependencies: ["HarkWake", "HarkAudio", "HarkTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "HarkStoreTests", dependencies: ["HarkStore", "HarkTestSupport", .product(name: "GRDB", package: "GRDB.swift")], exclude: ["Fixtures"]),
        .testTarget(name: "HarkDevicesTests", dependencies: ["HarkDevices", "HarkStore", "HarkTestSupport"]),
        .testTarget(name: "HarkCommandsTests", dependencies: ["HarkCommands", "HarkDevices", "HarkAudio", "HarkTestSupport"]),
        .testTarget(name: "HarkWhisperTests", dependencies: ["HarkWhisper", "HarkAudio", "HarkTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "HarkDaemonTests", dependencies: ["HarkDaemon", "HarkWake", "HarkDevices", "HarkStore", "HarkCommands", "HarkWhisper", "HarkPower", "HarkAudio", "HarkStage2", "HarkTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "HarkPowerTests", dependencies: ["HarkPower"]),
        .testTarget(name: "HarkGGUFTests", dependencies: ["HarkGGUF", "HarkTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "HarkStage2Tests", dependencies: ["HarkStage2", "HarkTestSupport"]),
        .testTarget(name: "HarkLLMTests", dependencies: ["HarkLLM", "HarkGGUF", "HarkTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "HarkControlTests", dependencies: ["HarkControl", "HarkDevices", "HarkStore", "HarkTestSupport", .product(name: "Logging", package: "swift-log")]),
    ],
    swiftLanguageModes: [.v6]
)
