#if canImport(Glibc)
import Glibc
#endif
import HarkPower
import Testing

/// The CPU time the kernel's scheduler has given the calling thread (ns), read from
/// /proc/thread-self/schedstat: an account independent of clock_gettime's CPU clocks.
func schedulerRuntime() -> UInt64? {
    guard let file = fopen("/proc/thread-self/schedstat", "r") else { return nil }
    defer { fclose(file) }
    var buffer = [UInt8](repeating: 0, count: 128)
    let n = fread(&buffer, 1, buffer.count, file)
    let text = String(decoding: buffer[..<n], as: UTF8.self)
    return text.split(separator: " ").first.flatMap { UInt64($0) }
}

/// Keeps the calling thread busy until its own CPU clock has advanced `nanoseconds`.
func burn(_ nanoseconds: UInt64) -> Double {
    let start = CPUClock.threadNow()
    var x = 1.0
    while CPUClock.threadNow() - start < nanoseconds {
        for k in 0..<10_000 { x = x * 1.000_000_1 + Double(k & 1) }
    }
    return x
}

@Suite struct PowerModelTests {
    static let zero = BoardProfile(id: "zero", name: "Zero", idleMilliwatts: 600, busyCoreMilliwatts: 410, speed: 0.3, cores: 4)
    static let host = BoardProfile(id: "host", name: "Host", idleMilliwatts: 6000, busyCoreMilliwatts: 3500, speed: 5, cores: 4)

    @Test func givenAHostAndABoard_whenScaled_thenTheArithmeticIsTheDocumentedOne() {
        let model = PowerModel(board: Self.zero, host: Self.host)
        // 1 % of a host core = 0.01 × 5 / 0.3 board cores × 410 mW.
        #expect(abs(model.scale - 5 / 0.3) < 1e-12)
        #expect(abs(model.stageMilliwatts(cpuPerSecond: 0.01) - 0.01 * (5 / 0.3) * 410) < 1e-9)
        #expect(abs(model.boardMilliwatts(cpuPerSecond: 0.01) - (600 + 0.01 * (5 / 0.3) * 410)) < 1e-9)
        // A request of 0.5 host CPU seconds: 0.5 × 5 / 0.3 × 410 mJ.
        #expect(abs(model.millijoules(cpuSeconds: 0.5) - 0.5 * (5 / 0.3) * 410) < 1e-9)
        // On the board itself nothing is scaled.
        let onBoard = PowerModel(board: Self.zero)
        #expect(onBoard.scale == 1 && onBoard.stageMilliwatts(cpuPerSecond: 0.25) == 0.25 * 410)
    }

    /// Given a known CPU load (this thread kept busy for 300 ms of its CPU time while 3 s of audio
    /// "pass"), when the stage clock measures it and the meter estimates, then the CPU agrees with
    /// the scheduler's own account within 5 ms and the estimate is the profile arithmetic of it.
    @Test func givenAKnownCPULoad_whenMeasured_thenTheEstimateIsTheProfileArithmetic() throws {
        let before = try #require(schedulerRuntime())
        var clock = StageClock()
        clock.start()
        let sink = burn(300_000_000)
        clock.lap(\.wake)
        let after = try #require(schedulerRuntime())
        #expect(sink.isFinite)
        let measured = clock.take()
        let scheduler = Double(after - before) / 1e9
        let seconds = Double(measured.total) / 1e9
        #expect(seconds >= 0.3 && seconds < 0.32, "measured \(seconds) s")
        #expect(abs(seconds - scheduler) < 0.005, "clock_gettime \(seconds) s, schedstat \(scheduler) s")

        let meter = PowerMeter(model: PowerModel(board: Self.zero, host: Self.host), governor: .init(), gate: true, wakeWords: 1)
        // The load over 3 s of audio, as 0.08 s chunks: 0.1 CPU seconds per second.
        let chunks = 37
        for k in 0..<chunks {
            var part = StageCPU()
            part.wake = measured.wake / UInt64(chunks) + (k == 0 ? measured.wake % UInt64(chunks) : 0)
            _ = meter.record(part, seconds: 0.08, at: Double(k + 1) * 0.08)
        }
        let window = meter.snapshot.windows[0]
        let expected = seconds / (Double(chunks) * 0.08) * (5 / 0.3) * 410
        #expect(abs(window.cpuPerSecond - seconds / (Double(chunks) * 0.08)) < 1e-9)
        #expect(abs(window.stageMilliwatts - expected) < 1e-6, "\(window.stageMilliwatts) mW, arithmetic \(expected) mW")
        #expect(abs(window.boardMilliwatts - (600 + expected)) < 1e-6)
    }

    @Test func givenAStageTwoRequest_whenRecorded_thenItsEnergyIsCountedAndAveraged() {
        let meter = PowerMeter(model: PowerModel(board: Self.zero, host: Self.host), governor: .init(), gate: true, wakeWords: 1)
        let first = meter.recordRequest(cpuSeconds: 0.3)
        meter.recordRequest(cpuSeconds: 0.9)
        let requests = meter.snapshot.requests
        #expect(abs(first - 0.3 * (5 / 0.3) * 410) < 1e-9)
        #expect(requests.count == 2 && abs(requests.cpuSeconds - 1.2) < 1e-12)
        #expect(abs(requests.meanMillijoules! - 0.6 * (5 / 0.3) * 410) < 1e-9)
        #expect(abs(requests.lastMillijoules! - 0.9 * (5 / 0.3) * 410) < 1e-9)
    }

    @Test func givenAProfileWithAFigureOutOfRange_whenValidated_thenTheErrorNamesTheKey() {
        var profile = Self.zero
        profile.speed = -1
        let error = #expect(throws: PowerError.self) { try profile.validated(source: "boards/zero.yaml") }
        #expect(error?.message == "boards/zero.yaml: speed -1.0 is outside 0.01–100.0")
        profile = Self.zero
        profile.busyCoreMilliwatts = .nan
        #expect(throws: PowerError.self) { try profile.validated(source: "x") }
    }
}

@Suite struct CPUWindowsTests {
    /// Given 20 minutes of chunks at a known CPU rate that changes after 10 minutes, when averaged,
    /// then each window holds its length of the newest audio and the rate of that audio.
    @Test func givenAChangingLoad_whenAveraged_thenEachWindowHoldsItsNewestAudio() {
        var windows = CPUWindows()
        let chunk = 0.08
        // 10 min at 1 ms of CPU a chunk (12.5 ms/s), then 10 min at 4 ms a chunk (50 ms/s).
        for k in 0..<15_000 { windows.add(StageCPU(wake: k < 7_500 ? 1_000_000 : 4_000_000), seconds: chunk) }
        let ten = windows.average(over: 10)
        let minute = windows.average(over: 60)
        let quarter = windows.average(over: 900)
        #expect(ten.seconds > 9 && ten.seconds <= 10.0001)
        #expect(minute.seconds > 59 && minute.seconds <= 60.0001)
        #expect(quarter.seconds > 890 && quarter.seconds <= 900.0001)
        #expect(abs(ten.cpuPerSecond - 0.05) < 1e-9 && abs(minute.cpuPerSecond - 0.05) < 1e-9)
        // 15 minutes: 5 at the old rate, 10 at the new one.
        let expected = (300 * 0.0125 + 600 * 0.05) / 900
        #expect(abs(quarter.cpuPerSecond - expected) < 0.0005, "\(quarter.cpuPerSecond) vs \(expected)")
        #expect(abs(windows.totalSeconds - 1200) < 1e-6 && windows.total.wake == 7_500 * 5_000_000)
    }

    @Test func givenAFewChunks_whenAveraged_thenTheWindowCoversOnlyWhatWasHeard() {
        var windows = CPUWindows()
        for _ in 0..<5 { windows.add(StageCPU(capture: 100_000, vad: 200_000), seconds: 0.08) }
        let average = windows.average(over: 60)
        #expect(abs(average.seconds - 0.4) < 1e-12)
        #expect(abs(average.cpuPerSecond - 0.0015 / 0.4) < 1e-12)
        #expect(average.cpu.vad == 1_000_000 && average.cpu.capture == 500_000)
    }
}
