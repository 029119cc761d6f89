import HarkStage2
import Testing

/// The answer-line automaton on a small spec: what it takes, what it refuses, and its bad specs.
@Suite struct ActionGrammarTests {
    static let spec = ActionGrammar.Spec(devices: [
        .init(id: "kitchen_light", commands: [.init(name: "turn_on"), .init(name: "turn_off"), .init(name: "set_brightness", argument: "percent")]),
        .init(id: "kitchen_fan", commands: [.init(name: "turn_on"), .init(name: "set_speed", argument: "level")]),
        .init(id: "heating", commands: [.init(name: "set_temperature", argument: "celsius", minimum: 10, maximum: 28)]),
        .init(id: "speaker", commands: [.init(name: "start_timer", argument: "seconds"), .init(name: "cancel_timer")]),
    ])

    static func accepts(_ line: String) throws -> Bool {
        let grammar = try ActionGrammar(spec)
        let cursor = grammar.advance(grammar.start, Array(line.utf8))
        return cursor.isViable && grammar.isComplete(cursor)
    }

    static func viablePrefix(_ text: String) throws -> Bool {
        let grammar = try ActionGrammar(spec)
        return grammar.advance(grammar.start, Array(text.utf8)).isViable
    }

    @Test(arguments: [
        "[]\n",
        "[{\"device\":\"kitchen_light\",\"command\":\"turn_on\",\"args\":{}}]\n",
        "[{\"device\":\"kitchen_light\",\"command\":\"set_brightness\",\"args\":{\"percent\":0}}]\n",
        "[{\"device\":\"kitchen_light\",\"command\":\"set_brightness\",\"args\":{\"percent\":100}}]\n",
        "[{\"device\":\"kitchen_fan\",\"command\":\"set_speed\",\"args\":{\"level\":\"medium\"}}]\n",
        "[{\"device\":\"heating\",\"command\":\"set_temperature\",\"args\":{\"celsius\":10}}]\n",
        "[{\"device\":\"heating\",\"command\":\"set_temperature\",\"args\":{\"celsius\":21.5}}]\n",
        "[{\"device\":\"heating\",\"command\":\"set_temperature\",\"args\":{\"celsius\":28}}]\n",
        "[{\"device\":\"speaker\",\"command\":\"start_timer\",\"args\":{\"seconds\":300}}]\n",
        "[{\"device\":\"kitchen_light\",\"command\":\"turn_off\",\"args\":{}},{\"device\":\"speaker\",\"command\":\"cancel_timer\",\"args\":{}}]\n",
    ])
    func givenAValidAnswerLine_thenItIsComplete(_ line: String) throws {
        #expect(try Self.accepts(line), "\(line)")
    }

    @Test(arguments: [
        ("an unknown device", "[{\"device\":\"garage\""),
        ("another device's command", "[{\"device\":\"kitchen_fan\",\"command\":\"set_brightness\""),
        ("percent over 100", "[{\"device\":\"kitchen_light\",\"command\":\"set_brightness\",\"args\":{\"percent\":101"),
        ("a leading zero", "[{\"device\":\"kitchen_light\",\"command\":\"set_brightness\",\"args\":{\"percent\":05"),
        ("a temperature under the device's range", "[{\"device\":\"heating\",\"command\":\"set_temperature\",\"args\":{\"celsius\":9}"),
        ("a temperature over it", "[{\"device\":\"heating\",\"command\":\"set_temperature\",\"args\":{\"celsius\":28.5"),
        ("a quarter degree", "[{\"device\":\"heating\",\"command\":\"set_temperature\",\"args\":{\"celsius\":20.2"),
        ("an unknown fan level", "[{\"device\":\"kitchen_fan\",\"command\":\"set_speed\",\"args\":{\"level\":\"fast"),
        ("a zero-second timer", "[{\"device\":\"speaker\",\"command\":\"start_timer\",\"args\":{\"seconds\":0"),
        ("an argument the command has not", "[{\"device\":\"kitchen_light\",\"command\":\"turn_on\",\"args\":{\"percent\""),
        ("spaces", "[ {"),
        ("text after the line", "[]\nOK"),
        ("prose", "Sure"),
    ])
    func givenTextOutsideTheLanguage_thenItIsNotAPrefix(_ what: String, _ text: String) throws {
        #expect(try !Self.viablePrefix(text), "\(what): \(text)")
    }

    @Test func givenAPartialLine_thenItIsViableButNotComplete_andTheNextBytesAreThoseThatFit() throws {
        let grammar = try ActionGrammar(Self.spec)
        let partial = grammar.advance(grammar.start, Array("[{\"device\":\"kitchen_".utf8))
        #expect(partial.isViable && !grammar.isComplete(partial))
        let next = grammar.nextBytes(partial)
        #expect((0..<256).filter { next[$0] }.map { Character(Unicode.Scalar(UInt8($0))) } == ["f", "l"])
        let unfinished = grammar.advance(grammar.start, Array("[]".utf8))
        #expect(unfinished.isViable && !grammar.isComplete(unfinished))
        let bytes = Array("ght\",\"command\":\"t".utf8)
        #expect(bytes.withUnsafeBufferPointer { grammar.allows(grammar.advance(partial, Array("li".utf8)), $0) })
        #expect(!Array("x".utf8).withUnsafeBufferPointer { grammar.allows(partial, $0) })
    }

    @Test func givenAMaximumOfActions_thenTheListMustCloseAfterIt() throws {
        var spec = Self.spec
        spec.maxActions = 2
        let grammar = try ActionGrammar(spec)
        let one = "{\"device\":\"kitchen_light\",\"command\":\"turn_on\",\"args\":{}}"
        let two = grammar.advance(grammar.start, Array("[\(one),\(one)".utf8))
        #expect(two.isViable && two.actions == 2)
        #expect(!grammar.advance(two, Array(",".utf8)).isViable)
        #expect(!Array(",".utf8).withUnsafeBufferPointer { grammar.allows(two, $0) })
        #expect(grammar.nextBytes(two)[Int(UInt8(ascii: "]"))] && !grammar.nextBytes(two)[Int(UInt8(ascii: ","))])
        #expect(grammar.isComplete(grammar.advance(two, Array("]\n".utf8))))
        let unlimited = try ActionGrammar(Self.spec)
        #expect(unlimited.advance(unlimited.start, Array("[\(one),\(one),\(one)".utf8)).actions == 3)
    }

    /// The bytes the grammar leaves no choice in (what the worker speculates): up to the next choice,
    /// none at a choice, the line's end after the last allowed action.
    @Test(arguments: [
        ("[", ""),
        ("[{", "\"device\":\""),
        ("[{\"device\":\"kitchen_", ""),
        ("[{\"device\":\"kitchen_l", "ight\",\"command\":\""),
        ("[{\"device\":\"heating\",\"command\":\"", "set_temperature\",\"args\":{\"celsius\":"),
        ("[{\"device\":\"kitchen_light\",\"command\":\"turn_on", "\",\"args\":{}}"),
        ("[{\"device\":\"kitchen_fan\",\"command\":\"set_speed\",\"args\":{\"level\":\"m", "edium\"}}"),
        ("[{\"device\":\"speaker\",\"command\":\"cancel_timer\",\"args\":{}}", ""),
        ("[]", "\n"),
        ("[]\n", ""),
    ])
    func givenAPartialLine_thenTheForcedBytesRunToTheNextChoice(_ partial: String, _ forced: String) throws {
        let grammar = try ActionGrammar(Self.spec)
        let cursor = grammar.advance(grammar.start, Array(partial.utf8))
        #expect(cursor.isViable)
        #expect(String(decoding: grammar.forcedBytes(cursor), as: UTF8.self) == forced, "\(partial)")
        #expect(grammar.forcedBytes(cursor, limit: 3).count == min(3, forced.utf8.count))
        var one = Self.spec
        one.maxActions = 1
        let limited = try ActionGrammar(one)
        let full = limited.advance(limited.start, Array("[{\"device\":\"speaker\",\"command\":\"cancel_timer\",\"args\":{}}".utf8))
        #expect(String(decoding: limited.forcedBytes(full), as: UTF8.self) == "]\n")
    }

    @Test func givenABadSpec_thenTheErrorSaysWhat() {
        func message(_ spec: ActionGrammar.Spec) -> String? {
            do { _ = try ActionGrammar(spec); return nil } catch { return error.message }
        }
        #expect(message(.init(devices: [])) == "action grammar: no devices")
        #expect(message(.init(devices: [.init(id: "a\"b", commands: [.init(name: "turn_on")])]))?.contains("'a\"b' is not a plain JSON string") == true)
        #expect(message(.init(devices: [.init(id: "lamp", commands: [])])) == "action grammar: device 'lamp' has no commands")
        #expect(message(.init(devices: [.init(id: "lamp", commands: [.init(name: "turn_on")]), .init(id: "lamp", commands: [.init(name: "turn_on")])])) == "action grammar: device 'lamp' twice")
        #expect(message(.init(devices: [.init(id: "lamp", commands: [.init(name: "glow", argument: "colour")])])) == "action grammar: device 'lamp': unknown argument kind 'colour'")
        #expect(message(.init(devices: [.init(id: "t", commands: [.init(name: "set_temperature", argument: "celsius", minimum: 30, maximum: 10)])]))?.contains("celsius range") == true)
    }
}
