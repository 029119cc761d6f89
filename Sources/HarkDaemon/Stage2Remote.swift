#if canImport(Glibc)
import Glibc
#endif
import HarkDevices
import HarkStage2

/// Stage 2's scale-out tier (`stage2.backend: openai`): the request goes to an OpenAI-compatible
/// chat-completions server (vLLM, SGLang, llama.cpp's server, Ollama, llama-cpp-python) with the
/// catalog's actions as a JSON schema for the response, and the answer is read and validated like
/// the local model's. harkd falls back to the local worker when the server fails (Stage2Service).
public struct Stage2Remote: Sendable, Equatable {
    /// How the schema is asked for: OpenAI's `json_schema` (vLLM, SGLang, llama.cpp's server,
    /// Ollama), or `json_object` with a `schema` member (llama-cpp-python's server, which ignores
    /// `json_schema`).
    public enum ResponseFormat: String, Sendable, CaseIterable {
        case jsonSchema = "json_schema", jsonObject = "json_object"
    }

    /// The API's base URL, up to and including its version (`http://127.0.0.1:8080/v1`); requests go
    /// to `<url>/chat/completions`.
    public var url: String
    public var model: String
    /// The environment variable with the API key (sent as a bearer token); nil: none is sent.
    public var apiKeyEnvironment: String?
    /// Seconds for the whole exchange; past it the local worker answers.
    public var timeout = 10.0
    public var responseFormat = ResponseFormat.jsonSchema

    public init(url: String, model: String) {
        self.url = url
        self.model = model
    }

    /// The largest answer read (the rest is dropped; an answer that long is not an action list).
    static let bodyLimit = 256 * 1024

    /// What the server answered.
    struct Answer {
        var actions: [Action]
        var milliseconds: Double
        var promptTokens: Int?
        var completionTokens: Int?
    }

    /// Blocks (call it on stage 2's queue): the actions the server gives for `text`, or a one-line
    /// error saying what went wrong where (no answer, an HTTP error, an answer that is not the schema).
    func answer(_ text: String, prompt: Stage2Prompt, maxTokens: Int) throws(DaemonError) -> Answer {
        let started = ContinuousClock.now
        var token: String?
        if let name = apiKeyEnvironment {
            guard let value = getenv(name).map({ String(cString: $0) }), !value.isEmpty else {
                throw DaemonError("stage2.openai.api_key_env: \(name) is not set in harkd's environment")
            }
            token = value
        }
        let endpoint = url + "/chat/completions"
        let response: HTTPExchange.Response
        do {
            response = try HTTPExchange.post(url: endpoint, json: body(text, prompt: prompt, maxTokens: maxTokens), bearer: token,
                                             timeout: timeout, bodyLimit: Self.bodyLimit, service: "the OpenAI-compatible server",
                                             settings: ("stage2.openai.url", "stage2.openai.timeout"), what: "stage 2")
        } catch {
            throw DaemonError(error.message + (error.cause.map { " (\($0))" } ?? ""))
        }
        let bodyText = String(decoding: response.body, as: UTF8.self)
        guard (200..<300).contains(response.status) else {
            throw DaemonError("stage 2: POST \(endpoint) answered HTTP \(response.status): \(Stage2Prompt.head(Self.oneLine(bodyText)))")
        }
        let (content, usage) = try Self.content(of: bodyText, from: endpoint, maxTokens: maxTokens)
        let actions = try Self.actions(in: content, from: endpoint)
        return Answer(actions: actions, milliseconds: (ContinuousClock.now - started) / .milliseconds(1),
                      promptTokens: usage["prompt_tokens"].flatMap(\.numberValue).map { Int($0) },
                      completionTokens: usage["completion_tokens"].flatMap(\.numberValue).map { Int($0) })
    }

    // MARK: The request

    /// The chat-completions request: greedy, the catalog in the system message, the schema as the
    /// response format.
    func body(_ text: String, prompt: Stage2Prompt, maxTokens: Int) -> String {
        let schema = Self.schema(prompt.grammar)
        let format: String
        switch responseFormat {
        case .jsonSchema:
            format = #"{"type":"json_schema","json_schema":{"name":"actions","strict":true,"schema":\#(schema)}}"#
        case .jsonObject:
            format = #"{"type":"json_object","schema":\#(schema)}"#
        }
        return #"{"model":\#(JSONValue.quote(model)),"temperature":0,"max_tokens":\#(maxTokens),"stream":false,"#
            + #""messages":[{"role":"system","content":\#(JSONValue.quote(Self.instructions(prompt)))},"#
            + #"{"role":"user","content":\#(JSONValue.quote(text))}],"response_format":\#(format)}"#
    }

    /// The system message: the catalog as the local model sees it, and what the answer must be.
    static func instructions(_ prompt: Stage2Prompt) -> String {
        let catalog = prompt.catalogText.split(separator: "\n").filter { !$0.hasPrefix("Answer:") }.joined(separator: "\n")
        return """
            You turn a request to a smart speaker into actions on the devices below.
            \(catalog)
            Answer with a JSON object {"actions": [...]}, each action {"device": ID, "command": NAME, "args": {...}} \
            using only the devices and commands above: percent is 0-100, celsius within the device's range, seconds \
            for a timer, level low, medium or high. Give an empty list when the request asks for nothing these devices do.
            """
    }

    /// The JSON schema of an answer over the grammar's catalog, keys in the order the answer is
    /// written: `{"actions":[{"device":…,"command":…,"args":{…}},…]}`, each device only with its
    /// own commands and each argument within what the validator accepts.
    static func schema(_ spec: ActionGrammar.Spec) -> String {
        var alternatives: [String] = []
        for device in spec.devices {
            let bare = device.commands.filter { $0.argument == nil }.map(\.name)
            if !bare.isEmpty {
                alternatives.append(action(device.id, commands: bare, args: #"{"type":"object","properties":{},"additionalProperties":false}"#))
            }
            for command in device.commands {
                guard let argument = command.argument else { continue }
                let value: String
                switch argument {
                case "percent": value = #"{"type":"integer","minimum":0,"maximum":100}"#
                case "seconds": value = #"{"type":"integer","minimum":1,"maximum":86400}"#
                case "level": value = #"{"type":"string","enum":["low","medium","high"]}"#
                case "celsius":
                    value = #"{"type":"number","minimum":\#(JSONValue.formatNumber(command.minimum ?? 5)),"#
                        + #""maximum":\#(JSONValue.formatNumber(command.maximum ?? 35)),"multipleOf":0.5}"#
                default: value = "{}"
                }
                let args = #"{"type":"object","properties":{\#(JSONValue.quote(argument)):\#(value)},"required":[\#(JSONValue.quote(argument))],"additionalProperties":false}"#
                alternatives.append(action(device.id, commands: [command.name], args: args))
            }
        }
        let items = alternatives.count == 1 ? alternatives[0] : #"{"anyOf":[\#(alternatives.joined(separator: ","))]}"#
        let limit = spec.maxActions.map { #","maxItems":\#($0)"# } ?? ""
        return #"{"type":"object","properties":{"actions":{"type":"array","items":\#(items)\#(limit)}},"#
            + #""required":["actions"],"additionalProperties":false}"#
    }

    private static func action(_ device: String, commands: [String], args: String) -> String {
        let command = commands.count == 1 ? #"{"const":\#(JSONValue.quote(commands[0]))}"#
            : #"{"enum":[\#(commands.map(JSONValue.quote).joined(separator: ","))]}"#
        return #"{"type":"object","properties":{"device":{"const":\#(JSONValue.quote(device))},"command":\#(command),"args":\#(args)},"#
            + #""required":["device","command","args"],"additionalProperties":false}"#
    }

    // MARK: The answer

    /// The first choice's message content, and the usage object (empty when absent); an answer cut
    /// off at `maxTokens` is an error.
    static func content(of body: String, from endpoint: String, maxTokens: Int) throws(DaemonError) -> (String, [String: JSONValue]) {
        let value: JSONValue
        do { value = try JSONValue.parse(body) } catch {
            throw DaemonError("stage 2: \(endpoint) answered with something that is not JSON: \(Stage2Prompt.head(oneLine(body)))")
        }
        guard let object = value.objectValue else { throw DaemonError("stage 2: \(endpoint) answered with JSON that is not an object") }
        if let message = object["error"]?.objectValue?["message"]?.stringValue {
            throw DaemonError("stage 2: \(endpoint) answered with an error: \(Stage2Prompt.head(oneLine(message)))")
        }
        guard case let .array(choices)? = object["choices"], let first = choices.first?.objectValue,
              let content = first["message"]?.objectValue?["content"]?.stringValue else {
            throw DaemonError("stage 2: \(endpoint)'s answer has no choices[0].message.content")
        }
        if first["finish_reason"]?.stringValue == "length" {
            throw DaemonError("stage 2: \(endpoint)'s answer did not end within \(maxTokens) tokens (stage2.max_tokens): \(Stage2Prompt.head(oneLine(content)))")
        }
        return (content, object["usage"]?.objectValue ?? [:])
    }

    /// The actions of a message content: `{"actions":[…]}` as asked, or a bare list.
    static func actions(in content: String, from endpoint: String) throws(DaemonError) -> [Action] {
        let value: JSONValue
        do { value = try JSONValue.parse(content) } catch {
            throw DaemonError("stage 2: \(endpoint)'s message is not JSON: \(Stage2Prompt.head(oneLine(content)))")
        }
        let items: [JSONValue]
        switch value {
        case let .array(list): items = list
        case let .object(members):
            guard case let .array(list)? = members["actions"] else {
                throw DaemonError("stage 2: \(endpoint)'s message has no \"actions\" list: \(Stage2Prompt.head(oneLine(content)))")
            }
            items = list
        default:
            throw DaemonError("stage 2: \(endpoint)'s message is not an action list: \(Stage2Prompt.head(oneLine(content)))")
        }
        var actions: [Action] = []
        for item in items {
            do { actions.append(try Action(json: item)) } catch {
                throw DaemonError("stage 2: \(endpoint)'s message has a malformed action (\(error.message)): \(Stage2Prompt.head(oneLine(content)))")
            }
        }
        return actions
    }

    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}
