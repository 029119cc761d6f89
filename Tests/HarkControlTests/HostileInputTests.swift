import Foundation
import HarkControl
import HarkDevices
import HarkTestSupport
import Testing

/// Text from outside reaches the journal, the events and the transports unchanged, or is refused:
/// never interpreted by a shell, SQL or a line protocol on the way. The home here is one fan
/// driven by the exec transport: a script that records its arguments, one per line.
@Suite struct HostileInputTests {
    static let hostile = [
        #"kitchen_light'; DROP TABLE action; --"#,
        #"$(touch /tmp/hark-pwned) `reboot` && rm -rf / | cat /etc/shadow"#,
        #"{"jsonrpc":"2.0","id":9,"method":"config.reload"}"#,
        "../../../etc/passwd",
        "\u{202E}thgil nehctik\u{202C} 🔥 \\u0000 %s%n%x",
        String(repeating: "ß", count: 400),
    ]

    final class Home: Sendable {
        let directory = makeTemporaryDirectory("harkd-hostile")
        var record: String { directory + "/argv.txt" }
        let harkd: RunningHarkd

        init() throws {
            let directory = self.directory
            writeFile(directory + "/record.sh", "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> \(directory)/argv.txt\n")
            chmod(directory + "/record.sh", 0o755)
            mkdir(directory + "/devices", 0o755)
            writeFile(directory + "/devices/home.yaml", """
                rooms: {kitchen: kitchen}
                devices:
                  kitchen_fan:
                    type: fan
                    room: kitchen
                    names: [kitchen fan]
                    transport:
                      via: exec
                      argv: [\(directory)/record.sh, "{device}", "{command}"]
                      commands:
                        set_speed: [\(directory)/record.sh, "{device}", speed, "{level}"]

                """)
            harkd = try RunningHarkd(catalog: directory + "/devices", dryRun: false, extra: ["--database", directory + "/hark.sqlite"], directory: directory)
        }
    }

    @Test func givenHostileTextInSay_whenSent_thenTheTranscriptCarriesItUnchangedAndNothingRuns() async throws {
        let home = try await offThePool { try Home() }
        defer { home.harkd.stop() }
        try await offThePool {
            let subscriber = try ControlClient(path: home.harkd.socket)
            _ = try subscriber.call("events.subscribe", ["types": .array([.string("transcript")])])
            for text in Self.hostile {
                let answer = try home.harkd.call("say", ["text": .string(text)])
                #expect(answer["understood"] == .bool(false) && answer["text"] == .string(text))
                let event = try #require(try subscriber.nextEvent(timeout: 10))
                #expect(event["text"] == .string(text), "the transcript event carries the text unchanged")
            }
            // Control characters could forge log lines or terminal output: refused.
            for text in ["turn on the kitchen fan\n{\"type\":\"wake\"}", "a\u{1b}[2Jb", "nul\u{0}byte", "bell\u{7}", "c1\u{9b}31m"] {
                var refused: ControlError?
                do throws(ControlError) { _ = try ControlClient(path: home.harkd.socket).call("say", ["text": .string(text)]) } catch { refused = error }
                #expect(refused?.code == .invalidParams && refused?.message == "say: 'text' contains control characters, which are refused")
            }
            let viaHarkctl = try harkctl(["say", "turn on\nthe fan"], socket: home.harkd.socket)
            #expect(viaHarkctl.status == 65 && viaHarkctl.stderr.contains("control characters"))
            #expect(readTextFile(home.record) == nil, "the fan's program never ran")
        }
    }

    @Test func givenHostileStringsInActions_whenExecuted_thenTheyAreRefusedAndJournaledUnchanged() async throws {
        let home = try await offThePool { try Home() }
        defer { home.harkd.stop() }
        try await offThePool {
            var actions: [JSONValue] = Self.hostile.map { .object(["device": .string($0), "command": .string("turn_on")]) }
            actions += Self.hostile.map { .object(["device": .string("kitchen_fan"), "command": .string("set_speed"), "args": .object(["level": .string($0)])]) }
            actions.append(.object(["device": .string("kitchen_fan"), "command": .string("turn_on; reboot")]))
            actions.append(.object(["device": .string("kitchen_fan"), "command": .string("set_speed"), "args": .object(["level": .string("low"), "shell": .string("/bin/sh")])]))
            let answer = try home.harkd.call("actions.execute", ["actions": .array(actions)])
            let results = answer["results"]?.items ?? []
            #expect(results.count == actions.count && results.allSatisfy { $0["status"] == .string("invalid") }, "\(answer)")
            // The journal holds exactly what was sent.
            let journal = try home.harkd.call("history", ["limit": .number(100)]).items.reversed().map { $0 }
            #expect(journal.count == actions.count)
            for (entry, action) in zip(journal, actions) {
                #expect(entry["device"] == action["device"] && entry["command"] == action["command"])
                #expect(entry["args"] == (action["args"] ?? .object([:])), "\(entry)")
                #expect(entry["status"] == .string("invalid"))
            }
            #expect(try home.harkd.call("history", ["device": .string(Self.hostile[0])]).items.count == 1, "a hostile device name is a value in SQL, not SQL")
            #expect(readTextFile(home.record) == nil, "no hostile action reached the transport")

            // Control characters in names are refused before the journal (a NUL would not come back out).
            for action: JSONValue in [
                .object(["device": .string("kitchen\u{0}fan"), "command": .string("turn_on")]),
                .object(["device": .string("kitchen_fan"), "command": .string("turn_on\n{\"type\":\"wake\"}")]),
                .object(["device": .string("kitchen_fan"), "command": .string("set_speed"), "args": .object(["level\u{1b}": .string("low")])]),
            ] {
                var refused: ControlError?
                do throws(ControlError) { _ = try ControlClient(path: home.harkd.socket).call("actions.execute", ["actions": .array([action])]) }
                catch { refused = error }
                #expect(refused?.code == .invalidParams && refused?.message.contains("contains control characters") == true, "\(String(describing: refused))")
            }
            #expect(try home.harkd.call("history", ["limit": .number(100)]).items.count == actions.count)

            // What passes validation reaches the program as exactly one argument per template element.
            let ok = try home.harkd.call("actions.execute", ["actions": .array([
                .object(["device": .string("kitchen_fan"), "command": .string("set_speed"), "args": .object(["level": .string("medium")])]),
                .object(["device": .string("kitchen_fan"), "command": .string("turn_off")]),
            ])])
            #expect(ok["ok"] == .bool(true), "\(ok)")
            #expect(readTextFile(home.record) == "kitchen_fan\nspeed\nmedium\nkitchen_fan\nturn_off\n")
        }
    }
}
