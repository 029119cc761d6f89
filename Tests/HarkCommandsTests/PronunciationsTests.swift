import HarkDevices
import HarkTestSupport
import Testing
@testable import HarkCommands

@Suite("Pronunciations of the grammar's words")
struct PronunciationsTests {
    static let dictionary = Recognizer.Configuration().dictionary

    func catalog(_ devices: String) throws -> Catalog {
        try Catalog.parse(yaml: "rooms: {den: den}\ndevices:\n" + devices, file: "home.yaml")
    }

    @Test("Given the demo home, then every word has a pronunciation and 'unmute', missing from the CMU dictionary, is generated from 'un' + 'mute'")
    func demoHome() throws {
        let grammar = CommandGrammar(catalog: demoCatalog)
        let pronunciations = try Pronunciations(grammar: grammar, catalog: demoCatalog, dictionary: Self.dictionary)
        #expect(Set(pronunciations.entries.keys) == grammar.vocabulary)
        #expect(pronunciations.sources["unmute"] == .compound(["un", "mute"]))
        #expect(pronunciations.entries["unmute"] == [["AH", "N", "M", "Y", "UW", "T"]])
        #expect(pronunciations.sources["kitchen"] == .dictionary)
        #expect((pronunciations.entries["close"]?.count ?? 0) >= 2, "all variants are kept")
    }

    @Test("Given a spoken name the dictionary lacks, then the catalog's pronunciation is used, and spelling covers an acronym without vowels")
    func catalogAndSpelling() throws {
        let home = try catalog("""
              glow: {type: light, room: den, names: [zorblax lamp], pronunciations: {zorblax: "Z AO R B L AE K S"}, transport: {via: tasmota, topic: glow}}
              hifi: {type: media, room: den, names: [pvr], transport: {via: tasmota, topic: hifi}}
            """)
        let grammar = CommandGrammar(catalog: home)
        let pronunciations = try Pronunciations(grammar: grammar, catalog: home, dictionary: Self.dictionary)
        #expect(pronunciations.entries["zorblax"] == [["Z", "AO", "R", "B", "L", "AE", "K", "S"]])
        #expect(pronunciations.sources["zorblax"] == .catalog(origin: "home.yaml:3"))
        #expect(pronunciations.sources["pvr"] == .spelled)
    }

    @Test("Given a word with no pronunciation anywhere, then building says which device, spoken name and word")
    func missingWord() throws {
        let home = try catalog("""
              glow: {type: light, room: den, names: [zorblaxian lamp], transport: {via: tasmota, topic: glow}}
            """)
        let grammar = CommandGrammar(catalog: home)
        let error = #expect(throws: CommandError.self) { try Pronunciations(grammar: grammar, catalog: home, dictionary: Self.dictionary) }
        #expect(error?.description.hasPrefix("home.yaml:3: device 'glow' spoken name 'zorblaxian lamp': no pronunciation for 'zorblaxian'") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("pronunciations: {zorblaxian:") == true)
    }

    @Test("Given a catalog pronunciation with a phone the model lacks, then one line names the device and the phone")
    func badPhone() throws {
        let home = try catalog("""
              glow: {type: light, room: den, names: [zorblax lamp], pronunciations: {zorblax: "Z AO R QQ"}, transport: {via: tasmota, topic: glow}}
            """)
        let error = #expect(throws: CommandError.self) { try Pronunciations(grammar: CommandGrammar(catalog: home), catalog: home, dictionary: Self.dictionary) }
        #expect(error?.description.contains("device 'glow': pronunciations.zorblax: 'QQ' is not a phone") == true, "\(error?.description ?? "")")
    }

    @Test("Given a missing dictionary file, then one line names it")
    func missingDictionary() {
        let error = #expect(throws: CommandError.self) {
            try Pronunciations(grammar: CommandGrammar(catalog: demoCatalog), catalog: demoCatalog, dictionary: "/nonexistent/cmudict.dict")
        }
        #expect(error?.description.hasPrefix("pronunciation dictionary /nonexistent/cmudict.dict: open:") == true)
    }
}
