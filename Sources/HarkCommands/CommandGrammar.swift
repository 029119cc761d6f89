import HarkDevices

/// The stage-1 command grammar, built from the device catalog: every phrase pattern of DESIGN §4 over
/// the catalog's spoken names, rooms and limits, each mapped to the actions it means.
///
/// One grammar serves both inputs: ``jsgf()`` is what the recognizer decodes speech with, and
/// ``parse(_:)`` reads text (a recognizer hypothesis, `say` on the socket, a stage-2 transcript) with
/// the same phrases, so speech and text can never disagree about what a phrase means.
///
/// Phrases (S a spoken name or group, N a number in words within the command's range):
///
///     turn|switch on|off [the] S         turn|switch [the] S on|off
///     set [the] S to N percent           (light brightness, cover position, media volume)
///     set [the] S to N degrees           (thermostat, within its limits.celsius)
///     set [the] S to low|medium|high     (fan speed)
///     open|close [the] S                 lock|unlock [the] S
///     mute|unmute [the] S                (media)
///     volume up|down · turn [the] volume up|down · mute · unmute · set [the] volume to N percent
///     set a|the timer for N minutes|minute|seconds|second · cancel|stop the timer  (this speaker)
///
/// Groups for on/off: "all [the] lights", "[the] ROOM lights", "[all] [the] lights in [the] ROOM".
public struct CommandGrammar: Sendable {
    /// One element of a phrase.
    public enum Part: Sendable, Equatable {
        /// This word.
        case word(String)
        /// This word or nothing ("the").
        case optional(String)
        /// One of these words; the one heard is a value of the match ("on" or "off").
        case choice([String])
        /// A spoken name from the target table with this index.
        case target(Int)
        /// A number in words within this range.
        case number(ClosedRange<Int>)
    }

    /// A spoken name (one or more words) and the devices it stands for.
    public struct Name: Sendable, Equatable {
        public let words: [String]
        public let devices: [String]
    }

    /// What a phrase heard: its choices in order, the devices named, the number.
    public struct Match: Sendable, Equatable {
        public var choices: [String] = []
        public var devices: [String] = []
        public var number: Int?
    }

    public struct Phrase: Sendable {
        public let parts: [Part]
        let meaning: @Sendable (Match) -> [Action]
    }

    public private(set) var phrases: [Phrase] = []
    /// The tables of spoken names phrases refer to by index.
    public private(set) var targets: [[Name]] = []
    /// The catalog's spoken names as text for a recognizer's prompt (`vocabularyPrompt(catalog:)`).
    public private(set) var prompt = ""

    public init(catalog: Catalog) {
        let named = catalog.devices.filter { !$0.names.isEmpty }
        func names(_ devices: [Device]) -> [Name] {
            devices.flatMap { device in device.names.map { Name(words: Self.words(of: $0), devices: [device.id]) } }
        }
        func having(_ command: String) -> [Device] { named.filter { $0.command(named: command) != nil } }

        // On and off, with groups of lights.
        let lights = named.filter { $0.type == .light }
        var switchable = names(having("turn_on"))
        if !lights.isEmpty {
            let all = lights.map(\.id)
            switchable.append(Name(words: ["all", "lights"], devices: all))
            switchable.append(Name(words: ["all", "the", "lights"], devices: all))
            for (key, room) in catalog.rooms.sorted(by: { $0.key < $1.key }) {
                let inRoom = lights.filter { $0.room == key }.map(\.id)
                guard !inRoom.isEmpty else { continue }
                let roomWords = Self.words(of: room)
                switchable.append(Name(words: roomWords + ["lights"], devices: inRoom))
                for prefix in [["lights", "in"], ["lights", "in", "the"], ["all", "lights", "in"], ["all", "the", "lights", "in"], ["all", "the", "lights", "in", "the"]] {
                    switchable.append(Name(words: prefix + roomWords, devices: inRoom))
                }
            }
        }
        if !switchable.isEmpty {
            let target = add(switchable)
            let onOff: @Sendable (Match) -> [Action] = { match in
                let command = match.choices.contains("on") ? "turn_on" : "turn_off"
                return match.devices.map { Action(device: $0, command: command) }
            }
            add([.choice(["turn", "switch"]), .choice(["on", "off"]), .optional("the"), .target(target)], onOff)
            add([.choice(["turn", "switch"]), .optional("the"), .target(target), .choice(["on", "off"])], onOff)
        }

        // Percentages: brightness, position, volume by type.
        let percentCommand: [DeviceType: String] = [.light: "set_brightness", .cover: "set_position", .media: "set_volume"]
        let percentDevices = named.filter { percentCommand[$0.type] != nil }
        if !percentDevices.isEmpty {
            let types = Dictionary(uniqueKeysWithValues: percentDevices.map { ($0.id, $0.type) })
            let target = add(names(percentDevices))
            add([.word("set"), .optional("the"), .target(target), .word("to"), .number(0...100), .word("percent")]) { match in
                match.devices.map { Action(device: $0, command: percentCommand[types[$0]!]!, args: ["percent": .number(Double(match.number!))]) }
            }
        }

        // Degrees: one phrase per thermostat, within its own limits.
        for thermostat in having("set_temperature") {
            let low = Int(thermostat.celsius.lowerBound.rounded(.up)), high = Int(thermostat.celsius.upperBound.rounded(.down))
            let range = max(low, NumberWords.range.lowerBound)...min(high, NumberWords.range.upperBound)
            guard !range.isEmpty else { continue }
            let target = add(names([thermostat]))
            add([.word("set"), .optional("the"), .target(target), .word("to"), .number(range), .word("degrees")]) { match in
                match.devices.map { Action(device: $0, command: "set_temperature", args: ["celsius": .number(Double(match.number!))]) }
            }
        }

        // Fan speeds.
        let fans = having("set_speed")
        if !fans.isEmpty {
            let target = add(names(fans))
            add([.word("set"), .optional("the"), .target(target), .word("to"), .choice(Parameter.fanLevels)]) { match in
                match.devices.map { Action(device: $0, command: "set_speed", args: ["level": .string(match.choices[0])]) }
            }
        }

        // Covers, locks, and muting named media.
        for (verbs, commands) in [(["open", "close"], ["open", "close"]), (["lock", "unlock"], ["lock", "unlock"]), (["mute", "unmute"], ["mute", "unmute"])] {
            let devices = having(commands[0])
            guard !devices.isEmpty else { continue }
            let target = add(names(devices))
            add([.choice(verbs), .optional("the"), .target(target)]) { match in
                let command = commands[verbs.firstIndex(of: match.choices[0])!]
                return match.devices.map { Action(device: $0, command: command) }
            }
        }

        // The speaker Hark runs on: volume, mute, timers.
        if let speaker = catalog.thisDevice?.id {
            let volume: @Sendable (Match) -> [Action] = { match in
                [Action(device: speaker, command: match.choices.last == "up" ? "volume_up" : "volume_down")]
            }
            add([.word("volume"), .choice(["up", "down"])], volume)
            add([.word("turn"), .optional("the"), .word("volume"), .choice(["up", "down"])], volume)
            add([.choice(["mute", "unmute"])]) { match in [Action(device: speaker, command: match.choices[0])] }
            add([.word("set"), .optional("the"), .word("volume"), .word("to"), .number(0...100), .word("percent")]) { match in
                [Action(device: speaker, command: "set_volume", args: ["percent": .number(Double(match.number!))])]
            }
            let timer: @Sendable (Match) -> [Action] = { match in
                let seconds = match.number! * (match.choices[0].hasPrefix("minute") ? 60 : 1)
                return [Action(device: speaker, command: "start_timer", args: ["seconds": .number(Double(seconds))])]
            }
            for article in ["a", "the"] {
                add([.word("set"), .word(article), .word("timer"), .word("for"), .number(1...100), .choice(["minutes", "minute", "seconds", "second"])], timer)
            }
            add([.choice(["cancel", "stop"]), .word("the"), .word("timer")]) { _ in [Action(device: speaker, command: "cancel_timer")] }
        }
        prompt = Self.vocabularyPrompt(catalog: catalog)
    }

    private mutating func add(_ names: [Name]) -> Int {
        targets.append(names)
        return targets.count - 1
    }

    private mutating func add(_ parts: [Part], _ meaning: @escaping @Sendable (Match) -> [Action]) {
        phrases.append(Phrase(parts: parts, meaning: meaning))
    }

    /// The words of a spoken name or room as the grammar speaks them.
    static func words(of name: String) -> [String] {
        name.lowercased().split(whereSeparator: { $0 == " " || $0 == "-" }).map(String.init)
    }

    /// Every word the grammar can hear.
    public var vocabulary: Set<String> {
        var words: Set<String> = []
        for phrase in phrases {
            for part in phrase.parts {
                switch part {
                case let .word(word), let .optional(word): words.insert(word)
                case let .choice(options): words.formUnion(options)
                case let .target(index): for name in targets[index] { words.formUnion(name.words) }
                case let .number(range): for value in range { words.formUnion(NumberWords.words(value)) }
                }
            }
        }
        return words
    }

    /// Which spoken names use `word`, for error messages: "kitchen light (kitchen_light)".
    public func uses(of word: String) -> [Name] {
        var found: [Name] = []
        for table in targets { for name in table where name.words.contains(word) && !found.contains(name) { found.append(name) } }
        return found
    }
}
