import Foundation
import HarkDaemon
import HarkPower
import HarkTestSupport
import Logging
import Synchronization
import Testing

/// Keeps what was logged at warning and above.
final class Warnings: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    var logger: Logger { Logger(label: "hark.test.power") { _ in Handler(records: self) } }

    struct Handler: LogHandler {
        let records: Warnings
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .warning
        func log(event: LogEvent) { records.lines.withLock { $0.append("\(event.message)") } }
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
    }
}

@Suite struct PowerConfigTests {
    static let boards = Repo.root.appendingPathComponent("devices/boards").path

    @Test func givenAPowerSection_whenParsed_thenEveryKeyIsRead() throws {
        let config = try DaemonConfig.parse(yaml: """
            power:
              board: raspberry-pi-zero-2w
              budget_mw: 50
              host: generic-x86
              boards: /usr/local/share/hark/boards
            """)
        #expect(config.power.board == "raspberry-pi-zero-2w" && config.power.budgetMilliwatts == 50)
        #expect(config.power.host == "generic-x86" && config.power.boards == "/usr/local/share/hark/boards")
    }

    /// Given a negative, zero or non-numeric budget, or a board that is not a name, when the file is
    /// read, then the error is one line naming the file, the line and the key.
    @Test(arguments: [
        ("power:\n  budget_mw: -5\n", "harkd.yaml:2: power.budget_mw: must be a positive number of milliwatts (at most 1000000), got -5.0"),
        ("power:\n  budget_mw: 0\n", "harkd.yaml:2: power.budget_mw: must be a positive number of milliwatts (at most 1000000), got 0.0"),
        ("power:\n  budget_mw: lots\n", "harkd.yaml:2: power.budget_mw: expected a number, got 'lots'"),
        ("power:\n  board: ../../etc/passwd\n", "harkd.yaml:2: power.board: '../../etc/passwd' is not a board name (lower-case letters, digits and dashes, e.g. raspberry-pi-zero-2w)"),
        ("power:\n  watts: 5\n", "harkd.yaml:2: power: unknown key 'watts' (expected board, boards, budget_mw, host)"),
    ])
    func givenABadPowerSetting_whenRead_thenTheErrorNamesFileAndKey(yaml: String, message: String) {
        let error = #expect(throws: DaemonError.self) { try DaemonConfig.parse(yaml: yaml, file: "harkd.yaml") }
        #expect(error?.message == message)
        #expect(error?.message.contains("\n") == false)
    }

    /// Given a board without a profile, when resolved, then it is the generic profile and a warning
    /// names the board and where it was looked for.
    @Test func givenAnUnknownBoard_whenResolved_thenTheGenericProfileWithAWarning() throws {
        let warnings = Warnings()
        let profile = try BoardProfiles.resolve("acme-speaker-3000", directory: Self.boards, role: "power estimate", logger: warnings.logger)
        #expect(profile == BoardProfile.generic)
        #expect(warnings.all.count == 1)
        #expect(warnings.all.first?.contains("unknown board 'acme-speaker-3000'") == true)
        #expect(warnings.all.first?.contains("\(Self.boards)/acme-speaker-3000.yaml") == true)
        // A known board: no warning.
        let zero = try BoardProfiles.resolve("raspberry-pi-zero-2w", directory: Self.boards, role: "power estimate", logger: warnings.logger)
        #expect(zero.id == "raspberry-pi-zero-2w" && warnings.all.count == 1)
    }

    /// The shipped profiles: the four boards of the issue, each figure in range, each key preceded by
    /// a comment (its source), and the generic fallback equal to the Pi Zero 2 W's figures.
    @Test func givenTheShippedProfiles_whenLoaded_thenEachIsValidAndEachFigureHasASourceComment() throws {
        let profiles = try BoardProfiles.all(directory: Self.boards)
        #expect(profiles.map(\.id) == ["generic-x86", "raspberry-pi-4", "raspberry-pi-5", "raspberry-pi-zero-2w"])
        for profile in profiles {
            let text = try #require(readTextFile("\(Self.boards)/\(profile.id).yaml"))
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for key in ["idle_mw", "busy_core_mw", "speed"] {
                let index = try #require(lines.firstIndex { $0.hasPrefix(key + ":") })
                #expect(index > 0 && lines[index - 1].hasPrefix("#"), "\(profile.id): \(key) has no comment above it")
            }
        }
        let zero = try #require(profiles.first { $0.id == "raspberry-pi-zero-2w" })
        #expect(zero.idleMilliwatts == BoardProfile.generic.idleMilliwatts && zero.busyCoreMilliwatts == BoardProfile.generic.busyCoreMilliwatts
                && zero.speed == BoardProfile.generic.speed)
    }

    @Test func givenAProfileWithABadFigure_whenLoaded_thenTheErrorNamesTheFileAndKey() throws {
        let directory = makeTemporaryDirectory("hark-boards")
        writeFile(directory + "/bad-board.yaml", "name: Bad\nidle_mw: 500\nbusy_core_mw: 300\nspeed: fast\ncores: 4\n")
        writeFile(directory + "/slow-board.yaml", "name: Slow\nidle_mw: 500\nbusy_core_mw: 300\nspeed: 0\ncores: 4\n")
        writeFile(directory + "/short-board.yaml", "name: Short\nidle_mw: 500\n")
        let bad = #expect(throws: DaemonError.self) { try BoardProfiles.load("bad-board", directory: directory) }
        #expect(bad?.message == "\(directory)/bad-board.yaml:4: speed: expected a number, got 'fast'")
        let slow = #expect(throws: DaemonError.self) { try BoardProfiles.load("slow-board", directory: directory) }
        #expect(slow?.message == "\(directory)/slow-board.yaml: speed 0.0 is outside 0.01–100.0")
        let short = #expect(throws: DaemonError.self) { try BoardProfiles.load("short-board", directory: directory) }
        #expect(short?.message.contains("busy_core_mw is missing") == true)
    }

    @Test func givenStatusParts_whenComposed_thenPowerFollowsWhatThePipelineDid() throws {
        let line = StatusLine(notifier: SystemdNotifier())
        let meter = PowerMeter(model: PowerModel(board: .generic), governor: .init(budgetMilliwatts: 50), gate: true, wakeWords: 1)
        for k in 0..<130 { _ = meter.record(StageCPU(wake: 800_000), seconds: 0.08, at: Double(k + 1) * 0.08) }
        line.status("listening; last utterance rejected (out_of_grammar)")
        line.power(PowerReport(meter.snapshot, t: 10.4))
        // 0.8 ms of CPU per 80 ms chunk = 0.01 CPU s/s × 410 mW = 4.1 mW.
        #expect(line.current == "listening; last utterance rejected (out_of_grammar) · always-on 4.1 mW on generic, budget 50 mW")
    }
}
