import Foundation
import HarkControl
import HarkDevices
import HarkTestSupport
import Testing

/// `say` beyond the stage-1 grammar goes to stage 2: a real harkd (the demo home, dry run) with the
/// real worker and a real language model (SmolLM2-135M, which was never trained on Hark's format:
/// what it answers is often wrong, but the constraint makes every answer a valid action list).
@Suite(.serialized) struct Stage2SayTests {
    static let smol = repositoryRoot + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"

    /// A configuration with stage 2 on SmolLM2, generous time limits (this machine's other tests may
    /// share its cores), and `more` lines.
    static func config(_ more: String = "") throws -> String {
        let directory = makeTemporaryDirectory("stage2-config")
        let path = directory + "/harkd.yaml"
        try "stage2:\n  model: \(smol)\n  request_timeout: 300\n\(more)".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func stage2Events(_ harkd: RunningHarkd) -> [JSONValue] {
        harkd.events.filter { $0["type"] == .string("stage2") }
    }

    static func states(_ harkd: RunningHarkd) -> [String] {
        stage2Events(harkd).compactMap { $0["state"]?.stringValue }
    }

    /// Every action of a stage-2 answer is valid for the catalog (the voice policy may still refuse an
    /// unlock), or the model chose none.
    static func checkAnswer(_ said: Finished, _ text: String, dryRun: Bool) {
        guard let json = said.json else {
            Issue.record("no JSON answer for '\(text)': \(said)")
            return
        }
        #expect(json["stage"] == .number(2) && json["via"] == .string("model"), "\(text): \(json)")
        if json["understood"] == .bool(true) {
            let actions = json["actions"]?.items ?? []
            #expect(!actions.isEmpty, "\(text): \(said)")
            for action in actions {
                #expect([dryRun ? "valid" : "ok", "refused"].contains(action["status"]?.stringValue ?? ""), "\(text): \(action)")
            }
        } else {
            #expect(json["reason"] == .string("no_actions") && said.status == 1, "\(text): \(said)")
        }
    }

    @Test func givenAStage2Model_whenATextBeyondTheGrammarIsSaid_thenTheModelAnswersWithValidActions() async throws {
        let cache = makeTemporaryDirectory("stage2-cache")
        let config = try Self.config("  cache_dir: \(cache)\n")
        let harkd = try await offThePool { try RunningHarkd(config: config) }
        defer { harkd.stop() }
        let socket = harkd.socket
        try await offThePool {
            // Nothing is loaded until a request needs it.
            #expect(Self.states(harkd).isEmpty)
            let first = try harkctl(["say", "set the bedroom to twenty one degrees", "--json", "--timeout", "300"], socket: socket, timeout: 310)
            Self.checkAnswer(first, "set the bedroom to twenty one degrees", dryRun: false)
            #expect(Self.states(harkd) == ["loading", "ready", "primed", "answered"], "\(Self.stage2Events(harkd))")
            let ready = try #require(Self.stage2Events(harkd).first { $0["state"] == .string("ready") })
            #expect((ready["rss_mb"]?.numberValue ?? 0) > 50 && (ready["ms"]?.numberValue ?? 0) > 0, "\(ready)")
            // The catalog part of the prompt is computed once, before the request's own part.
            let primed = try #require(Self.stage2Events(harkd).first { $0["state"] == .string("primed") })
            #expect(primed["from"] == .string("computed") && (primed["tokens"]?.numberValue ?? 0) > 250, "\(primed)")
            let answered = try #require(Self.stage2Events(harkd).last)
            #expect((answered["prompt_tokens"]?.numberValue ?? 0) > 250, "the catalog is in the prompt: \(answered)")
            #expect((answered["reused_tokens"]?.numberValue ?? 0) >= (primed["tokens"]?.numberValue ?? 1) && answered["constraint_us"]?.numberValue != nil, "\(answered)")
            #expect(answered["text"] == .string("set the bedroom to twenty one degrees"))
            // Actions, when the model chose any, are stage-2 voice actions.
            if first.json?["understood"] == .bool(true) {
                #expect(eventually { harkd.events.contains { $0["type"] == .string("actions") && $0["stage"] == .number(2) } })
            }

            // The next request reuses it too, without priming again.
            let second = try harkctl(["say", "make it cozy in the living room", "--json", "--timeout", "300"], socket: socket, timeout: 310)
            Self.checkAnswer(second, "make it cozy in the living room", dryRun: false)
            let last = Self.stage2Events(harkd).last
            #expect((last?["reused_tokens"]?.numberValue ?? 0) >= (primed["tokens"]?.numberValue ?? 1) && last?["prime_ms"] == .number(0), "\(last.map { "\($0)" } ?? "")")

            // Dry run: validated, nothing dispatched.
            let actionsBefore = harkd.events.filter { $0["type"] == .string("actions") }.count
            let dry = try harkctl(["say", "--dry-run", "it's too dark in the kitchen", "--json", "--timeout", "300"], socket: socket, timeout: 310)
            Self.checkAnswer(dry, "it's too dark in the kitchen", dryRun: true)
            #expect(harkd.events.filter { $0["type"] == .string("actions") }.count == actionsBefore)

            // The grammar still comes first.
            let command = try harkctl(["say", "turn on the kitchen light", "--json"], socket: socket)
            #expect(command.status == 0 && command.json?["stage"] == .number(1), "\(command)")
            #expect(Self.states(harkd).filter { $0 == "loading" }.count == 1, "one worker served every request")
        }
        harkd.stop()

        // The next harkd's worker restores the saved prefix instead of computing it.
        let again = try await offThePool { try RunningHarkd(config: config) }
        defer { again.stop() }
        try await offThePool {
            let said = try harkctl(["say", "make it cozy in the living room", "--json", "--timeout", "300"], socket: again.socket, timeout: 310)
            Self.checkAnswer(said, "make it cozy in the living room", dryRun: false)
            let primed = Self.stage2Events(again).first { $0["state"] == .string("primed") }
            #expect(primed?["from"] == .string("disk") && primed?["saved_ms"]?.numberValue != nil, "\(Self.stage2Events(again))")
        }
    }

    /// The default model (issue 9): `make model` builds it from the committed delta into models/.
    static let trained = repositoryRoot + "/models/hark-moe-q4_0.gguf"

    /// A JSON action as the catalog's Action (numbers compare as numbers, so 20 and 20.0 agree);
    /// harkd's answer items carry more keys (status, id), which are left out.
    static func action(_ json: JSONValue) -> Action {
        Action(device: json["device"]?.stringValue ?? "?", command: json["command"]?.stringValue ?? "?",
               args: json["args"]?.objectValue ?? [:])
    }

    /// Held-out requests (phrasings the training data never holds: training/held_fixture.py) said to
    /// harkd with the trained INT4 model: the action set harkd would run (stage 1's grammar where it
    /// parses, else the model) must equal the request's on most of them.
    @Test func givenTheDefaultModel_whenHeldOutRequestsAreSaid_thenTheirActionsAreExact() async throws {
        guard FileManager.default.fileExists(atPath: Self.trained) else {
            Issue.record("no \(Self.trained): make test builds it (make model)")
            return
        }
        let fixture = try JSONValue.parse(try String(contentsOfFile: repositoryRoot + "/Tests/HarkDaemonTests/Fixtures/stage2-held-demo.json", encoding: .utf8))
        let requests = fixture["requests"]?.items ?? []
        #expect(requests.count == 60)
        let directory = makeTemporaryDirectory("stage2-trained")
        let config = directory + "/harkd.yaml"
        try "stage2:\n  model: \(Self.trained)\n  request_timeout: 300\n".write(toFile: config, atomically: true, encoding: .utf8)
        let harkd = try await offThePool { try RunningHarkd(config: config, extra: ["--stage2-start", "always"]) }
        defer { harkd.stop() }
        let socket = harkd.socket
        let (exact, byStage, misses) = try await offThePool {
            var exact = 0
            var byStage: [Int: Int] = [:]
            var misses: [String] = []
            for request in requests {
                let text = request["text"]?.stringValue ?? ""
                let said = try harkctl(["say", "--dry-run", text, "--json", "--timeout", "300"], socket: socket, timeout: 310)
                guard let answer = said.json else {  // a failed answer counts as a miss
                    misses.append("'\(text)': \(said.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
                    continue
                }
                let got = Set((answer["actions"]?.items ?? []).map(Self.action))
                let want = Set((request["actions"]?.items ?? []).map(Self.action))
                if got == want {
                    exact += 1
                    byStage[Int(answer["stage"]?.numberValue ?? 0), default: 0] += 1
                } else {
                    misses.append("'\(text)': got \(got.map { "\($0)" }.sorted()), want \(want.map { "\($0)" }.sorted())")
                }
            }
            return (exact, byStage, misses)
        }
        // Measured with the committed delta: 50 of 60, all answered by the model (training/README.md);
        // the bound leaves room for another CPU's float sums changing a close greedy choice.
        #expect(exact >= 47, "\(exact) of \(requests.count) exact (by stage \(byStage)); misses:\n\(misses.joined(separator: "\n"))")
        #expect((byStage[2] ?? 0) >= 20, "the model, not only the grammar, answered: \(byStage)")
    }

    @Test func givenABadModelFile_whenStage2IsNeeded_thenTheRequestFailsInOneLineAndHarkdGoesOn() async throws {
        let directory = makeTemporaryDirectory("stage2-bad")
        let bad = directory + "/broken.gguf"
        try Data("GGUF this is not a model".utf8).write(to: URL(fileURLWithPath: bad))
        let harkd = try await offThePool { try RunningHarkd(config: try Self.config(), extra: ["--stage2-model", bad]) }
        defer { harkd.stop() }
        let socket = harkd.socket
        try await offThePool {
            for _ in 0..<2 {
                let said = try harkctl(["say", "make it cozy in the living room", "--timeout", "60"], socket: socket, timeout: 70)
                #expect(said.status != 0 && said.stderr.contains("broken.gguf") && said.stderr.split(separator: "\n").count == 1, "\(said)")
            }
            // Each request tried a fresh worker; each failure was reported.
            let failures = Self.stage2Events(harkd).filter { $0["state"] == .string("failed") }
            #expect(failures.count == 2 && failures.allSatisfy { $0["message"]?.stringValue?.contains("broken.gguf") == true }, "\(failures)")
            #expect(harkd.log.contains("stage 2:") && harkd.log.contains("broken.gguf"))
            let command = try harkctl(["say", "turn on the kitchen light", "--json"], socket: socket)
            #expect(command.status == 0 && command.json?["ok"] == .bool(true), "\(command)")
            #expect(try harkd.call("status")["pid"] != nil)
        }
    }

    @Test func givenAnIdleTimeout_whenNothingMoreIsAsked_thenTheWorkerIsStoppedAndTheNextRequestStartsItAgain() async throws {
        let config = try Self.config("  idle_unload: 1\n  max_tokens: 48\n")
        let harkd = try await offThePool { try RunningHarkd(config: config) }
        defer { harkd.stop() }
        let socket = harkd.socket
        try await offThePool {
            _ = try harkctl(["say", "what time is it", "--timeout", "300"], socket: socket, timeout: 310)
            #expect(eventually(15) { Self.states(harkd).contains("unloaded") }, "\(Self.stage2Events(harkd))")
            #expect(Self.stage2Events(harkd).last?["reason"] == .string("idle"))
            _ = try harkctl(["say", "what time is it", "--timeout", "300"], socket: socket, timeout: 310)
            #expect(Array(Self.states(harkd).prefix(7)) == ["loading", "ready", "primed", "answered", "unloaded", "loading", "ready"], "\(Self.states(harkd))")
        }
    }

    @Test func givenTheAlwaysPolicy_thenTheWorkerStartsWithHarkdAndStaysLoaded() async throws {
        let harkd = try await offThePool { try RunningHarkd(config: try Self.config(), extra: ["--stage2-start", "always"]) }
        defer { harkd.stop() }
        try await offThePool {
            #expect(eventually(120) { Self.states(harkd) == ["loading", "ready", "primed"] }, "\(Self.stage2Events(harkd))")
        }
        _ = harkd.stop()
        #expect(Self.states(harkd) == ["loading", "ready", "primed", "unloaded"] && Self.stage2Events(harkd).last?["reason"] == .string("stopped"))
    }
}
