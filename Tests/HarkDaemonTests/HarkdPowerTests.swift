import Foundation
import HarkTestSupport
import Testing

/// harkd end to end: the power section of its configuration, its events and its log lines.
@Suite struct HarkdPowerTests {
    static func config(_ power: String) -> String {
        let directory = makeTemporaryDirectory("hark-power-config")
        let path = directory + "/harkd.yaml"
        writeFile(path, "power:\n" + power)
        return path
    }

    /// Given a budget nothing meets on a Pi Zero 2 W measured here, when harkd hears two minutes of
    /// speech (the governor waits 10 s after each of its 5 levers), then it reports power every 10 s, takes the levers a single wake word and the gate
    /// allow, logs the ones it cannot use, says once that it cannot meet the budget, and goes on.
    @Test func givenAnImpossibleBudget_whenHarkdRuns_thenEventsAndLogLinesSaySo() throws {
        let config = Self.config("  board: raspberry-pi-zero-2w\n  host: generic-x86\n  budget_mw: 0.01\n  boards: \(Repo.root.path)/devices/boards\n")
        let speech = makeTemporaryDirectory("hark-power-speech") + "/speech_120s.wav"
        let minute = Repo.root.appendingPathComponent("build/bench/speech_noise_60s.wav").path
        let sox = runShell("sox '\(minute)' '\(minute)' '\(speech)'")
        #expect(sox.status == 0, "\(sox.output)")
        let run = try harkd(["--input", speech, "--dry-run", "--events", "-", "--no-commands",
                             "--models", Repo.models, "--config", config], timeout: 180)
        #expect(run.status == 0, "\(run.stderr)")
        let power = run.events.filter { $0["type"] as? String == "power" }
        #expect(power.count == 12)
        #expect(power.allSatisfy { $0["board"] as? String == "raspberry-pi-zero-2w" && ($0["stage_mw"] as? Double ?? 0) > 0 && $0["budget_mw"] as? Double == 0.01 })
        let governor = run.events.filter { $0["type"] as? String == "governor" }
        #expect(governor.compactMap { $0["lever"] as? String } == ["stricter_gate", "strictest_gate", "silent_gaps", "wake_stride_2", "wake_stride_3"])
        #expect(governor.filter { $0["action"] as? String == "cannot_meet" }.count == 1)
        #expect(run.stderr.contains("power lever not available") && run.stderr.contains("lower_capture_rate"))
        #expect(run.stderr.contains("fewer_wake_words") && run.stderr.contains("only one wake word is configured"))
        #expect(run.stderr.components(separatedBy: "every lever is taken").count == 2, "\(run.stderr)")
    }

    @Test func givenAGenerousBudget_whenHarkdRuns_thenNoGovernorEvent() throws {
        let config = Self.config("  board: raspberry-pi-4\n  budget_mw: 5000\n  boards: \(Repo.root.path)/devices/boards\n")
        let run = try harkd(["--input", "build/bench/speech_noise_60s.wav", "--dry-run", "--events", "-", "--no-commands",
                             "--models", Repo.models, "--config", config], timeout: 120)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.events.filter { $0["type"] as? String == "power" }.count == 6)
        #expect(run.events.filter { $0["type"] as? String == "governor" }.isEmpty)
    }

    /// Given an unknown board, harkd warns and goes on with the generic profile; given a negative
    /// budget, it refuses to start with one line naming the file and the key.
    @Test func givenBadPowerSettings_whenHarkdStarts_thenAWarningOrAOneLineError() throws {
        let unknown = Self.config("  board: acme-speaker-3000\n  boards: \(Repo.root.path)/devices/boards\n")
        let run = try harkd(["--input", "build/bench/near_silence_1s.wav", "--dry-run", "--events", "-", "--no-commands",
                             "--models", Repo.models, "--config", unknown], timeout: 60)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("unknown board 'acme-speaker-3000'"))
        let negative = Self.config("  budget_mw: -50\n")
        let refused = try harkd(["--input", "build/bench/near_silence_1s.wav", "--dry-run", "--events", "-", "--config", negative], timeout: 60)
        #expect(refused.status != 0)
        #expect(refused.stderrLines.count == 1)
        #expect(refused.stderr == "harkd: \(negative):2: power.budget_mw: must be a positive number of milliwatts (at most 1000000), got -50.0\n")
    }
}
