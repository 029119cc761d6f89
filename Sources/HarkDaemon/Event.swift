/// An event of the public contract (DESIGN §4): one JSON object per line, `type` first.
/// `t` values are seconds of audio from the start of the input.
public enum Event: Sendable, Equatable {
    case wake(word: String, score: Double, t: Double)
    case error(kind: String, message: String, t: Double?)

    /// The JSON line, without the newline. Keys keep the order of the contract.
    public var jsonLine: String {
        switch self {
        case let .wake(word, score, t):
            return #"{"type":"wake","word":\#(Self.quote(word)),"score":\#(Self.number(score, digits: 4)),"t":\#(Self.number(t, digits: 3))}"#
        case let .error(kind, message, t):
            let time = t.map { #","t":\#(Self.number($0, digits: 3))"# } ?? ""
            return #"{"type":"error","kind":\#(Self.quote(kind)),"message":\#(Self.quote(message))\#(time)}"#
        }
    }

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
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
