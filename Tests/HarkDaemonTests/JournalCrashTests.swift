import Foundation
import HarkStore
import HarkTestSupport
import Testing

/// The journal survives `kill -9` at any moment: a daemon dispatching a script of actions through the
/// real exec transport is killed again and again, then run to the end. The database stays sound, every
/// action is journaled once, and no action reaches its device twice.
@Suite struct JournalCrashTests {
    @Test func givenADaemonKilledRepeatedlyWhileDispatching_thenNoActionRunsTwiceAndTheDatabaseIsSound() async throws {
        let dir = makeTemporaryDirectory("hark-crash")
        let log = dir + "/executed.log"
        // The device side: a program that appends its arguments as one line.
        let program = dir + "/lamp.sh"
        writeFile(program, "#!/bin/sh\nprintf '%s %s\\n' \"$1\" \"$2\" >> '\(log)'\n")
        chmod(program, 0o755)
        let lamps = (0..<20).map { "lamp_\($0)" }
        var catalog = "devices:\n"
        for lamp in lamps {
            catalog += "  \(lamp):\n    type: light\n    names: [\(lamp.replacingOccurrences(of: "_", with: " "))]\n"
            catalog += "    transport:\n      via: exec\n      argv: [\(program), \"{device}\", \"{command}\"]\n"
            catalog += "      commands: {set_brightness: [\(program), \"{device}\", \"{percent}\"]}\n"
        }
        writeFile(dir + "/home.yaml", catalog)
        // 2020 distinct actions, so each line of the log names exactly one action id.
        var script = ""
        var idOf: [String: String] = [:]
        for lamp in lamps {
            for percent in 0...100 {
                let id = "\(lamp)-\(percent)"
                idOf["\(lamp) \(percent)"] = id
                script += #"{"id":"\#(id)","action":{"device":"\#(lamp)","command":"set_brightness","args":{"percent":\#(percent)}}}"# + "\n"
            }
        }
        writeFile(dir + "/actions.jsonl", script)
        let database = dir + "/hark.sqlite"
        let arguments = ["--input", "none", "--actions", dir + "/actions.jsonl", "--catalog", dir + "/home.yaml",
                         "--database", database, "--events", dir + "/events.jsonl", "--log-level", "error"]

        let (kills, final) = try await offThePool {
            var generator = SplitMix64(seed: 42)
            var kills = 0
            for _ in 0..<12 {
                let delay = 0.1 + Double(generator.next() % 1000) / 1000 * 0.3
                let run = try harkd(arguments, timeout: 60) { process in
                    Thread.sleep(forTimeInterval: delay)
                    kill(process.processIdentifier, SIGKILL)
                }
                if run.reason == .uncaughtSignal { kills += 1 }
            }
            return (kills, try harkd(arguments, timeout: 120))
        }
        #expect(final.status == 0, "\(final.stderr)")
        #expect(kills >= 10, "most runs should have been killed mid-script, \(kills) were")

        let store = try Store(path: database)
        #expect(try store.integrityCheck() == "ok")
        #expect(try store.actionCount() == idOf.count)
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        let executedIDs = lines.compactMap { idOf[$0] }
        #expect(executedIDs.count == lines.count, "every executed line is one of the script's actions")
        #expect(Set(executedIDs).count == executedIDs.count, "an action ran twice: \(Dictionary(grouping: executedIDs, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted())")
        // Every action the journal calls ok reached its device; the rest were interrupted by a kill.
        let ok = try store.actionCount(status: .ok)
        let interrupted = try store.actionCount(status: .interrupted)
        #expect(ok + interrupted == idOf.count)
        // The kills landed while actions were in flight (journaled, not yet finished), not only between them.
        #expect(interrupted >= 1, "no kill hit an action in flight; ok \(ok), interrupted \(interrupted)")
        #expect(ok <= executedIDs.count && executedIDs.count <= ok + interrupted)
        print("JournalCrashTests: \(kills) kills; \(ok) ok, \(interrupted) interrupted (\(executedIDs.count - ok) of them reached the device before the kill), \(idOf.count) actions, \(executedIDs.count - Set(executedIDs).count) run twice")
        for id in Set(idOf.values).subtracting(executedIDs) {
            #expect(try store.entry(id: id)?.status == .interrupted, "\(id) never ran but is not interrupted")
        }
    }
}
