import HarkDevices

/// The wire format: JSON-RPC 2.0 (https://www.jsonrpc.org/specification), one message per line
/// (UTF-8, ending in "\n"), at most 64 KiB each.
///
///     → {"jsonrpc":"2.0","id":1,"method":"devices.get","params":{"id":"kitchen_light"}}
///     ← {"jsonrpc":"2.0","id":1,"result":{…}}
///     ← {"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"…","data":{"reason":"method_not_found"}}}
///     ← {"jsonrpc":"2.0","method":"event","params":{"type":"wake",…}}     after events.subscribe
///
/// A request without an `id` is a notification: it runs, and nothing is answered (§4.1). A batch (an
/// array of requests) is answered with an array of responses (§6). `params` must be an object.
public enum Wire {
    public static let version = "2.0"
    /// The method name of event notifications.
    public static let eventMethod = "event"
    /// The `type`s of harkd's events (DESIGN §4), what `events.subscribe` can filter on.
    public static let eventTypes = ["actions", "error", "listen", "refused", "rejected", "stage2", "state", "timer", "transcript",
                                    "utterance", "wake"]

    /// `{"jsonrpc":"2.0","id":…,"result":…}`
    public static func result(id: JSONValue, _ result: JSONValue) -> String {
        #"{"jsonrpc":"2.0","id":\#(id.jsonText),"result":\#(result.jsonText)}"#
    }

    /// `{"jsonrpc":"2.0","id":…,"error":{"code":…,"message":…,"data":{"reason":…}}}`
    public static func error(id: JSONValue, _ error: ControlError) -> String {
        #"{"jsonrpc":"2.0","id":\#(id.jsonText),"error":{"code":\#(error.code.rpcCode),"message":\#(JSONValue.quote(error.message)),"data":{"reason":\#(JSONValue.quote(error.code.name))}}}"#
    }

    /// An event notification around an event's JSON object (already serialised).
    public static func event(_ eventJSON: String) -> String {
        #"{"jsonrpc":"2.0","method":"event","params":\#(eventJSON)}"#
    }

    /// A request line as a client sends it.
    public static func request(id: JSONValue?, method: String, params: [String: JSONValue]) -> String {
        let idField = id.map { #","id":\#($0.jsonText)"# } ?? ""
        return #"{"jsonrpc":"2.0"\#(idField),"method":\#(JSONValue.quote(method)),"params":\#(JSONValue.object(params).jsonText)}"#
    }

    /// One request of a message, checked against JSON-RPC 2.0 §4.
    enum Parsed {
        /// `id` nil: a notification.
        case request(id: JSONValue?, method: ControlMethod, params: [String: JSONValue])
        /// Not answerable as asked; `id` is null when the request's own id could not be read.
        /// `notification`: the request had no id, so no answer is sent (§4.1), even for an error.
        case invalid(id: JSONValue, ControlError, notification: Bool)
    }

    static func parse(_ value: JSONValue) -> Parsed {
        guard case let .object(members) = value else {
            return .invalid(id: .null, ControlError(.invalidRequest, "a request must be a JSON object with jsonrpc, method and id"), notification: false)
        }
        let id = members["id"]
        switch id {
        case nil, .null?, .string?, .number?: break
        default:
            return .invalid(id: .null, ControlError(.invalidRequest, "the request \"id\" must be a string, a number or null"), notification: false)
        }
        let answerID = id ?? .null
        let notification = id == nil
        guard members["jsonrpc"] == .string(version) else {
            return .invalid(id: answerID, ControlError(.invalidRequest, "the request must have \"jsonrpc\": \"2.0\""), notification: notification)
        }
        if let extra = members.keys.sorted().first(where: { !["jsonrpc", "id", "method", "params"].contains($0) }) {
            return .invalid(id: answerID, ControlError(.invalidRequest, "unknown request member \"\(shown(extra))\""), notification: notification)
        }
        guard case let .string(name)? = members["method"] else {
            return .invalid(id: answerID, ControlError(.invalidRequest, "the request has no \"method\" string"), notification: notification)
        }
        guard let method = ControlMethod(rawValue: name) else {
            return .invalid(id: answerID, ControlError(.methodNotFound, "no method '\(shown(name))' (methods: \(ControlMethod.allCases.map(\.rawValue).joined(separator: ", ")))"),
                            notification: notification)
        }
        let params: [String: JSONValue]
        switch members["params"] {
        case nil, .null?: params = [:]
        case let .object(object)?: params = object
        default:
            return .invalid(id: answerID, ControlError(.invalidParams, "\(name): \"params\" must be an object of named parameters"), notification: notification)
        }
        return .request(id: id, method: method, params: params)
    }

    /// C0 controls, DEL and C1 controls: what could break a log line, a terminal or a line protocol.
    public static func hasControlCharacters(_ text: String) -> Bool {
        text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    /// Text from a peer made safe to quote in a message: controls escaped, at most 64 characters.
    public static func shown(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(64) {
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return text.unicodeScalars.count > 64 ? out + "…" : out
    }
}
