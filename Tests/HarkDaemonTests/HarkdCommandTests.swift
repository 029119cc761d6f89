import Foundation
import Synchronization
import Testing
import HarkTestSupport
@testable import HarkWake

/// harkd as users and scripts run it (DESIGN §4): `harkd --input FILE.wav|- --dry-run --events -`
/// prints one JSON event per line and exits at end of input; `--input alsa:DEVICE` is the live path;
/// bad input gives one clear line and a non-zero exit, never a crash or a hang.
@Suite struct HarkdCommandTests {
    let demo = Repo.testData.appendingPathComponent("demo/demo.wav").path

    func demoTruth() throws -> (start: Double, end: Double) {
        let entry = try #require(try Manifest().entries.first { $0.path == "demo/demo.wav" })
        let wake = try #require(entry.wakeWords.first)
        return (wake.start, wake.end)
    }

    /// The demo: "hey jarvis", "turn on the kitchen light", then a sentence without the wake word.
    @Test func demoRecordingGivesTheWakeWordThenTheCommand() throws {
        let run = try harkd(["--input", demo, "--dry-run", "--events", "-"])
        #expect(run.status == 0 && run.reason == .exit, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == run.events.count, "every stdout line is one JSON object: \(run.stdout)")
        let events = run.events
        try #require(events.map { $0["type"] as? String } == ["wake", "utterance", "transcript", "actions"], "\(run.stdout)")
        let utterance = events[1], transcript = events[2], actions = events[3]
        let tStart = try #require((utterance["t_start"] as? NSNumber)?.doubleValue)
        let tEnd = try #require((utterance["t_end"] as? NSNumber)?.doubleValue)
        #expect(tStart > 1.6 && tStart < tEnd && tEnd < 3.5, "\(utterance)")
        #expect(transcript["stage"] as? Int == 1 && transcript["text"] as? String == "turn on the kitchen light")
        #expect(actions["stage"] as? Int == 1 && actions["source"] as? String == "voice1")
        let action = try #require((actions["actions"] as? [[String: Any]])?.first)
        #expect(action["device"] as? String == "kitchen_light" && action["command"] as? String == "turn_on" && action["status"] as? String == "ok")
        let event = events[0]
        #expect(event["type"] as? String == "wake")
        #expect(event["word"] as? String == "hey_jarvis")
        let score = try #require((event["score"] as? NSNumber)?.doubleValue)
        let t = try #require((event["t"] as? NSNumber)?.doubleValue)
        #expect(score >= 0.5 && score <= 1)
        let truth = try demoTruth()
        #expect(t >= truth.start && t <= truth.end + 1.0, "wake at \(t) s; the phrase is spoken \(truth.start)–\(truth.end) s")
        #expect(lines.first?.hasPrefix(#"{"type":"wake","word":"hey_jarvis","score":"#) == true)
    }

    @Test func stdinGivesTheSameEventsAsTheFile() throws {
        let samples = try readSamples(demo)
        let raw = samples.withUnsafeBufferPointer { Data(buffer: $0) }
        let fromStdin = try harkd(["--input", "-", "--dry-run", "--events", "-"], stdin: raw)
        let fromFile = try harkd(["--input", demo, "--dry-run", "--events", "-"])
        #expect(fromStdin.status == 0)
        // Action ids are fresh and latencies are wall time: the rest must be the same.
        func stable(_ text: String) -> String {
            text.replacing(/"id":"[0-9a-f-]+"/, with: "\"id\":_").replacing(/"latency_ms":[0-9.]+/, with: "\"latency_ms\":_")
        }
        #expect(!fromStdin.stdout.isEmpty && stable(fromStdin.stdout) == stable(fromFile.stdout))
    }

    /// Acceptance of the command stage (issue 4): for each clip, wake, utterance, transcript, then
    /// actions (a command) or rejected (anything else), and nothing about speech without a wake word.
    @Test(arguments: [
        ("commands/ingrammar/flite_rms_47_clean.wav", "actions"),
        ("commands/ingrammar/piper_joe_61_clean.wav", "actions"),
        ("commands/oos/piper_joe_09_clean.wav", "rejected"),
    ])
    func clipGivesWakeUtteranceTranscriptAndOutcome(clip: String, outcome: String) throws {
        let run = try harkd(["--input", Repo.testData.appendingPathComponent(clip).path, "--dry-run", "--events", "-"])
        #expect(run.status == 0, "\(run.stderr)")
        // Timers and the power accounting (power reports, the second pass's energy) are not the stage's.
        let types = run.events.compactMap { $0["type"] as? String }.filter { !["timer", "power", "energy"].contains($0) }
        #expect(types == ["wake", "utterance", "transcript", outcome], "\(run.stdout)")
        if outcome == "rejected" {
            let rejected = try #require(run.events.last { $0["type"] as? String == "rejected" })
            #expect(rejected["reason"] as? String == "out_of_grammar" && rejected["stage"] as? Int == 1)
            #expect((rejected["audio"] as? String)?.hasPrefix("utt-") == true)
        }
    }

    @Test func eventsCanGoToAFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("harkd-events-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("events.jsonl").path
        let run = try harkd(["--input", demo, "--dry-run", "--events", path])
        #expect(run.status == 0 && run.stdout.isEmpty)
        let written = try String(contentsOfFile: path, encoding: .utf8)
        #expect(written.hasPrefix(#"{"type":"wake","word":"hey_jarvis""#) && written.hasSuffix("}\n"))
    }

    /// The live path through real alsa-lib: the `file` plugin feeds the demo recording to
    /// `snd_pcm_readi` (DESIGN §5), harkd hears the wake word, and SIGTERM shuts it down cleanly.
    @Test func alsaCaptureHearsTheWakeWordAndStopsOnSigterm() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("harkd-alsa-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let raw = directory.appendingPathComponent("in.raw")
        try readSamples(demo).withUnsafeBufferPointer { Data(buffer: $0) }.write(to: raw)
        let config = directory.appendingPathComponent("asound.conf")
        try """
            </usr/share/alsa/alsa.conf>
            pcm.hark_daemon_test { type file; slave.pcm "null"; file "/dev/null"; infile "\(raw.path)"; format "raw" }
            """.write(to: config, atomically: true, encoding: .utf8)
        let run = try harkd(["--input", "alsa:hark_daemon_test", "--dry-run", "--events", "-"],
                            environment: ["ALSA_CONFIG_PATH": config.path], timeout: 20) { process in
            sleep(4)
            process.terminate()
        }
        #expect(run.reason == .exit && run.status == 0, "harkd should exit cleanly on SIGTERM: \(run.stderr)")
        let wakes = run.events.filter { $0["type"] as? String == "wake" }
        #expect(wakes.count == 1, "\(run.stdout)")
        #expect(wakes.first?["word"] as? String == "hey_jarvis")
    }

    @Test func sigintStopsAWaitingDaemon() throws {
        // stdin stays open and silent: harkd blocks in read until SIGINT. It is sent once harkd runs
        // (its control socket is there): on a loaded machine loading the models can take seconds.
        let socket = makeTemporaryDirectory("harkd-sigint") + "/control.sock"
        let interrupted = Mutex<Date?>(nil)
        let run = try harkd(["--input", "-", "--events", "-", "--socket", socket], timeout: 90) { process in
            let deadline = Date().addingTimeInterval(60)
            while access(socket, F_OK) != 0 && Date() < deadline { usleep(20_000) }
            usleep(200_000)
            interrupted.withLock { $0 = Date() }
            process.interrupt()
        }
        #expect(run.reason == .exit && run.status == 0, "\(run.stderr)")
        let sent = try #require(interrupted.withLock { $0 })
        #expect(Date().timeIntervalSince(sent) < 10)
    }

    struct BadInput: Sendable, CustomTestStringConvertible {
        let name: String
        let arguments: @Sendable (URL) throws -> [String]
        let expected: String
        var testDescription: String { name }
    }

    static let badInputs: [BadInput] = [
        BadInput(name: "missing WAV", arguments: { _ in ["--input", "/nonexistent/clip.wav"] }, expected: "/nonexistent/clip.wav"),
        BadInput(name: "WAV that is not PCM", arguments: { dir in
            ["--input", try writeWAV(dir, "mp3.wav", formatTag: 0x55, dataBytes: 3200, claimedBytes: 3200)]
        }, expected: "mp3.wav"),
        BadInput(name: "truncated WAV", arguments: { dir in
            ["--input", try writeWAV(dir, "cut.wav", formatTag: 1, dataBytes: 1000, claimedBytes: 64_000)]
        }, expected: "truncated"),
        BadInput(name: "not a WAV at all", arguments: { dir in
            let path = dir.appendingPathComponent("notes.wav").path
            try Data("these are not audio samples".utf8).write(to: URL(fileURLWithPath: path))
            return ["--input", path]
        }, expected: "notes.wav"),
        BadInput(name: "unreadable ALSA device", arguments: { _ in ["--input", "alsa:hark_no_such_device"] }, expected: "hark_no_such_device"),
        BadInput(name: "missing models", arguments: { _ in ["--models", "/nonexistent/models"] }, expected: "melspectrogram.onnx"),
        BadInput(name: "truncated wake-word model", arguments: { dir in
            let models = try copyModels(to: dir)
            let head = models.appendingPathComponent("hey_jarvis_v0.1.onnx")
            let bytes = try Data(contentsOf: head)
            try bytes.prefix(bytes.count / 3).write(to: head)
            return ["--models", models.path]
        }, expected: "hey_jarvis_v0.1.onnx"),
        BadInput(name: "garbage embedding model", arguments: { dir in
            let models = try copyModels(to: dir)
            try Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: models.appendingPathComponent("embedding_model.onnx"))
            return ["--models", models.path]
        }, expected: "embedding_model.onnx"),
        BadInput(name: "head with an operator Hark does not run", arguments: { dir in
            let models = try copyModels(to: dir)
            try headWithUnsupportedOperator().write(to: models.appendingPathComponent("my_word.onnx"))
            return ["--models", models.path, "--wake-word", "my_word"]
        }, expected: "my_word.onnx: node 'custom_scoring' (FancyScore): operator 'FancyScore' is not implemented"),
        BadInput(name: "unknown wake word", arguments: { _ in ["--wake-word", "hey_nobody_v9"] }, expected: "hey_nobody_v9"),
        BadInput(name: "bad threshold", arguments: { _ in ["--wake-word", "hey_jarvis_v0.1:7"] }, expected: "threshold"),
    ]

    @Test(arguments: badInputs)
    func badInputGivesOneClearLine(_ bad: BadInput) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("harkd-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var arguments = try bad.arguments(directory)
        if !arguments.contains("--input") { arguments += ["--input", demo] }
        let run = try harkd(arguments + ["--dry-run", "--events", "-"], timeout: 30)
        #expect(run.reason == .exit, "harkd died of a signal")
        #expect(run.status != 0)
        let lines = run.stderrLines.filter { $0.hasPrefix("harkd:") }
        #expect(lines.count == 1, "\(run.stderr)")
        #expect(lines.first?.contains(bad.expected) == true, "\(run.stderr)")
        #expect(run.stdout.isEmpty)
    }
}

/// A WAV whose header claims `claimedBytes` of data but holds `dataBytes`.
func writeWAV(_ directory: URL, _ name: String, formatTag: UInt16, dataBytes: Int, claimedBytes: Int) throws -> String {
    var data = Data()
    func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
    data.append(contentsOf: Array("RIFF".utf8)); append(UInt32(36 + claimedBytes))
    data.append(contentsOf: Array("WAVEfmt ".utf8)); append(UInt32(16))
    append(formatTag); append(UInt16(1)); append(UInt32(16_000)); append(UInt32(32_000)); append(UInt16(2)); append(UInt16(16))
    data.append(contentsOf: Array("data".utf8)); append(UInt32(claimedBytes))
    data.append(Data(count: dataBytes))
    let path = directory.appendingPathComponent(name).path
    try data.write(to: URL(fileURLWithPath: path))
    return path
}

func copyModels(to directory: URL) throws -> URL {
    let models = directory.appendingPathComponent("models")
    try FileManager.default.createDirectory(at: models, withIntermediateDirectories: true)
    for name in ["melspectrogram", "embedding_model", "hey_jarvis_v0.1"] {
        try FileManager.default.copyItem(atPath: "\(Repo.models)/\(name).onnx", toPath: models.appendingPathComponent("\(name).onnx").path)
    }
    return models
}

/// A head shaped like openWakeWord's ([1, 16, 96] in, [1, 1] out) whose graph uses an operator
/// that Hark does not implement.
func headWithUnsupportedOperator() throws -> Data {
    var node = Onnx_NodeProto()
    node.name = "custom_scoring"
    node.opType = "FancyScore"
    node.input = ["x"]
    node.output = ["score"]
    var input = Onnx_ValueInfoProto()
    input.name = "x"
    input.type.tensorType.elemType = 1
    input.type.tensorType.shape.dim = [Int64(1), 16, 96].map { size in
        var dim = Onnx_TensorShapeProto.Dimension()
        dim.dimValue = size
        return dim
    }
    var output = Onnx_ValueInfoProto()
    output.name = "score"
    var model = Onnx_ModelProto()
    model.irVersion = 7
    var opset = Onnx_OperatorSetIdProto()
    opset.version = 13
    model.opsetImport = [opset]
    model.graph.node = [node]
    model.graph.input = [input]
    model.graph.output = [output]
    return try model.serializedData()
}

/// `harkd --input none --actions FILE`: a script of actions through validation, policy, the journal
/// and the transports, reported as events.
@Suite struct HarkdActionsTests {
    func script(_ lines: [String]) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("harkd-actions-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("actions.jsonl").path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func givenAScriptInDryRun_thenEachLineIsOneActionsEventAndBadLinesAreErrors() throws {
        let path = try script([
            #"{"device":"kitchen_light","command":"set_brightness","args":{"percent":40}}"#,
            "# a comment",
            #"{"id":"door-1","action":{"device":"front_door","command":"lock"}}"#,
            "not json",
            #"{"device":"kitchen_light","command":"set_brightness","args":{"percent":400}}"#,
            #"{"id":"","action":{"device":"front_door","command":"lock"}}"#,
        ])
        let run = try harkd(["--input", "none", "--actions", path, "--dry-run", "--events", "-"])
        #expect(run.status == 0, "\(run.stderr)")
        let events = run.events
        #expect(events.map { $0["type"] as? String ?? "" } == ["actions", "actions", "error", "actions", "error"], "\(run.stdout)")
        let first = try #require((events[0]["actions"] as? [[String: Any]])?.first)
        #expect(first["device"] as? String == "kitchen_light" && first["status"] as? String == "ok")
        #expect((first["args"] as? [String: Any])?["percent"] as? Int == 40)
        #expect(events[0]["source"] as? String == "script" && events[0]["stage"] == nil)
        #expect((events[1]["actions"] as? [[String: Any]])?.first?["id"] as? String == "door-1")
        #expect(events[2]["message"] as? String == "\(path):4: not valid JSON")
        let invalid = try #require((events[3]["actions"] as? [[String: Any]])?.first)
        #expect(invalid["status"] as? String == "invalid")
        #expect((invalid["detail"] as? String)?.contains("0–100") == true)
        #expect((events[4]["message"] as? String)?.contains(":6: an {\"id\",\"action\"} line needs an \"id\" string") == true)
    }

    @Test func givenNoInputAndNoActions_thenOneLineAndExit1() throws {
        let run = try harkd(["--input", "none"])
        #expect(run.status == 1 && run.stderr == "harkd: --input none needs --actions or a control socket (--socket): there is nothing to do\n", "\(run.stderr)")
    }

    @Test func givenAudioAndActionsBothOnStdin_thenOneLineAndExit1() throws {
        let run = try harkd(["--input", "-", "--actions", "-", "--dry-run"])
        #expect(run.status == 1 && run.stderr == "harkd: --input - and --actions - cannot both read standard input: give the actions as a file\n", "\(run.stderr)")
    }

    @Test func givenABrokenCatalog_thenOneLineNamingItAndExit1() throws {
        let path = try script(["devices:", "  a:", "    type: lamp"])
        let run = try harkd(["--input", "none", "--actions", "-", "--catalog", path, "--dry-run"])
        #expect(run.status == 1)
        #expect(run.stderr == "harkd: \(path):3: device 'a': unknown type 'lamp' (expected light, switch, fan, thermostat, cover, media, lock)\n", "\(run.stderr)")
    }

    @Test func givenABrokenConfigFile_thenOneLineNamingItAndExit1() throws {
        let path = try script(["mqtt: {port: 0}"])
        let run = try harkd(["--config", path, "--input", "none", "--actions", "-"])
        #expect(run.status == 1 && run.stderr == "harkd: \(path):1: mqtt.port: must be a port number 1–65535\n", "\(run.stderr)")
    }
}
