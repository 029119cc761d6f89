import Foundation
import HarkControl
import HarkDevices
import HarkStore
import HarkTestSupport
import Testing

/// SIGTERM while an action is being dispatched: harkd stops listening, lets the action finish and
/// answers its client, closes the journal cleanly, and exits 0.
@Suite struct GracefulShutdownTests {
    @Test func givenAnActionRunning_whenHarkdGetsSigterm_thenTheActionFinishesAndTheJournalIsClosedCleanly() async throws {
        let directory = makeTemporaryDirectory("harkd-shutdown")
        // A device whose program takes a second.
        writeFile(directory + "/slow.sh", "#!/bin/sh\nsleep 1\necho done >> \(directory)/ran.txt\n")
        chmod(directory + "/slow.sh", 0o755)
        mkdir(directory + "/devices", 0o755)
        writeFile(directory + "/devices/home.yaml", """
            devices:
              slow_switch:
                type: switch
                names: [slow switch]
                transport: {via: exec, argv: [\(directory)/slow.sh, "{command}"]}

            """)
        let database = directory + "/hark.sqlite"
        let harkd = try await offThePool {
            try RunningHarkd(catalog: directory + "/devices", dryRun: false, extra: ["--database", database], directory: directory)
        }
        let (answer, status, stopSeconds) = try await offThePool {
            let client = try ControlClient(path: harkd.socket, timeout: 20)
            try client.send(line: Wire.request(id: .number(1), method: "actions.execute", params: [
                "actions": .array([.object(["id": .string("slow-1"), "action": .object(["device": .string("slow_switch"), "command": .string("turn_on")])])]),
            ]))
            usleep(300_000)
            let started = Date()
            harkd.process.terminate()
            let answer = try client.readMessage(timeout: 10)
            let status = harkd.stop()
            return (answer, status, Date().timeIntervalSince(started))
        }
        #expect(answer?["result"]?["results"]?.items.first?["status"] == .string("ok"), "the running action finished and was answered: \(String(describing: answer))")
        #expect(status == 0 && stopSeconds < 5, "exit \(status) after \(stopSeconds) s: \(harkd.log)")
        #expect(readTextFile(directory + "/ran.txt") == "done\n")
        #expect(access(harkd.socket, F_OK) != 0, "the socket file is gone")
        // Closed cleanly: the write-ahead log was checkpointed into the database and removed.
        #expect(access(database + "-wal", F_OK) != 0, "no -wal file left")
        let store = try Store(path: database)
        #expect(try store.entry(id: "slow-1")?.status == .ok)
        #expect(try store.integrityCheck() == "ok")
    }
}
