import Foundation
import Testing
@testable import HarkAudio

#if canImport(Glibc)
import Glibc
#endif

/// A scripted ``PCMCapture``: each wait/read takes the next step of `script`, each open the
/// next errno of `openErrors` (0 = success), each resume the next of `resumeErrors`
/// (0 = resumed). Failures are made by the real `alsaCall` helper from `-errno`, exactly as
/// alsa-lib reports them. Data is a ramp 0, 1, 2, … so continuity can be checked.
/// Used only from the thread that calls `read` (the source's reader).
final class FakePCM: PCMCapture {
    enum Step: Equatable {
        case data(Int)         // read returns this many frames
        case readError(Int32)  // read returns -errno
        case waitError(Int32)  // wait returns -errno
        case timeout           // wait times out once
    }

    let device = "fake"
    let periodFrames = 256
    var script: [Step]
    var openErrors: [Int32]
    var resumeErrors: [Int32]
    var prepareErrors: [Int32]
    /// Every call made, with when it was made.
    private(set) var calls: [(name: String, at: ContinuousClock.Instant)] = []
    private var next: Int16 = 0

    init(script: [Step], openErrors: [Int32] = [], resumeErrors: [Int32] = [], prepareErrors: [Int32] = []) {
        self.script = script
        self.openErrors = openErrors
        self.resumeErrors = resumeErrors
        self.prepareErrors = prepareErrors
    }

    func names(_ name: String) -> [ContinuousClock.Instant] { calls.filter { $0.name == name }.map(\.at) }
    var callNames: [String] { calls.map(\.name) }

    private func record(_ name: String) { calls.append((name, .now)) }

    private static func fail(_ function: StaticString, _ code: Int32) throws(AudioError) {
        if code != 0 { try alsaCall(function, device: "fake") { -code } }
    }

    func open() throws(AudioError) -> CaptureFormat {
        record("open")
        try Self.fail("snd_pcm_open", openErrors.isEmpty ? 0 : openErrors.removeFirst())
        return .hark
    }

    func wait(milliseconds: Int32) throws(AudioError) -> Bool {
        record("wait")
        switch script.first {
        case .waitError(let code)?:
            script.removeFirst()
            try Self.fail("snd_pcm_wait", code)
        case .timeout?:
            script.removeFirst()
            return false
        case nil:
            // Script done: behave like a quiet device that times out.
            usleep(UInt32(milliseconds) * 1000)
            return false
        default:
            break
        }
        return true
    }

    func read(into buffer: UnsafeMutableRawPointer, frames: Int) throws(AudioError) -> Int {
        record("read")
        switch script.removeFirst() {
        case .data(let n):
            let samples = buffer.assumingMemoryBound(to: Int16.self)
            precondition(n <= frames)
            for i in 0..<n {
                samples[i] = next
                next &+= 1
            }
            return n
        case .readError(let code):
            try Self.fail("snd_pcm_readi", code)
            return 0
        default:
            preconditionFailure("wait consumed this step")
        }
    }

    func prepareAndStart() throws(AudioError) {
        record("prepare")
        try Self.fail("snd_pcm_prepare", prepareErrors.isEmpty ? 0 : prepareErrors.removeFirst())
    }

    func resume() throws(AudioError) -> Bool {
        record("resume")
        let code = resumeErrors.isEmpty ? 0 : resumeErrors.removeFirst()
        if code == EAGAIN { return false }
        try Self.fail("snd_pcm_resume", code)
        return true
    }

    func close() { record("close") }
}

/// A source over `pcm` whose backoff sleeps are recorded (and really slept).
private func makeSource(
    _ pcm: FakePCM, initial: Int = 10, cap: Int = 40, retryOpen: Bool = false
) throws -> (ALSACaptureSource, SleepLog) {
    var options = AudioSourceOptions(retryOpen: retryOpen)
    options.reopenInitialDelayMilliseconds = initial
    options.reopenMaxDelayMilliseconds = cap
    let source = try ALSACaptureSource(pcm: pcm, options: options, logger: TestAudio.logger)
    let log = SleepLog()
    let sleep = source.sleep
    source.sleep = { ms in
        log.delays.append(ms)
        return sleep(ms)
    }
    return (source, log)
}

/// Backoff and resume sleeps, in order (reader thread only).
private final class SleepLog { var delays: [Int] = [] }

/// Reads `count` samples, failing the test rather than hanging if they never come.
private func read(_ source: ALSACaptureSource, count: Int) throws -> [Int16] {
    var out: [Int16] = []
    var buffer = [Int16](repeating: 0, count: 64)
    while out.count < count {
        let n = try buffer.withUnsafeMutableBufferPointer { try source.read(into: $0) }
        if n == 0 { break }
        out += buffer[..<n]
    }
    return out
}

private func ramp(_ count: Int) -> [Int16] { (0..<count).map { Int16($0) } }

@Suite("ALSA capture recovery (scripted device)")
struct CaptureRecoveryTests {
    @Test("Given an overrun (-EPIPE) between two reads, then the stream is prepared again, the overrun counted, and no samples are lost")
    func overrun() throws {
        let pcm = FakePCM(script: [.data(100), .readError(EPIPE), .data(100)])
        let (source, log) = try makeSource(pcm)

        #expect(try read(source, count: 200) == ramp(200))
        #expect(source.counters == AudioCounters(samplesDelivered: 200, overruns: 1))
        #expect(pcm.callNames.filter { $0 == "prepare" }.count == 1)
        #expect(log.delays.isEmpty)
        #expect(!pcm.callNames.contains("close"))
    }

    @Test("Given an overrun reported by snd_pcm_wait, then it is recovered the same way")
    func overrunFromWait() throws {
        let pcm = FakePCM(script: [.waitError(EPIPE), .timeout, .data(10)])
        let (source, _) = try makeSource(pcm)
        #expect(try read(source, count: 10) == ramp(10))
        #expect(source.counters.overruns == 1)
    }

    @Test("Given a suspend (-ESTRPIPE) and a driver answering -EAGAIN twice, then resume is retried 20 ms apart and the suspend counted")
    func suspendResumes() throws {
        let pcm = FakePCM(script: [.data(50), .readError(ESTRPIPE), .data(50)], resumeErrors: [EAGAIN, EAGAIN, 0])
        let (source, log) = try makeSource(pcm)

        #expect(try read(source, count: 100) == ramp(100))
        #expect(source.counters == AudioCounters(samplesDelivered: 100, suspends: 1))
        #expect(pcm.callNames.filter { $0 == "resume" }.count == 3)
        #expect(log.delays == [20, 20])
        #expect(!pcm.callNames.contains("prepare"))
    }

    @Test("Given a suspend whose resume is not supported (-ENOSYS), then the stream is prepared instead")
    func suspendFallsBackToPrepare() throws {
        let pcm = FakePCM(script: [.readError(ESTRPIPE), .data(5)], resumeErrors: [ENOSYS])
        let (source, _) = try makeSource(pcm)
        #expect(try read(source, count: 5) == ramp(5))
        #expect(source.counters.suspends == 1)
        #expect(pcm.callNames.filter { $0 == "prepare" }.count == 1)
    }

    @Test("Given a suspend whose driver answers -EAGAIN forever, then resume is given up after 50 tries (about 1 s) and the stream is prepared")
    func suspendResumeIsBounded() throws {
        let pcm = FakePCM(script: [.readError(ESTRPIPE), .data(5)], resumeErrors: Array(repeating: EAGAIN, count: 60))
        let (source, log) = try makeSource(pcm)
        #expect(try read(source, count: 5) == ramp(5))
        #expect(pcm.callNames.filter { $0 == "resume" }.count == 50)
        #expect(log.delays == Array(repeating: 20, count: 50))
        #expect(pcm.callNames.filter { $0 == "prepare" }.count == 1)
        #expect(source.counters == AudioCounters(samplesDelivered: 5, suspends: 1))
    }

    @Test("Given an unplug (-ENODEV) and a device that stays away, then reopening backs off 10, 20, 40, 40… ms, never faster, and counts one reopen")
    func unplugBacksOff() throws {
        let pcm = FakePCM(script: [.data(10), .readError(ENODEV), .data(10)],
                          openErrors: [0, ENODEV, ENOENT, EBUSY, ENODEV, ENODEV])
        let (source, log) = try makeSource(pcm)

        #expect(try read(source, count: 20) == ramp(20))

        #expect(log.delays == [10, 20, 40, 40, 40, 40])
        #expect(source.counters == AudioCounters(samplesDelivered: 20, reopens: 1))
        let opens = pcm.names("open")
        #expect(opens.count == 7)
        for (i, delay) in log.delays.enumerated() {
            #expect(opens[i + 1] - opens[i] >= .milliseconds(delay - 1), "attempt \(i + 1) came too soon")
        }
        #expect(pcm.callNames.contains("close"))
    }

    @Test("Given a device that opens but fails at once every time (-EBUSY), then the backoff keeps growing instead of looping")
    func flappingDeviceStillBacksOff() throws {
        let pcm = FakePCM(script: [.readError(EBUSY), .readError(EBUSY), .readError(EIO), .readError(EBUSY), .data(3)])
        let (source, log) = try makeSource(pcm)
        #expect(try read(source, count: 3) == ramp(3))
        #expect(log.delays == [10, 20, 40, 40])
        #expect(source.counters.reopens == 4)
    }

    @Test("Given audio that flows again between two failures, then the backoff starts again from the initial delay")
    func backoffResetsAfterData() throws {
        let pcm = FakePCM(script: [.readError(ENODEV), .data(4), .readError(ENODEV), .data(4)])
        let (source, log) = try makeSource(pcm)
        #expect(try read(source, count: 8) == ramp(8))
        #expect(log.delays == [10, 10])
        #expect(source.counters.reopens == 2)
    }

    @Test("Given an overrun whose snd_pcm_prepare fails too, then the device is closed and reopened")
    func failedPrepareReopens() throws {
        let pcm = FakePCM(script: [.readError(EPIPE), .data(6)], prepareErrors: [EIO])
        let (source, log) = try makeSource(pcm)
        #expect(try read(source, count: 6) == ramp(6))
        #expect(source.counters == AudioCounters(samplesDelivered: 6, overruns: 1, reopens: 1))
        #expect(log.delays == [10])
    }

    @Test("Given -EAGAIN and empty reads after ready waits, and wait timeouts, then read pauses 10 ms each time, keeps waiting, and never returns 0 early")
    func eagainAndTimeouts() throws {
        let pcm = FakePCM(script: [.timeout, .readError(EAGAIN), .timeout, .data(0), .data(7)])
        let (source, log) = try makeSource(pcm)
        #expect(try read(source, count: 7) == ramp(7))
        #expect(source.counters == AudioCounters(samplesDelivered: 7))
        #expect(log.delays == [10, 10])
    }

    @Test("Given a device in a 5 s backoff, when cancel() is called from another thread, then read returns 0 within 300 ms")
    func cancelDuringBackoff() throws {
        let pcm = FakePCM(script: [.readError(ENODEV)], openErrors: [0, ENODEV, ENODEV])
        let (source, log) = try makeSource(pcm, initial: 5_000, cap: 5_000)
        Thread { usleep(100_000); source.cancel() }.start()
        let started = ContinuousClock.now

        #expect(try read(source, count: 1).isEmpty)

        #expect(ContinuousClock.now - started < .milliseconds(400))
        #expect(log.delays == [5_000])
    }

    @Test("Given a device with nothing to say, when cancel() is called, then the read blocked in snd_pcm_wait returns 0 within ~100 ms")
    func cancelWhileWaiting() throws {
        let pcm = FakePCM(script: [])
        let (source, _) = try makeSource(pcm)
        Thread { usleep(150_000); source.cancel() }.start()
        let started = ContinuousClock.now
        #expect(try read(source, count: 1).isEmpty)
        #expect(ContinuousClock.now - started < .milliseconds(400))
        // Waits are 100 ms each, so a cancel after 150 ms costs at most two: no spinning.
        #expect(pcm.names("wait").count <= 3)
    }

    @Test("Given a device that cannot be opened at start, then init throws unless retryOpen is set, in which case reads retry")
    func startupOpenPolicy() throws {
        #expect(throws: AudioError.self) { try makeSource(FakePCM(script: [], openErrors: [EBUSY])) }

        let pcm = FakePCM(script: [.data(2)], openErrors: [EBUSY, EBUSY])
        let (source, log) = try makeSource(pcm, retryOpen: true)
        #expect(try read(source, count: 2) == ramp(2))
        #expect(log.delays == [10, 20])
        #expect(source.counters.reopens == 1)
    }
}
