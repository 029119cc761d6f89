/// The stage-2 model's answer line as a byte automaton: a JSON action list over one catalog, exactly
/// as training/prompt.py writes it — `[{"device":ID,"command":NAME,"args":{…}},…]` then a newline,
/// compact, keys in that order — with only the catalog's devices, each only its own commands, and
/// every argument a value the validator accepts (percent 0–100, the device's own temperature range
/// in half degrees, a fan level, a timer of 1–99999 s: the validator holds timers to 24 h).
///
/// The worker constrains generation with it: a token is allowed when its bytes keep the text a prefix
/// of some answer, so whatever the model writes parses and validates. Device ids, command names and
/// enumerated values are tries, so a cursor is nearly always a single state and a token's check is a
/// few array lookups.
public struct ActionGrammar: Sendable {
    /// What the grammar is built from (harkd sends it with each `generate` request).
    public struct Spec: Codable, Sendable, Equatable {
        public struct Device: Codable, Sendable, Equatable {
            public var id: String
            public var commands: [Command]
            public init(id: String, commands: [Command]) {
                self.id = id
                self.commands = commands
            }
        }
        public struct Command: Codable, Sendable, Equatable {
            public var name: String
            /// `percent`, `celsius`, `seconds` or `level`; nil: no argument.
            public var argument: String?
            /// For `celsius`: the device's range.
            public var minimum: Double?
            public var maximum: Double?
            public init(name: String, argument: String? = nil, minimum: Double? = nil, maximum: Double? = nil) {
                self.name = name
                self.argument = argument
                self.minimum = minimum
                self.maximum = maximum
            }
        }
        public var devices: [Device]
        /// The most actions one answer may hold (nil: any number): a model that repeats itself is
        /// made to close the list.
        public var maxActions: Int?
        public init(devices: [Device], maxActions: Int? = nil) {
            self.devices = devices
            self.maxActions = maxActions
        }
    }

    /// Where a partial answer stands: the automaton states it may be in (empty: not a prefix).
    public struct Cursor: Sendable, Hashable {
        var states: [Int32]
        /// Actions completed so far.
        public internal(set) var actions = 0
        public var isViable: Bool { !states.isEmpty }
    }

    /// Byte transitions per state.
    private var edges: [[(byte: UInt8, to: Int32)]] = []
    private var accepting: Int32 = 0
    /// The state after an action's closing brace, and the limit on how often it is reached.
    private var afterAction: Int32 = 0
    private let maxActions: Int

    /// The automaton before any byte.
    public let start = Cursor(states: [0])

    /// Builds the automaton; a spec with no device, an empty id or command, or an unknown argument
    /// kind is an error.
    public init(_ spec: Spec) throws(Stage2Error) {
        guard !spec.devices.isEmpty else { throw Stage2Error(.invalidRequest, "action grammar: no devices") }
        guard (spec.maxActions ?? 1) >= 1 else { throw Stage2Error(.invalidRequest, "action grammar: max_actions must be at least 1") }
        maxActions = spec.maxActions ?? .max
        let begin = newState()                      // before '['
        let list = newState()                       // after '[': an action or ']'
        afterAction = newState()                    // after an action: ',' or ']'
        let afterComma = newState()                 // after ',': an action
        let closed = newState()                     // after ']': the newline
        accepting = newState()
        let actionOpen = newState()                 // after an action's '{'
        add(begin, "[", list)
        add(list, "]", closed)
        add(afterAction, "]", closed)
        add(afterAction, ",", afterComma)
        add(list, "{", actionOpen)
        add(afterComma, "{", actionOpen)
        add(closed, "\n", accepting)

        let deviceStart = literal(from: actionOpen, #""device":""#)
        var ids: [String] = []
        for device in spec.devices {
            guard !device.id.isEmpty, device.id.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x22 && $0 != 0x5C && $0 < 0x7F }) else {
                throw Stage2Error(.invalidRequest, "action grammar: device id '\(device.id)' is not a plain JSON string")
            }
            guard !ids.contains(device.id) else { throw Stage2Error(.invalidRequest, "action grammar: device '\(device.id)' twice") }
            ids.append(device.id)
        }
        let deviceEnds = trie(from: deviceStart, ids)
        for (device, end) in zip(spec.devices, deviceEnds) {
            let commandStart = literal(from: end, #"","command":""#)
            guard !device.commands.isEmpty else { throw Stage2Error(.invalidRequest, "action grammar: device '\(device.id)' has no commands") }
            let commandEnds = trie(from: commandStart, device.commands.map(\.name))
            for (command, end) in zip(device.commands, commandEnds) {
                guard !command.name.isEmpty, command.name.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x22 && $0 != 0x5C && $0 < 0x7F }) else {
                    throw Stage2Error(.invalidRequest, "action grammar: device '\(device.id)': command '\(command.name)' is not a plain JSON string")
                }
                let args = literal(from: end, #"","args":{"#)
                let argsEnd: [Int32]
                switch command.argument {
                case nil:
                    argsEnd = [args]
                case "percent":
                    argsEnd = trie(from: literal(from: args, #""percent":"#), (0...100).map { "\($0)" })
                case "level":
                    argsEnd = trie(from: literal(from: args, #""level":""#), ["low", "medium", "high"]).map { literal(from: $0, "\"") }
                case "celsius":
                    let low = command.minimum ?? 5, high = command.maximum ?? 35
                    guard low.isFinite, high.isFinite, low <= high, high - low <= 200 else {
                        throw Stage2Error(.invalidRequest, "action grammar: device '\(device.id)': celsius range \(low)–\(high) is not usable")
                    }
                    argsEnd = trie(from: literal(from: args, #""celsius":"#), Self.halfDegrees(low, high))
                case "seconds":
                    argsEnd = seconds(from: literal(from: args, #""seconds":"#))
                case let other?:
                    throw Stage2Error(.invalidRequest, "action grammar: device '\(device.id)': unknown argument kind '\(other)'")
                }
                for end in argsEnd {
                    let closing = literal(from: end, "}")
                    add(closing, "}", afterAction)
                }
            }
        }
    }

    /// The cursor after `bytes`; not viable when they leave the language.
    public func advance(_ cursor: Cursor, _ bytes: some Sequence<UInt8>) -> Cursor {
        var states = cursor.states
        var actions = cursor.actions
        var next: [Int32] = []
        for byte in bytes {
            next.removeAll(keepingCapacity: true)
            for state in states where !(state == afterAction && byte == UInt8(ascii: ",") && actions >= maxActions) {
                for edge in edges[Int(state)] where edge.byte == byte && !next.contains(edge.to) { next.append(edge.to) }
            }
            if next.isEmpty { return Cursor(states: [], actions: actions) }
            if next.contains(afterAction) { actions += 1 }
            swap(&states, &next)
        }
        return Cursor(states: states, actions: actions)
    }

    /// Whether `bytes` take the cursor somewhere viable (the same as `advance(…).isViable`, without
    /// building the result when the cursor is one state).
    public func allows(_ cursor: Cursor, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard cursor.states.count == 1 else { return advance(cursor, bytes).isViable }
        var state = Int(cursor.states[0])
        var actions = cursor.actions
        for byte in bytes {
            if state == Int(afterAction) {
                if byte == UInt8(ascii: ","), actions >= maxActions { return false }
            }
            var target = -1
            for edge in edges[state] where edge.byte == byte {
                guard target < 0 else { return advance(cursor, bytes).isViable }   // branches: the general walk
                target = Int(edge.to)
            }
            guard target >= 0 else { return false }
            state = target
            if state == Int(afterAction) { actions += 1 }
        }
        return true
    }

    /// The bytes that may come next (256 flags).
    public func nextBytes(_ cursor: Cursor) -> [Bool] {
        var flags = [Bool](repeating: false, count: 256)
        for state in cursor.states {
            for edge in edges[Int(state)] where !(state == afterAction && edge.byte == UInt8(ascii: ",") && cursor.actions >= maxActions) {
                flags[Int(edge.byte)] = true
            }
        }
        return flags
    }

    /// The bytes every answer from `cursor` continues with (up to `limit`): the text the grammar
    /// leaves no choice in, such as `","command":"` after a complete device id. Empty where the next
    /// byte is a choice or the answer is complete.
    public func forcedBytes(_ cursor: Cursor, limit: Int = 64) -> [UInt8] {
        var bytes: [UInt8] = []
        var cursor = cursor
        while bytes.count < limit, cursor.isViable, !isComplete(cursor) {
            let next = nextBytes(cursor)
            guard let byte = next.firstIndex(of: true), !next[(byte + 1)...].contains(true) else { break }
            bytes.append(UInt8(byte))
            cursor = advance(cursor, CollectionOfOne(UInt8(byte)))
        }
        return bytes
    }

    /// Whether the answer line is complete (the newline after ']' was written).
    public func isComplete(_ cursor: Cursor) -> Bool { cursor.states.contains(accepting) }

    /// The number of states (for tests and the log).
    public var stateCount: Int { edges.count }

    /// Temperatures from `low` to `high` in steps of 0.5, as JSON numbers ("20", "20.5").
    static func halfDegrees(_ low: Double, _ high: Double) -> [String] {
        var values: [String] = []
        var twice = Int((low * 2).rounded(.up))
        while Double(twice) / 2 <= high {
            values.append(twice % 2 == 0 ? "\(twice / 2)" : "\(Double(twice) / 2)")
            twice += 1
        }
        return values
    }

    // MARK: Building

    private mutating func newState() -> Int32 {
        edges.append([])
        return Int32(edges.count - 1)
    }

    private mutating func add(_ from: Int32, _ byte: String, _ to: Int32) {
        for b in byte.utf8 { edges[Int(from)].append((b, to)) }
    }

    /// A chain spelling `text` from `from`; returns its end.
    private mutating func literal(from: Int32, _ text: String) -> Int32 {
        var state = from
        for byte in text.utf8 {
            let next = newState()
            edges[Int(state)].append((byte, next))
            state = next
        }
        return state
    }

    /// A trie of `words` from `from`; returns each word's end state, in order.
    private mutating func trie(from: Int32, _ words: [String]) -> [Int32] {
        words.map { word in
            var state = from
            for byte in word.utf8 {
                if let existing = edges[Int(state)].first(where: { $0.byte == byte }) {
                    state = existing.to
                } else {
                    let next = newState()
                    edges[Int(state)].append((byte, next))
                    state = next
                }
            }
            return state
        }
    }

    /// `[1-9][0-9]{0,4}`: the states after 1 to 5 digits.
    private mutating func seconds(from: Int32) -> [Int32] {
        var ends: [Int32] = []
        var state = from
        for position in 0..<5 {
            let next = newState()
            for digit in UInt8(ascii: position == 0 ? "1" : "0")...UInt8(ascii: "9") { edges[Int(state)].append((digit, next)) }
            ends.append(next)
            state = next
        }
        return ends
    }
}
