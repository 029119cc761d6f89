// make bench-power: the always-on stage's estimated milliwatts on each board profile, for 60 s of
// silence (a quiet room), steady noise and continuous speech.
//
// Each recording goes through stage 1 as harkd runs it (the voice-activity gate and the wake-word
// models, hey_jarvis_v0.1) chunk by chunk, and this thread's CPU clock gives the CPU seconds per
// second of audio (median of the runs). The reference, in the same run on the same audio, is the
// same pipeline without the gate: the models on every chunk, as openWakeWord runs them. The figures
// carry over to a board through its profile (HarkPower's PowerModel): this machine is the host
// (`--host`, default generic-x86), each profile in devices/boards the board. Then the governor's
// ladder on continuous speech: the CPU at each lever, to show what each one saves.
//
//     hark-bench-power [--boards devices/boards] [--host generic-x86] [--models models]
//                      [--audio build/bench] [--runs 3]
//
// Ends with one line per profile and condition: `<profile>_<condition>_mw: N`.
#if canImport(Glibc)
import Glibc
#endif
import HarkAudio
import HarkDaemon
import HarkPower
import Logging

func argument(_ name: String, _ fallback: String) -> String {
    let arguments = CommandLine.arguments
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return fallback }
    return arguments[index + 1]
}

func fail(_ message: String) -> Never {
    var line = "hark-bench-power: \(message)\n"
    line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    exit(1)
}

let boardsDirectory = argument("--boards", "devices/boards")
let hostName = argument("--host", "generic-x86")
let models = argument("--models", "models")
let audioDirectory = argument("--audio", "build/bench")
let runs = Int(argument("--runs", "3")) ?? 3
let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })

func read(_ path: String) -> [Int16] {
    do {
        let source = try openAudioSource(.file(path: path), logger: logger)
        var samples: [Int16] = []
        var buffer = [Int16](repeating: 0, count: 8192)
        while true {
            let n = try buffer.withUnsafeMutableBufferPointer { try source.read(into: $0) }
            if n == 0 { break }
            samples.append(contentsOf: buffer[..<n])
        }
        return samples
    } catch { fail("\(error) (make bench-audio writes the recordings)") }
}

/// Steady noise: 60 s of seeded pink-ish noise (white noise through a one-pole low-pass, plus the
/// white part) at about −45 dBFS RMS, like a fan or a fridge in the room. Deterministic.
func steadyNoise(seconds: Int) -> [Int16] {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> Double {
        state = state &+ 0x9E37_79B9_7F4A_7C15   // SplitMix64; wrapping is the algorithm
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53) * 2 - 1
    }
    var low = 0.0
    return (0..<(seconds * 16_000)).map { _ in
        let white = next()
        low = 0.98 * low + 0.02 * white
        let value = (white * 0.2 + low * 2.0) * 0.0125 * 32768
        return Int16(max(-32768, min(32767, value.rounded())))
    }
}

/// Host CPU seconds per second of audio of stage 1 over `samples`, with the governor's `throttle`.
func cpuPerSecond(_ samples: [Int16], gate: Bool, throttle: PowerGovernor.Throttle = .init(), words: [String] = ["hey_jarvis_v0.1"]) -> Double {
    var configuration = WakePipeline.Configuration(modelsDirectory: models, wakeWords: words.map { .init(model: $0) })
    if !gate { configuration.gate = nil }
    let pipeline: WakePipeline
    do { pipeline = try WakePipeline(configuration: configuration, logger: logger) } catch { fail("\(error)") }
    pipeline.apply(throttle)
    var clock = StageClock()
    clock.start()
    var cpu = StageCPU()
    samples.withUnsafeBufferPointer { all in
        var start = 0
        while start + 1280 <= all.count {
            _ = pipeline.process(UnsafeBufferPointer(rebasing: all[start..<(start + 1280)]), clock: &clock)
            cpu += clock.take()
            start += 1280
        }
    }
    return Double(cpu.total) / 1e9 / (Double(samples.count) / 16_000)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

func format(_ value: Double, _ digits: Int) -> String {
    // Fixed point, never an exponent: the integer of value × 10^digits with the point put back.
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int64((abs(value) * scale).rounded())
    var text = String(scaled)
    if digits > 0 {
        if text.count <= digits { text = String(repeating: "0", count: digits - text.count + 1) + text }
        text.insert(".", at: text.index(text.endIndex, offsetBy: -digits))
    }
    return (value < 0 && scaled != 0 ? "-" : "") + text
}

func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }

let profiles: [BoardProfile]
do { profiles = try BoardProfiles.all(directory: boardsDirectory) } catch { fail("\(error)") }
guard let host = profiles.first(where: { $0.id == hostName }) else { fail("no profile '\(hostName)' in \(boardsDirectory) for --host") }

let conditions: [(name: String, samples: [Int16])] = [
    ("silence", read("\(audioDirectory)/near_silence_60s.wav")),
    ("noise", steadyNoise(seconds: 60)),
    ("speech", read("\(audioDirectory)/speech_noise_60s.wav")),
]

print("== stage 1 (gate + hey_jarvis_v0.1) on this machine, \(runs) runs each, medians; host profile \(host.id) (speed \(host.speed))")
print("   silence: build/bench/near_silence_60s.wav (a quiet room); noise: 60 s of steady pink-ish noise at about -45 dBFS;")
print("   speech: build/bench/speech_noise_60s.wav (continuous ordinary speech, 4 voices, pink noise at 10 dB SNR)")
var measured: [String: Double] = [:]
print(pad("condition", 10) + pad("cpu_s/audio_s", 15) + pad("ungated", 12) + "ratio (gated / ungated, the reference: models on every chunk)")
for condition in conditions {
    let gated = median((0..<runs).map { _ in cpuPerSecond(condition.samples, gate: true) })
    let ungated = median((0..<runs).map { _ in cpuPerSecond(condition.samples, gate: false) })
    measured[condition.name] = gated
    print(pad(condition.name, 10) + pad(format(gated, 6), 15) + pad(format(ungated, 6), 12) + format(gated / ungated, 3))
}

print("")
print("== estimated always-on milliwatts on each board (stage only, above idle; the board's total in brackets)")
print(pad("profile", 24) + pad("scale", 8) + conditions.map { pad($0.name, 20) }.joined())
for profile in profiles {
    let model = PowerModel(board: profile, host: host)
    var line = pad(profile.id, 24) + pad(format(model.scale, 2), 8)
    for condition in conditions {
        let cpu = measured[condition.name]!
        line += pad("\(format(model.stageMilliwatts(cpuPerSecond: cpu), 1)) (\(Int(model.boardMilliwatts(cpuPerSecond: cpu).rounded())))", 20)
    }
    print(line)
}

print("")
print("== the governor's levers on continuous speech, two wake words (hey_jarvis, alexa): host CPU s per audio s at each level")
let speech = conditions[2].samples
var ladderGovernor = PowerGovernor(configuration: .init(budgetMilliwatts: 1), gate: true, wakeWords: 2)
var levels: [(String, PowerGovernor.Throttle)] = [("none", .init())]
var t = 0.0
while let change = ladderGovernor.update(estimate: 2, at: t) {
    if case let .throttle(lever, _, _) = change { levels.append((lever.rawValue, ladderGovernor.throttle)) } else { break }
    t += 100
}
let zero = profiles.first { $0.id == "raspberry-pi-zero-2w" } ?? BoardProfile.generic
var first: Double?
for (name, throttle) in levels {
    let cpu = median((0..<runs).map { _ in cpuPerSecond(speech, gate: true, throttle: throttle, words: ["hey_jarvis_v0.1", "alexa_v0.1"]) })
    first = first ?? cpu
    print(pad("+ " + name, 22) + pad(format(cpu, 6), 12) + pad(format(cpu / first!, 3), 8)
          + "\(format(PowerModel(board: zero, host: host).stageMilliwatts(cpuPerSecond: cpu), 1)) mW on \(zero.id)")
}

print("")
for profile in profiles {
    let model = PowerModel(board: profile, host: host)
    for condition in conditions {
        print("\(profile.id)_\(condition.name)_mw: \(format(model.stageMilliwatts(cpuPerSecond: measured[condition.name]!), 1))")
    }
}
