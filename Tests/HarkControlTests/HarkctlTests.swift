import Foundation
import HarkControl
import HarkDevices
import HarkTestSupport
import Testing

/// Every method of the socket through `harkctl`, against a real harkd listening to audio on stdin
/// (the demo home, dry run): readable and --json output, and the exit statuses scripts rely on.
@Suite struct HarkctlTests {
    static let demoIDs = ["kitchen_light", "kitchen_fan", "coffee_maker", "living_room_lamp", "living_room_tv", "bedroom_light",
                          "bedroom_thermostat", "bedroom_blinds", "hallway_light", "front_door", "speaker"]

    @Test func givenARunningHarkd_whenEveryMethodIsCalledThroughHarkctl_thenEachAnswersAndExitsAsDocumented() async throws {
        let harkd = try await offThePool { try RunningHarkd(input: "-") }
        defer { harkd.stop() }
        let socket = harkd.socket
        @Sendable func ctl(_ arguments: String...) throws -> Finished { try harkctl(arguments, socket: socket) }

        try await offThePool {
            // status
            #expect(eventually { (try? harkd.call("status"))?["audio"]?["state"] == .string("running") })
            let status = try ctl("status", "--json")
            #expect(status.status == 0, "\(status.stderr)")
            let json = try #require(status.json)
            #expect(json["version"] == .string(harkVersion))
            #expect(json["audio"]?["input"] == .string("-") && json["audio"]?["frames_moving"] == .bool(true))
            #expect(json["wake_words"]?.items.first?["word"] == .string("hey_jarvis"))
            #expect(json["devices"]?["count"] == .number(11) && json["control"]?["socket"] == .string(socket))
            let readable = try ctl("status")
            #expect(readable.status == 0 && readable.stdout.hasPrefix("harkd \(harkVersion), pid ") && readable.stdout.contains("audio "), "\(readable.stdout)")

            // devices.list, devices.get
            let devices = try ctl("devices", "--json")
            #expect(devices.json?.items.compactMap { $0["id"]?.stringValue } == Self.demoIDs)
            #expect(try ctl("devices").lines.count == 12)
            let lamp = try #require(try ctl("devices", "kitchen_light", "--json").json)
            let brightness = lamp["commands"]?.items.first { $0["name"] == .string("set_brightness") }
            #expect(brightness?["parameters"]?.items.first == .object(["name": .string("percent"), "type": .string("integer"), "min": .number(0), "max": .number(100)]))
            #expect(try ctl("devices", "front_door").stdout.contains("unlock  (not by voice)"))
            #expect(try ctl("devices", "no_such_device").status == 65)

            // actions.execute: ok, invalid, not held to the voice policy
            let set = try ctl("do", "kitchen_light", "set_brightness", "percent=40", "--json")
            #expect(set.status == 0 && set.json?["results"]?.items.first?["status"] == .string("ok"), "\(set)")
            #expect(set.json?["results"]?.items.first?["args"] == .object(["percent": .number(40)]))
            let tooBright = try ctl("do", "kitchen_light", "set_brightness", "percent=140")
            #expect(tooBright.status == 1 && tooBright.stdout.contains("invalid") && tooBright.stdout.contains("0–100"), "\(tooBright)")
            #expect(try ctl("do", "front_door", "unlock").status == 0)

            // say: the stage-1 grammar, as speech (the voice policy holds), dry run, not understood
            let said = try ctl("say", "turn off the kitchen light", "--json")
            #expect(said.status == 0 && said.json?["actions"]?.items.first?["command"] == .string("turn_off"), "\(said)")
            let unlock = try ctl("say", "unlock the front door")
            #expect(unlock.status == 1 && unlock.stdout.contains("refused (voice_not_allowed)"), "\(unlock)")
            let dry = try ctl("say", "--dry-run", "set the bedroom thermostat to twenty degrees", "--json")
            #expect(dry.status == 0 && dry.json?["actions"]?.items.first?["status"] == .string("valid"), "\(dry)")
            #expect(dry.json?["actions"]?.items.first?["args"] == .object(["celsius": .number(20)]))
            let song = try ctl("say", "sing me a song")
            #expect(song.status == 1 && song.stdout == "not understood (out_of_grammar)\n")

            // timers, and an id that makes a retry safe
            #expect(try ctl("timers").stdout == "no timers running\n")
            #expect(try ctl("do", "speaker", "start_timer", "seconds=600", "--id", "tea-1").status == 0)
            let again = try ctl("do", "speaker", "start_timer", "seconds=600", "--id", "tea-1", "--json")
            #expect(again.json?["results"]?.items.first?["replayed"] == .bool(true))
            let timers = try #require(try ctl("timers", "--json").json)
            #expect(timers.items.count == 1 && timers.items.first?["seconds"] == .number(600))
            #expect((timers.items.first?["remaining_s"]?.numberValue ?? 0) > 590)

            // history: newest first, filtered by device, since, limit
            let history = try #require(try ctl("history", "--device", "kitchen_light", "--json").json)
            #expect(history.items.map { $0["status"]?.stringValue ?? "" } == ["ok", "invalid", "ok"], "\(history)")
            #expect(history.items.first?["source"] == .string("voice1") && history.items.last?["source"] == .string("socket"))
            #expect(try ctl("history", "--limit", "1", "--since", "1h", "--json").json?.items.count == 1)
            #expect(try ctl("history", "--since", "2000-01-01", "--json").json?.items.count == 6)
            #expect(try ctl("history").stdout.contains("speaker start_timer seconds=600"))

            // events: a subscriber sees what happens, one JSON line each
            let watcher = Process()
            watcher.executableURL = URL(fileURLWithPath: Bin.harkctl)
            watcher.arguments = ["events", "--json", "--type", "transcript", "--type", "actions", "--count", "2", "--socket", socket]
            let output = Pipe()
            watcher.standardOutput = output
            try watcher.run()
            let lines = Drain(output.fileHandleForReading)
            #expect(eventually { (try? harkd.call("status"))?["control"]?["subscribers"] == .number(1) })
            #expect(try ctl("say", "turn on the coffee maker").status == 0)
            #expect(eventually(10) { !watcher.isRunning })
            if watcher.isRunning { watcher.terminate() }
            watcher.waitUntilExit()
            let text = lines.wait()
            let events = text.split(separator: "\n").compactMap { try? JSONValue.parse($0) }
            #expect(watcher.terminationStatus == 0)
            #expect(text.hasPrefix(#"{"type":"transcript","stage":1,"text":"turn on the coffee maker"}"# + "\n{\"type\":\"actions\",\"stage\":1,"),
                    "the same lines as harkd's event stream: \(text)")
            #expect(events.map { $0["type"]?.stringValue ?? "" } == ["transcript", "actions"], "\(events)")
            #expect(events.first?["text"] == .string("turn on the coffee maker"))
            #expect(events.last?["actions"]?.items.first?["device"] == .string("coffee_maker"))

            // reload
            let reload = try ctl("reload")
            #expect(reload.status == 0 && reload.stdout.hasPrefix("reloaded: 11 devices"), "\(reload)")
            #expect(try harkd.call("status")["reloads"]?["count"] == .number(1))
        }
    }

    /// Push-to-talk: after `harkctl listen` the command stage hears "turn on the kitchen light"
    /// without any wake word before it.
    @Test func givenPushToTalk_whenACommandIsSpokenAfterListen_thenItIsHeardWithoutTheWakeWord() async throws {
        let harkd = try await offThePool { try RunningHarkd(input: "-") }
        defer { harkd.stop() }
        let demo = try readSamples(Bin.demo)
        try await offThePool {
            #expect(eventually { (try? harkd.call("status"))?["audio"]?["chunks"]?.numberValue ?? 0 > 30 })
            let listen = try harkctl(["listen"], socket: harkd.socket)
            #expect(listen.status == 0 && listen.stdout == "listening for a command on -\n", "\(listen)")
            #expect(eventually(5) { harkd.events.contains { $0["type"] == .string("listen") } })
            // "turn on the kitchen light" (1.88–3.01 s of the demo), without "hey jarvis" (0.8–1.53 s).
            harkd.play(Array(demo[Int(1.6 * 16_000)..<Int(4.5 * 16_000)]))
            #expect(eventually(30) { harkd.events.contains { $0["type"] == .string("actions") } }, "\(harkd.events)")
            let types = harkd.events.compactMap { $0["type"]?.stringValue }.filter { $0 != "state" && $0 != "power" }
            #expect(types == ["listen", "utterance", "transcript", "actions"], "\(harkd.events)")
            #expect(harkd.events.first { $0["type"] == .string("transcript") }?["text"] == .string("turn on the kitchen light"))
            let status = try harkd.call("status")
            #expect(status["audio"]?["wakes"] == .number(0) && status["audio"]?["commands"] == .number(1))
        }
    }

    @Test func givenNoHarkd_whenHarkctlRuns_thenItExitsUnavailableWithOneLine() async throws {
        try await offThePool {
            let directory = makeTemporaryDirectory("harkctl-none")
            defer { rmdir(directory) }
            let missing = try harkctl(["status"], socket: directory + "/control.sock")
            #expect(missing.status == 69 && missing.stdout.isEmpty)
            #expect(missing.stderr.hasPrefix("harkctl: no control socket at \(directory)/control.sock") && missing.stderr.split(separator: "\n").count == 1)
            #expect(try harkctl(["do", "kitchen_light"], socket: directory + "/control.sock").status == 64)
            #expect(try harkctl(["history", "--since", "yesterday"], socket: directory + "/control.sock").status == 64)
            #expect(try harkctl(["do", "kitchen_light", "set_brightness", "40"], socket: directory + "/control.sock").status == 64)
        }
    }

    /// config.reload checks the new catalog before anything changes: a broken file is refused and
    /// harkd goes on with what it had; a good one is swapped in, grammar and all.
    @Test func givenACatalogEditedOnDisk_whenReloaded_thenABadOneIsRefusedAndAGoodOneIsSwappedIn() async throws {
        let directory = makeTemporaryDirectory("harkd-reload")
        let catalog = directory + "/devices"
        mkdir(catalog, 0o755)
        let demo = try #require(readTextFile(repositoryRoot + "/devices/demo-home.yaml"))
        writeFile(catalog + "/demo-home.yaml", demo)
        let harkd = try await offThePool { try RunningHarkd(catalog: catalog, directory: directory) }
        defer { harkd.stop() }
        try await offThePool {
            let socket = harkd.socket
            writeFile(catalog + "/demo-home.yaml", demo + "\n  garage_light:\n    type: lamp\n    transport: {via: zigbee2mqtt, name: garage}\n")
            let broken = try harkctl(["reload"], socket: socket)
            #expect(broken.status == 1 && broken.stderr.contains("reload refused, nothing changed") && broken.stderr.contains("demo-home.yaml"), "\(broken)")
            writeFile(catalog + "/demo-home.yaml", demo + "\n  pantry_light:\n    type: light\n    room: kitchen\n    names: [kitchen light]\n    transport: {via: zigbee2mqtt, name: pantry}\n")
            let duplicate = try harkctl(["reload"], socket: socket)
            #expect(duplicate.status == 1 && duplicate.stderr.contains("'kitchen light' is already a name of 'kitchen_light'"), "\(duplicate)")
            #expect(try harkctl(["devices", "--json"], socket: socket).json?.items.count == 11)
            #expect(try harkctl(["say", "--dry-run", "turn on the kitchen light"], socket: socket).status == 0)
            #expect(try harkctl(["say", "--dry-run", "turn on the garage light"], socket: socket).status == 1)

            writeFile(catalog + "/demo-home.yaml", demo + "\n  garage_light:\n    type: light\n    room: hallway\n    names: [garage light]\n    transport: {via: zigbee2mqtt, name: garage_light}\n")
            let good = try harkctl(["reload", "--json"], socket: socket)
            #expect(good.status == 0 && good.json?["devices"] == .number(12) && good.json?["restart_required"] == .array([]), "\(good)")
            let garage = try harkctl(["say", "--dry-run", "turn on the garage light", "--json"], socket: socket)
            #expect(garage.status == 0 && garage.json?["actions"]?.items.first?["device"] == .string("garage_light"), "\(garage)")
            #expect(try harkctl(["do", "garage_light", "turn_on"], socket: socket).status == 0)
            #expect(try harkd.call("status")["reloads"]?["count"] == .number(1))
        }
        #expect(harkd.stop() == 0)
        #expect(harkd.log.contains("configuration reloaded"))
    }
}
