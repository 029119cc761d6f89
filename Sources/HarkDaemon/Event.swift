import HarkDevices

/// An event of the public contract (DESIGN §4): one JSON object per line, `type` first.
/// `t` values are seconds of audio from the start of the input.
public enum Event: Sendable, Equatable {
    case wake(word: String, score: Double, t: Double)
    /// Speech after the wake word: `{"type":"utterance","t_start":1.6,"t_end":3.9,"t_endpoint":4.3}`;
    /// `t_endpoint` is when the end of speech was decided (the silence hangover after `t_end`).
    case utterance(tStart: Double, tEnd: Double, tEndpoint: Double)
    /// What a stage heard: `{"type":"transcript","stage":1,"text":"turn off the kitchen light"}`.
    case transcript(stage: Int, text: String)
    /// Speech that is not a command of the stage: `{"type":"rejected","stage":1,"reason":"out_of_grammar","audio":"utt-3"}`;
    /// `audio` names the utterance kept for stage 2 (absent for `no_speech`).
    case rejected(stage: Int, reason: String, audio: String?)
    case error(kind: String, message: String, t: Double?)
    /// A batch of actions from one source with each result: `{"type":"actions","stage":1,"source":"voice1",
    /// "actions":[{"device":…,"command":…,"args":{…},"id":…,"status":"ok","detail":…}],"latency_ms":…}`.
    /// `stage` is present for voice sources only.
    case actions(source: String, stage: Int?, actions: [ActionOutcome], latencyMs: Double)
    /// A policy refusal: `{"type":"refused","stage":1,"source":"voice1","device":"front_door","command":"unlock","reason":"voice_not_allowed","id":…}`.
    case refused(source: String, stage: Int?, device: String, command: String, reason: String, id: String)
    /// A device state change, only the values that changed: `{"type":"state","device":…,"state":{…},"origin":"mqtt"}`.
    case state(device: String, stateJSON: String, origin: String)
    /// A timer of the speaker: `{"type":"timer","id":…,"state":"started|rang|cancelled|missed","seconds":…}`.
    case timer(id: String, state: String, seconds: Int)
    /// Push-to-talk: the command stage listens as if the wake word had fired at `t`:
    /// `{"type":"listen","source":"socket","t":12.4}`.
    case listen(source: String, t: Double)
    /// The always-on stage's power estimate, every 10 s of audio (Event+Power.swift).
    case power(PowerReport)
    /// The governor took or gave back a lever, or cannot meet the budget (Event+Power.swift).
    case governor(GovernorChange)
    /// A stage-2 request's energy on the board: `{"type":"energy","stage":2,"work":"second_pass","cpu_s":0.91,"mj":1121.4}`.
    case energy(stage: Int, work: String, cpuSeconds: Double, millijoules: Double)
    /// The stage-2 worker or a stage-2 request (Stage2Service.swift): `{"type":"stage2","state":"ready","ms":640,…}`.
    case stage2(Stage2Report)

    /// The event's `type`.
    public var type: String {
        switch self {
        case .wake: "wake"
        case .utterance: "utterance"
        case .transcript: "transcript"
        case .rejected: "rejected"
        case .error: "error"
        case .actions: "actions"
        case .refused: "refused"
        case .state: "state"
        case .timer: "timer"
        case .listen: "listen"
        case .power: "power"
        case .governor: "governor"
        case .energy: "energy"
        case .stage2: "stage2"
        }
    }

    /// One action of an `actions` event: the action as JSON plus its journal id, status and detail.
    public struct ActionOutcome: Sendable, Equatable {
        public let actionJSON: String
        public let id: String
        public let status: String
        public let detail: String?
        public init(actionJSON: String, id: String, status: String, detail: String?) {
            self.actionJSON = actionJSON
            self.id = id
            self.status = status
            self.detail = detail
        }
    }

    /// The JSON line, without the newline. Keys keep the order of the contract.
    public var jsonLine: String {
        switch self {
        case let .wake(word, score, t):
            return #"{"type":"wake","word":\#(Self.quote(word)),"score":\#(Self.number(score, digits: 4)),"t":\#(Self.number(t, digits: 3))}"#
        case let .utterance(tStart, tEnd, tEndpoint):
            return #"{"type":"utterance","t_start":\#(Self.number(tStart, digits: 3)),"t_end":\#(Self.number(tEnd, digits: 3)),"t_endpoint":\#(Self.number(tEndpoint, digits: 3))}"#
        case let .transcript(stage, text):
            return #"{"type":"transcript","stage":\#(stage),"text":\#(Self.quote(text))}"#
        case let .rejected(stage, reason, audio):
            let kept = audio.map { #","audio":\#(Self.quote($0))"# } ?? ""
            return #"{"type":"rejected","stage":\#(stage),"reason":\#(Self.quote(reason))\#(kept)}"#
        case let .error(kind, message, t):
            let time = t.map { #","t":\#(Self.number($0, digits: 3))"# } ?? ""
            return #"{"type":"error","kind":\#(Self.quote(kind)),"message":\#(Self.quote(message))\#(time)}"#
        case let .actions(source, stage, actions, latencyMs):
            let items = actions.map { outcome in
                // The action object with the journal fields appended before its closing brace.
                let detail = outcome.detail.map { #","detail":\#(Self.quote($0))"# } ?? ""
                return String(outcome.actionJSON.dropLast()) + #","id":\#(Self.quote(outcome.id)),"status":\#(Self.quote(outcome.status))\#(detail)}"#
            }
            return #"{"type":"actions",\#(Self.stageField(stage))"source":\#(Self.quote(source)),"actions":[\#(items.joined(separator: ","))],"latency_ms":\#(Self.number(latencyMs, digits: 2))}"#
        case let .refused(source, stage, device, command, reason, id):
            return #"{"type":"refused",\#(Self.stageField(stage))"source":\#(Self.quote(source)),"device":\#(Self.quote(device)),"command":\#(Self.quote(command)),"reason":\#(Self.quote(reason)),"id":\#(Self.quote(id))}"#
        case let .state(device, stateJSON, origin):
            return #"{"type":"state","device":\#(Self.quote(device)),"state":\#(stateJSON),"origin":\#(Self.quote(origin))}"#
        case let .timer(id, state, seconds):
            return #"{"type":"timer","id":\#(Self.quote(id)),"state":\#(Self.quote(state)),"seconds":\#(seconds)}"#
        case let .listen(source, t):
            return #"{"type":"listen","source":\#(Self.quote(source)),"t":\#(Self.number(t, digits: 3))}"#
        case let .power(report):
            return report.jsonLine
        case let .governor(change):
            return change.jsonLine
        case let .energy(stage, work, cpuSeconds, millijoules):
            return #"{"type":"energy","stage":\#(stage),"work":\#(Self.quote(work)),"cpu_s":\#(Self.number(cpuSeconds, digits: 4)),"mj":\#(Self.number(millijoules, digits: 1))}"#
        case let .stage2(report):
            return report.jsonLine
        }
    }

    static func stageField(_ stage: Int?) -> String { stage.map { #""stage":\#($0),"# } ?? "" }

    /// A JSON number rounded to `digits` decimals, without trailing zeros ("1.28", "0.9713", "2").
    static func number(_ value: Double, digits: Int) -> String {
        guard value.isFinite else { return "null" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        if rounded == 0 { return "0" }
        if rounded == rounded.rounded(), abs(rounded) < 1e15 { return String(Int64(rounded)) }
        // The shortest decimal that reads back as `rounded`: at most `digits` decimals.
        return "\(rounded)"
    }

    /// A JSON string literal with the escapes RFC 8259 §7 requires.
    static func quote(_ text: String) -> String { JSONValue.quote(text) }
}
