import Foundation
import HarkControl
import HarkDevices
import HarkTestSupport
import Synchronization
import Testing

/// `stage2.backend: openai`: `say` beyond the grammar goes to an OpenAI-compatible server first —
/// a real one (llama-cpp-python's server with SmolLM2 on loopback), and a scripted one for what a
/// real server will not do on demand (a known answer, an error, silence) — and to the local worker
/// when the server fails.
@Suite(.serialized) struct Stage2RemoteTests {
    /// A configuration with the openai backend at `url` and the local worker on SmolLM2.
    static func config(url: String, _ more: String = "") throws -> String {
        try Stage2SayTests.config("""
              max_tokens: 400
              backend: openai
              openai:
                url: \(url)
                model: smollm2
            \(more)
            """)
    }

    static func say(_ text: String, _ harkd: RunningHarkd, dryRun: Bool = true) throws -> Finished {
        try harkctl(["say"] + (dryRun ? ["--dry-run"] : []) + [text, "--json", "--timeout", "300"], socket: harkd.socket, timeout: 310)
    }

    @Test func givenALlamaCppServer_whenTextsBeyondTheGrammarAreSaid_thenItAnswersWithinTheSchemaAndTheWorkerIsNeverStarted() async throws {
        let server = try LlamaCppServer(model: Stage2SayTests.smol)
        defer { server.stop() }
        let config = try Self.config(url: server.url + "/v1", "    response_format: json_object\n    timeout: 120\n")
        let harkd = try await offThePool { try RunningHarkd(config: config) }
        defer { harkd.stop() }
        try await offThePool {
            for text in ["make it cozy in the living room", "it's too dark in the kitchen"] {
                let said = try Self.say(text, harkd)
                let json = try #require(said.json, "\(said)")
                #expect(json["via"] == .string("openai") && json["stage"] == .number(2), "\(text): \(said)")
                // The schema held the server to the catalog: every action parses and validates (the
                // voice policy may still refuse one), or there were none.
                for action in json["actions"]?.items ?? [] {
                    #expect(["valid", "refused"].contains(action["status"]?.stringValue ?? ""), "\(text): \(action)")
                }
            }
            let events = Stage2SayTests.stage2Events(harkd)
            #expect(Stage2SayTests.states(harkd) == ["answered", "answered"], "the server answered both; the worker never started: \(events)")
            for answered in events {
                #expect(answered["via"] == .string("openai") && (answered["remote_ms"]?.numberValue ?? 0) > 0, "\(answered)")
                #expect((answered["prompt_tokens"]?.numberValue ?? 0) > 150, "the catalog went with the request: \(answered)")
            }
            #expect(server.log.components(separatedBy: "POST /v1/chat/completions HTTP/1.1\" 200").count - 1 == 2, "\(server.log)")
        }
    }

    @Test func givenAScriptedServer_whenATextIsSaid_thenTheRequestCarriesModelSchemaCatalogAndKey_andTheAnswerIsValidated() async throws {
        // Two actions: one the catalog accepts, one out of range (a server may ignore the schema's
        // bounds; harkd validates the answer as it would the local model's).
        let content = #"{"actions":[{"device":"kitchen_light","command":"turn_on","args":{}},{"device":"kitchen_light","command":"set_brightness","args":{"percent":150}}]}"#
        let server = try HTTPTestServer { _ in
            .respond(status: 200, body: #"{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":\#(JSONValue.quote(content))},"finish_reason":"stop"}],"usage":{"prompt_tokens":321,"completion_tokens":40}}"#)
        }
        defer { server.stop() }
        let config = try Self.config(url: server.url + "/v1/", "    api_key_env: HARK_TEST_OPENAI_KEY\n")
        let harkd = try await offThePool { try RunningHarkd(config: config, environment: ["HARK_TEST_OPENAI_KEY": "sk-test-123"]) }
        defer { harkd.stop() }
        try await offThePool {
            let said = try Self.say("brighten up the kitchen", harkd)
            let json = try #require(said.json, "\(said)")
            #expect(json["via"] == .string("openai") && json["understood"] == .bool(true), "\(said)")
            let statuses = (json["actions"]?.items ?? []).map { $0["status"]?.stringValue ?? "" }
            #expect(statuses == ["valid", "invalid"], "\(said)")

            let request = try #require(server.requests.first)
            #expect(request.method == "POST" && request.path == "/v1/chat/completions", "\(request)")
            #expect(request.headers["authorization"] == "Bearer sk-test-123" && request.headers["content-type"] == "application/json")
            let body = try JSONValue.parse(request.body)
            #expect(body["model"] == .string("smollm2") && body["temperature"] == .number(0) && body["max_tokens"] == .number(400))
            let messages = body["messages"]?.items ?? []
            #expect(messages.count == 2 && messages.last?["content"] == .string("brighten up the kitchen"))
            let system = messages.first?["content"]?.stringValue ?? ""
            #expect(system.contains("kitchen_light light kitchen: kitchen light") && system.contains("Commands: light turn_on turn_off set_brightness(percent)"), "\(system)")
            // OpenAI's json_schema, strict; the schema's actions are the catalog's.
            let format = body["response_format"]
            #expect(format?["type"] == .string("json_schema") && format?["json_schema"]?["strict"] == .bool(true))
            let schema = try #require(format?["json_schema"]?["schema"])
            let alternatives = schema["properties"]?["actions"]?["items"]?["anyOf"]?.items ?? []
            let devices = Set(alternatives.compactMap { $0["properties"]?["device"]?["const"]?.stringValue })
            #expect(devices.contains("kitchen_light") && devices.contains("front_door") && devices.count > 10, "\(devices)")
            let brightness = alternatives.first { $0["properties"]?["device"]?["const"] == .string("kitchen_light") && $0["properties"]?["command"]?["const"] == .string("set_brightness") }
            let percent = brightness?["properties"]?["args"]?["properties"]?["percent"]
            #expect(percent?["minimum"] == .number(0) && percent?["maximum"] == .number(100) && percent?["type"] == .string("integer"), "\(String(describing: brightness))")
            #expect(schema["properties"]?["actions"]?["maxItems"] == .number(8))
            #expect(Stage2SayTests.states(harkd) == ["answered"])
        }
    }

    /// What the scripted server does with the next request.
    enum Misbehaviour: Sendable {
        case status500, notJSON, cutOff, silent
    }

    @Test func givenAFailingServer_whenATextIsSaid_thenTheFailureIsReportedInOneLineAndTheLocalWorkerAnswers() async throws {
        let mode = Mutex(Misbehaviour.status500)
        let server = try HTTPTestServer { _ in
            switch mode.withLock({ $0 }) {
            case .status500: return .respond(status: 500, body: "{\"error\":{\"message\":\"model overloaded\"}}")
            case .notJSON: return .respond(status: 200, body: "<html>gateway</html>")
            case .cutOff:
                return .respond(status: 200, body: #"{"choices":[{"message":{"content":"{\"actions\":[{\"device\":"},"finish_reason":"length"}]}"#)
            case .silent: return .silent
            }
        }
        defer { server.stop() }
        let closed = try HTTPTestServer()
        closed.stop()
        let cases: [(Misbehaviour?, String)] = [
            (.status500, "answered HTTP 500: {\"error\":{\"message\":\"model overloaded\"}}"),
            (.notJSON, "answered with something that is not JSON: <html>gateway</html>"),
            (.cutOff, "answer did not end within 400 tokens (stage2.max_tokens)"),
            (.silent, "did not answer POST \(server.url)/v1/chat/completions within 1 s"),
        ]
        let config = try Self.config(url: server.url + "/v1", "    timeout: 1\n")
        let harkd = try await offThePool { try RunningHarkd(config: config) }
        defer { harkd.stop() }
        try await offThePool {
            for (misbehaviour, message) in cases {
                mode.withLock { $0 = misbehaviour! }
                let before = Stage2SayTests.stage2Events(harkd).count
                let said = try Self.say("make it cozy in the living room", harkd)
                #expect(said.json?["via"] == .string("model"), "\(message): the local worker answered: \(said)")
                let events = Array(Stage2SayTests.stage2Events(harkd).dropFirst(before))
                let fallback = events.first { $0["state"] == .string("fallback") }
                let text = fallback?["message"]?.stringValue ?? ""
                #expect(text.contains(message) && !text.contains("\n"), "\(text)")
                #expect(events.last?["state"] == .string("answered") && events.last?["via"] == .string("model"), "\(events)")
            }
            #expect(harkd.log.contains("the OpenAI-compatible server failed, the local worker answers"))
            #expect(Stage2SayTests.states(harkd).filter { $0 == "loading" }.count == 1, "one worker served every fallback")
        }
        harkd.stop()

        // Nothing listening: the same, and the message points at the setting.
        let unreachable = try await offThePool { try RunningHarkd(config: try Self.config(url: closed.url + "/v1")) }
        defer { unreachable.stop() }
        try await offThePool {
            let said = try Self.say("make it cozy in the living room", unreachable)
            #expect(said.json?["via"] == .string("model"), "\(said)")
            let fallback = Stage2SayTests.stage2Events(unreachable).first { $0["state"] == .string("fallback") }
            #expect(fallback?["message"]?.stringValue?.contains("cannot reach the OpenAI-compatible server for POST \(closed.url)/v1/chat/completions; check stage2.openai.url") == true,
                    "\(String(describing: fallback))")
        }
    }

    @Test func givenAnAPIKeyVariableThatIsNotSet_whenHarkdStarts_thenItSaysWhichInOneLine() async throws {
        let config = try Self.config(url: "http://127.0.0.1:9/v1", "    api_key_env: HARK_TEST_UNSET_KEY\n")
        let failure = try await offThePool { () -> String? in
            do { _ = try RunningHarkd(config: config) } catch { return "\(error)" }
            return nil
        }
        #expect(failure?.contains("stage2.openai.api_key_env: HARK_TEST_UNSET_KEY is not set in harkd's environment") == true, "\(String(describing: failure))")
    }
}

/// llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`, from `make venv-llm`)
/// on a free loopback port, serving one GGUF model on one thread.
final class LlamaCppServer: @unchecked Sendable {
    let port: UInt16
    let process = Process()
    let logPath: String
    var url: String { "http://127.0.0.1:\(port)" }
    var log: String { readTextFile(logPath) ?? "" }

    init(model: String, startTimeout: Double = 120) throws {
        let python = repositoryRoot + "/.venv/bin/python"
        let check = runShell("'\(python)' -c 'import llama_cpp.server.app' 2>&1")
        guard check.status == 0 else {
            throw ServerFailure("llama-cpp-python's server is not in .venv (make venv-llm installs it): \(check.output)")
        }
        // A free port: bound by a scripted server, then released for llama_cpp.server.
        let probe = try HTTPTestServer()
        port = probe.port
        probe.stop()
        logPath = makeTemporaryDirectory("llama-cpp-server") + "/server.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port", "\(port)",
                             "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1"]
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(startTimeout)
        while !Self.listening(port) {
            guard process.isRunning, Date() < deadline else {
                stop()
                throw ServerFailure("llama_cpp.server did not start listening on \(port): \(self.log.suffix(2000))")
            }
            usleep(100_000)
        }
    }

    /// SIGTERM, then SIGKILL after 5 s (uvicorn may wait on its workers), and the exit.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    static func listening(_ port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } == 0
        }
    }
}

struct ServerFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
