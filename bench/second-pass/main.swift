// make bench-second-pass: stage-1 command accuracy and latency after end of speech for the first pass
// alone (PocketSphinx with its rejection threshold), Whisper constrained to the grammar alone (the
// second pass on every utterance), and the combination harkd runs (Whisper only when the first pass's
// confidence is below WhisperSecondPass.Configuration.below).
//
//   hark-bench-second-pass [--modes first,whisper,combined] [--voices V1,V2] [--sets clean,snr10,babble,oog,oos]
//                          [--beam N] [--prompt on|off]   (the second pass's search width and prompt)
//
// Over the clips of tools/gen_command_audio.py (build/testdata/commands): in-grammar commands clean and at
// 10 dB SNR (pink/brown noise), with babble (other voices) at 10 dB when generated, the stage-2 dev set's
// requests (oog) and the project's out-of-scope questions (oos). Each clip is heard through the wake word
// and stage 1 as harkd runs them, one voice's clips as one stream; half the voices on each of two threads.
// In-grammar sets score exact action matches; oog/oos score the share not turned into a wrong action.
// Latency: wall time of the call that concluded the utterance (end-of-speech decision → actions or
// rejection), which holds the whole second pass when it runs.
// Ends with summary lines `<mode>_<set>: R` and `<mode>_p95_ms: N`.
import Dispatch
import FoundationEssentials
import HarkAudio
import HarkCommands
import HarkDaemon
import HarkDevices
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

func fail(_ message: String) -> Never {
    var line = "hark-bench-second-pass: \(message)\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(1)
}

struct Clip: Sendable {
    let path: String
    let voice: String
    let set: String
    let expected: [[Action]]
}

struct Outcome: Sendable {
    var actions: [Action]?
    var concludedMs: Double?
    var secondPass = false
}

enum Mode: String, CaseIterable {
    case first, whisper, combined
}

let root = "build/testdata/commands"
var modes = Mode.allCases
var voices: Set<String>?
var sets: Set<String>?
/// The second pass's search width and prompt (nil: harkd's defaults), to compare settings.
var beamOption: Int?
var promptOption: Bool?
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    guard let value = arguments.popFirst() else { fail("\(flag) needs a value") }
    let list = value.split(separator: ",").map(String.init)
    switch flag {
    case "--modes":
        modes = list.map { name in
            guard let mode = Mode(rawValue: name) else { fail("unknown mode '\(name)' (first, whisper, combined)") }
            return mode
        }
    case "--voices": voices = Set(list)
    case "--sets": sets = Set(list)
    case "--beam":
        guard let n = Int(value), (1...16).contains(n) else { fail("--beam needs 1–16, not '\(value)'") }
        beamOption = n
    case "--prompt":
        guard value == "on" || value == "off" else { fail("--prompt needs on or off, not '\(value)'") }
        promptOption = value == "on"
    default: fail("unknown option \(flag)")
    }
}

let beam = beamOption, prompt = promptOption

func loadClips() -> [Clip] {
    guard let data = FileManager.default.contents(atPath: root + "/manifest.json"),
          case let .object(top)? = try? JSONValue.parse(String(decoding: data, as: UTF8.self)),
          case let .array(files)? = top["files"] else { fail("\(root)/manifest.json is missing or unreadable: make command-audio") }
    return files.compactMap { file -> Clip? in
        guard case let .object(f) = file, case let .string(path)? = f["path"], case let .string(voice)? = f["voice"],
              case let .string(kind)? = f["kind"] else { return nil }
        var set = kind
        if kind == "ingrammar" { set = f["snr_db"].map { $0 == .null ? "clean" : "snr10" } ?? "clean" }
        var expected: [[Action]] = []
        if case let .array(actions)? = f["actions"] { expected = [actions.compactMap { try? Action(json: $0) }] }
        if case let .array(options)? = f["expect"] {
            expected = options.map { option in
                guard case let .array(actions) = option else { return [] }
                return actions.compactMap { try? Action(json: $0) }
            }
        }
        return Clip(path: path, voice: voice, set: set, expected: expected)
    }
}

func stage1(_ mode: Mode, catalog: Catalog) throws -> Stage1 {
    let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
    let pipeline = try WakePipeline(configuration: .init(modelsDirectory: "models", wakeWords: [.init(model: "hey_jarvis_v0.1")]), logger: logger)
    var pass: WhisperSecondPass.Configuration?
    switch mode {
    case .first: pass = nil
    case .whisper: pass = WhisperSecondPass.Configuration(); pass!.below = .infinity
    case .combined: pass = WhisperSecondPass.Configuration()
    }
    if let beam { pass?.beam = beam }
    if let prompt { pass?.prompt = prompt }
    let commands = try CommandStage.build(catalog: catalog, configuration: .init(), secondPass: pass, logger: logger)
    return Stage1(pipeline: pipeline, commands: commands, logger: logger)
}

func hear(_ clips: [Clip], mode: Mode, catalog: Catalog) throws -> [Outcome] {
    let stage = try stage1(mode, catalog: catalog)
    var outcomes: [Outcome] = []
    for clip in clips {
        let source = try openAudioSource(.file(path: root + "/" + clip.path), logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }))
        var samples: [Int16] = []
        var buffer = [Int16](repeating: 0, count: 16_000)
        while true {
            let n = try buffer.withUnsafeMutableBufferPointer { try source.read(into: $0) }
            if n == 0 { break }
            samples += buffer[..<n]
        }
        samples += [Int16](repeating: 0, count: 1280 * 7)
        var outcome = Outcome()
        func take(_ outputs: [Stage1.Output], ms: Double) {
            for output in outputs {
                switch output {
                case let .command(actions, _) where outcome.concludedMs == nil:
                    outcome.actions = actions
                    outcome.concludedMs = ms
                    outcome.secondPass = stage.commands?.lastUsedSecondPass ?? false
                case .event(.rejected) where outcome.concludedMs == nil:
                    outcome.concludedMs = ms
                    outcome.secondPass = stage.commands?.lastUsedSecondPass ?? false
                default: break
                }
            }
        }
        samples.withUnsafeBufferPointer { all in
            var start = 0
            while start + 1280 <= all.count {
                let began = ContinuousClock.now
                let outputs = stage.process(UnsafeBufferPointer(rebasing: all[start..<(start + 1280)]))
                take(outputs, ms: Double((ContinuousClock.now - began) / .microseconds(1)) / 1000)
                start += 1280
            }
        }
        let began = ContinuousClock.now
        let outputs = stage.finish()
        take(outputs, ms: Double((ContinuousClock.now - began) / .microseconds(1)) / 1000)
        outcomes.append(outcome)
    }
    return outcomes
}

func quantile(_ values: [Double], _ q: Double) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? .nan : sorted[Int(q * Double(sorted.count - 1))]
}

func same(_ a: [Action], _ b: [Action]) -> Bool { Set(a) == Set(b) && a.count == b.count }

let catalog: Catalog
do { catalog = try Catalog.load(path: "devices/demo-home.yaml") } catch { fail("\(error)") }
let clips = loadClips().filter { (voices?.contains($0.voice) ?? true) && (sets?.contains($0.set) ?? true) }
guard !clips.isEmpty else { fail("no clips match") }
let setOrder = ["clean", "snr10", "babble", "oog", "oos"].filter { name in clips.contains { $0.set == name } }
print("clips: " + setOrder.map { name in "\(name) \(clips.filter { $0.set == name }.count)" }.joined(separator: ", "))
var summary: [String] = []
for mode in modes {
    let allVoices = Array(Set(clips.map(\.voice))).sorted()
    let halves = [allVoices.enumerated().filter { $0.offset % 2 == 0 }.map(\.element), allVoices.enumerated().filter { $0.offset % 2 == 1 }.map(\.element)]
    let results = Mutex<[(Clip, Outcome)]>([])
    let failure = Mutex<String?>(nil)
    DispatchQueue.concurrentPerform(iterations: 2) { half in
        let mine = clips.filter { halves[half].contains($0.voice) }
        do {
            let heard = try hear(mine, mode: mode, catalog: catalog)
            results.withLock { $0 += zip(mine, heard) }
        } catch {
            failure.withLock { $0 = "\(error)" }
        }
    }
    if let message = failure.withLock({ $0 }) { fail(message) }
    let all = results.withLock { $0 }
    print("== \(mode.rawValue)")
    for name in setOrder {
        let part = all.filter { $0.0.set == name }
        let score: Double
        if name == "oog" || name == "oos" {
            let wrong = part.filter { clip, outcome in outcome.actions.map { actions in !clip.expected.contains { same($0, actions) } } ?? false }
            score = 1 - Double(wrong.count) / Double(part.count)
            print("  \(name): \(part.count) clips, \(wrong.count) wrong actions: \(String(format: "%.3f", score)) not wrong")
        } else {
            let right = part.filter { clip, outcome in outcome.actions.map { same($0, clip.expected[0]) } ?? false }
            score = Double(right.count) / Double(part.count)
            print("  \(name): \(right.count)/\(part.count) exact: \(String(format: "%.3f", score))")
        }
        let latencies = part.compactMap(\.1.concludedMs)
        print("    second pass decided \(part.filter { $0.1.secondPass }.count); after end of speech p50 \(String(format: "%.1f", quantile(latencies, 0.5))) ms, p95 \(String(format: "%.1f", quantile(latencies, 0.95))) ms")
        summary.append("\(mode.rawValue)_\(name): \(String(format: "%.3f", score))")
    }
    summary.append("\(mode.rawValue)_p95_ms: \(String(format: "%.1f", quantile(all.compactMap(\.1.concludedMs), 0.95)))")
}
for line in summary { print(line) }
