import HarkDevices
import HarkTestSupport
import Testing
@testable import HarkCommands

/// The demo home's catalog (devices/demo-home.yaml), loaded once.
let demoCatalog: Catalog = {
    do { return try Catalog.load(path: repositoryRoot + "/devices/demo-home.yaml") }
    catch { fatalError("devices/demo-home.yaml: \(error)") }
}()

@Suite("The command grammar built from the catalog")
struct GrammarTests {
    let grammar = CommandGrammar(catalog: demoCatalog)

    @Test("Given the demo home, when each command of the corpus is parsed as text, then it gives exactly the corpus's actions")
    func corpus() throws {
        let lines = try readCorpus()
        #expect(lines.count >= 48)
        for (text, actions) in lines {
            #expect(grammar.parse(text) == actions, "\(text)")
        }
    }

    @Test("Given lightly normalised text, when parsed, then punctuation, case, digits, % and ° are read", arguments: [
        ("Turn off the kitchen light.", [Action(device: "kitchen_light", command: "turn_off")]),
        ("set the tv to 20%", [Action(device: "living_room_tv", command: "set_volume", args: ["percent": .number(20)])]),
        ("Set the thermostat to 21°C!", [Action(device: "bedroom_thermostat", command: "set_temperature", args: ["celsius": .number(21)])]),
        ("please switch the lamp on", [Action(device: "living_room_lamp", command: "turn_on")]),
        ("Set a timer for twenty-five minutes, thanks", [Action(device: "speaker", command: "start_timer", args: ["seconds": .number(1500)])]),
        ("Set the timer for 30 seconds.", [Action(device: "speaker", command: "start_timer", args: ["seconds": .number(30)])]),
        ("set the blinds to one hundred percent", [Action(device: "bedroom_blinds", command: "set_position", args: ["percent": .number(100)])]),
        ("turn off all the lights", ["kitchen_light", "living_room_lamp", "bedroom_light", "hallway_light"].map { Action(device: $0, command: "turn_off") }),
        ("turn on the lights in the living room", [Action(device: "living_room_lamp", command: "turn_on")]),
        ("MUTE", [Action(device: "speaker", command: "mute")]),
    ])
    func normalised(text: String, actions: [Action]) {
        #expect(grammar.parse(text) == actions)
    }

    @Test("Given text that is not a stage-1 command, when parsed, then nothing matches", arguments: [
        "what is the capital of france", "turn off the kitchen", "set the thermostat to forty degrees",
        "set the kitchen light to low", "open the kitchen light", "set a timer for zero minutes",
        "set the lamp to one hundred and one percent", "", "...", "lock the kitchen fan", "turn on the the lamp",
    ])
    func rejected(text: String) {
        #expect(grammar.parse(text) == nil)
    }

    @Test("Given the thermostat's limits of 10–28 °C, then the grammar speaks exactly those degrees")
    func thermostatLimits() {
        #expect(grammar.parse("set the heating to ten degrees") != nil)
        #expect(grammar.parse("set the heating to twenty eight degrees") != nil)
        #expect(grammar.parse("set the heating to nine degrees") == nil)
        #expect(grammar.parse("set the heating to twenty nine degrees") == nil)
        let jsgf = grammar.jsgf()
        #expect(jsgf.contains("<n10_28> = ten | eleven"))
        #expect(jsgf.contains("twenty eight;"))
    }

    @Test("Given a changed catalog, when the grammar is rebuilt, then new names are heard and removed ones are not")
    func rebuilt() throws {
        let catalog = try Catalog.parse(yaml: """
            rooms: {garage: garage}
            devices:
              garage_door: {type: cover, room: garage, names: [garage door], transport: {via: tasmota, topic: garage}}
            """)
        let rebuilt = CommandGrammar(catalog: catalog)
        #expect(rebuilt.parse("open the garage door") == [Action(device: "garage_door", command: "open")])
        #expect(rebuilt.parse("turn on the kitchen light") == nil)
        #expect(rebuilt.parse("volume up") == nil, "no speaker in this catalog")
        #expect(!rebuilt.jsgf().contains("kitchen"))
    }

    @Test("Given the demo home, when its prompt text is made, then it names every spoken name once, in catalog order, then the speaker's words")
    func prompt() throws {
        print("demo home prompt: \(grammar.prompt)")
        #expect(grammar.prompt.hasPrefix("Kitchen light, kitchen fan, fan, coffee maker, "))
        #expect(grammar.prompt.hasSuffix(", front door, volume, mute, unmute, timer."))
        let listed = grammar.prompt.dropLast().lowercased().split(separator: ", ").map(String.init)
        let names = demoCatalog.devices.filter { !$0.thisDevice }.flatMap(\.names)
        #expect(listed == names + ["volume", "mute", "unmute", "timer"])
        #expect(Set(listed).count == listed.count)

        let garage = CommandGrammar(catalog: try Catalog.parse(yaml: """
            rooms: {garage: garage}
            devices:
              garage_door: {type: cover, room: garage, names: [garage door, door], transport: {via: tasmota, topic: garage}}
            """))
        #expect(garage.prompt == "Garage door, door.", "no speaker: no speaker words")
        #expect(CommandGrammar(catalog: try Catalog.parse(yaml: "devices: {}")).prompt == "")
    }

    @Test("Given numbers 0–100, then words and reading round-trip")
    func numbers() {
        for value in 0...100 {
            let words = NumberWords.words(value)
            #expect(NumberWords.read(words[...]).first?.value == value, "\(words)")
        }
        #expect(NumberWords.words(45) == ["forty", "five"])
        #expect(NumberWords.read(["a", "hundred"]).first?.value == 100)
    }

    func readCorpus() throws -> [(String, [Action])] {
        let text = try #require(readTextFile(repositoryRoot + "/tools/corpus/commands.jsonl"))
        return try text.split(separator: "\n").map { line in
            guard case let .object(members) = try JSONValue.parse(String(line)),
                  case let .string(command)? = members["text"], case let .array(items)? = members["actions"] else {
                throw CommandError("commands.jsonl: bad line \(line)")
            }
            return (command, try items.map { try Action(json: $0) })
        }
    }
}

/// What a decoder constrained to the grammar asks of each token: is the text a command, could it
/// still become one, or can it not.
struct GrammarProgressTests {
    static let grammar = CommandGrammar(catalog: demoCatalog)

    @Test("Given texts on the way to a command, when asked, then prefixes (also inside a word, with digits, after 'the') are prefixes and commands are complete", arguments: [
        ("", CommandGrammar.Progress.prefix), (" Tur", .prefix), (" Turn", .prefix), (" Turn off", .prefix), (" Turn off the kit", .prefix),
        (" Turn off the kitchen", .prefix), (" Turn off the kitchen light", .complete), (" Turn off the kitchen light.", .complete),
        (" Set the blinds to 2", .prefix), (" Set the blinds to 25", .prefix), (" Set the blinds to 25%", .complete),
        (" set the blinds to twenty", .prefix), (" set the blinds to twenty five percent", .complete), (" set the heating to 19 degrees", .complete),
        (" set a timer for ten min", .prefix), (" un", .prefix), (" unmute", .complete), (" Volume", .prefix), (" volume up", .complete),
    ])
    func prefixes(text: String, expected: CommandGrammar.Progress) {
        #expect(Self.grammar.progress(text) == expected, "'\(text)'")
    }

    @Test("Given texts that leave the grammar, when asked, then none: a word no phrase has there, a number out of range, a command with more after it", arguments: [
        " What", " Turn off the kitchen lamp post", " Turn off the kitchen pan", " set the heating to 40 degrees", " set the heating to forty",
        " Turn off the kitchen light and", " open the fridge", " please tell me",
    ])
    func impossible(text: String) {
        #expect(Self.grammar.progress(text) == .none, "'\(text)'")
    }
}
