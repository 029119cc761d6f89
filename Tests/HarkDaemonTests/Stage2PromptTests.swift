import Foundation
import HarkDaemon
import HarkDevices
import HarkStage2
import Testing

/// harkd's stage-2 prompt against the training pipeline's (training/prompt.py, captured by
/// training/prompt_fixtures.py): the demo home and 12 generated homes, rendered byte for byte; every
/// answer line the model was trained to write is taken by the catalog's action grammar and parses to
/// the same actions.
@Suite struct Stage2PromptTests {
    struct Home {
        let name: String
        let yaml: String
        let catalogText: String
        let request: String
        let prompt: String
        let answers: [(line: String, actions: [[String: Any]])]
    }

    static func homes() throws -> [Home] {
        let url = Repo.root.appendingPathComponent("Tests/HarkDaemonTests/Fixtures/stage2-prompt.json")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        return (json["homes"] as? [[String: Any]] ?? []).map { home in
            Home(name: home["name"] as? String ?? "", yaml: home["yaml"] as? String ?? "", catalogText: home["catalog_text"] as? String ?? "",
                 request: home["request"] as? String ?? "", prompt: home["prompt"] as? String ?? "",
                 answers: (home["answers"] as? [[String: Any]] ?? []).map { ($0["line"] as? String ?? "", $0["actions"] as? [[String: Any]] ?? []) })
        }
    }

    @Test func givenTheFixtureHomes_thenTheCatalogTextAndPromptAreTrainingsByteForByte() throws {
        let homes = try Self.homes()
        #expect(homes.count == 13)
        for home in homes {
            let catalog = try Catalog.parse(yaml: home.yaml, file: home.name)
            let prompt = Stage2Prompt(catalog: catalog)
            #expect(prompt.catalogText == home.catalogText, "\(home.name)")
            #expect(prompt.prompt(for: home.request) == home.prompt, "\(home.name)")
        }
    }

    @Test func givenEveryTrainingAnswerLine_thenTheGrammarTakesItAndItParsesToTheSameActions() throws {
        var lines = 0
        for home in try Self.homes() {
            let prompt = Stage2Prompt(catalog: try Catalog.parse(yaml: home.yaml, file: home.name))
            let grammar = try ActionGrammar(prompt.grammar)
            for answer in home.answers {
                let cursor = grammar.advance(grammar.start, Array((answer.line + "\n").utf8))
                #expect(cursor.isViable && grammar.isComplete(cursor), "\(home.name): \(answer.line)")
                let parsed = try Stage2Prompt.actions(in: answer.line + "\nTurning it off.")
                let expected = try answer.actions.map { object in
                    try Action(json: try JSONValue.parse(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)))
                }
                #expect(parsed == expected, "\(home.name): \(answer.line)")
                lines += 1
            }
        }
        #expect(lines >= 100)
    }

    @Test func givenAnswersThatAreNotActionLists_thenTheErrorIsOneLine() {
        func message(_ text: String) -> String? {
            do { _ = try Stage2Prompt.actions(in: text); return nil } catch { return error.message }
        }
        #expect(message("Sure! I can do that.") == "stage 2: the model's answer is not a JSON action list: Sure! I can do that.")
        #expect(message("{\"device\":\"kitchen_light\"}") == "stage 2: the model's answer is not a list: {\"device\":\"kitchen_light\"}")
        #expect(message("[{\"device\":\"kitchen_light\"}]")?.hasPrefix("stage 2: the model's answer has a malformed action") == true)
        #expect(message("[]\nNothing to do.") == nil)
    }
}
