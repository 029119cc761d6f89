import FoundationEssentials

/// One JSON message between harkd and the stage-2 worker. `op` says what it is:
///
/// from harkd:  `transcribe` (an audio frame follows), `generate` (`prompt`, `max_tokens`, `stop`,
///              and `grammar`: the answer is constrained to the catalog's action line, the tokens
///              it forces speculated unless `speculate` is false), `prime`
///              (`prompt`: the fixed start of the prompts to come, computed now or restored from the
///              worker's cache directory), `quit`;
/// from worker: `ready` (after loading, with `timings`: `whisper_ms`, `llm_ms`, `rss_mb`),
///              `transcript` (`text`, `log_probability`, `timings.transcribe_ms`),
///              `generated` (`text`, `prompt_tokens`, `tokens`, `timings.prefill_ms`, `decode_ms`,
///              `reused_tokens` (the prompt's start already in the worker's cache), and with a
///              grammar `timings.constraint_us`, the constraint's cost per token, and the
///              speculation's `decode_passes`, `drafted_tokens` and `accepted_tokens`),
///              `primed` (`text`: `computed`, `disk` or `cached`, `prompt_tokens`, `timings.prefill_ms`
///              or `restore_ms` and `saved_ms`),
///              `error` (`message`; without an `id` the worker cannot go on and exits).
/// Every request carries an `id` its answer repeats.
public struct Stage2Message: Codable, Sendable, Equatable {
    public var op: String
    public var id: Int?
    public var text: String?
    public var prompt: String?
    public var maxTokens: Int?
    public var stop: [String]?
    public var grammar: ActionGrammar.Spec?
    /// With a grammar: whether the tokens it forces are evaluated with the chosen token in one
    /// pass and checked (nil: yes). The answer is the same either way; false is for comparisons.
    public var speculate: Bool?
    public var message: String?
    public var promptTokens: Int?
    public var reusedTokens: Int?
    public var tokens: Int?
    public var logProbability: Double?
    public var timings: [String: Double]?

    enum CodingKeys: String, CodingKey {
        case op, id, text, prompt, stop, grammar, speculate, message, tokens, timings
        case maxTokens = "max_tokens"
        case promptTokens = "prompt_tokens"
        case reusedTokens = "reused_tokens"
        case logProbability = "log_probability"
    }

    public init(op: String, id: Int? = nil) {
        self.op = op
        self.id = id
    }

    /// The longest prompt or text a message may carry (characters).
    public static let maxText = 64 * 1024
    public static let maxTokensLimit = 4096
    public static let maxGrammarDevices = 1000

    init(json: ArraySlice<UInt8>, source: String) throws(Stage2Error) {
        do {
            self = try JSONDecoder().decode(Stage2Message.self, from: Data(json))
        } catch {
            let head = String(decoding: json.prefix(60), as: UTF8.self)
            throw Stage2Error(.badFrame, "\(source): message is not a stage-2 message (\(head)…): \(Self.reason(error))")
        }
        guard !op.isEmpty, op.count <= 32 else { throw Stage2Error(.badFrame, "\(source): message has no valid 'op'") }
        for (field, value) in [("text", text), ("prompt", prompt), ("message", message)] {
            if let value, value.count > Self.maxText {
                throw Stage2Error(.badFrame, "\(source): '\(op)' message's \(field) is over \(Self.maxText) characters")
            }
        }
        if let maxTokens, !(0...Self.maxTokensLimit).contains(maxTokens) {
            throw Stage2Error(.badFrame, "\(source): '\(op)' message's max_tokens \(maxTokens) is not 0–\(Self.maxTokensLimit)")
        }
        if let stop, stop.count > 8 || stop.contains(where: { $0.isEmpty || $0.count > 64 }) {
            throw Stage2Error(.badFrame, "\(source): '\(op)' message's stop list must be at most 8 non-empty strings of up to 64 characters")
        }
        if let grammar, grammar.devices.count > Self.maxGrammarDevices || grammar.devices.contains(where: { $0.commands.count > 32 }) {
            throw Stage2Error(.badFrame, "\(source): '\(op)' message's grammar has over \(Self.maxGrammarDevices) devices or a device with over 32 commands")
        }
    }

    func jsonBytes() throws(Stage2Error) -> [UInt8] {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return Array(try encoder.encode(self))
        } catch {
            throw Stage2Error(.badFrame, "stage-2 message '\(op)' cannot be encoded: \(error)")
        }
    }

    private static func reason(_ error: any Error) -> String {
        if let decoding = error as? DecodingError {
            switch decoding {
            case let .typeMismatch(_, context), let .valueNotFound(_, context), let .keyNotFound(_, context), let .dataCorrupted(context):
                let path = context.codingPath.map(\.stringValue).joined(separator: ".")
                return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
            @unknown default:
                return "\(error)"
            }
        }
        return "\(error)"
    }
}
