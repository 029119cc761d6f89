import Testing
@testable import HarkCommands

/// The end-pointer over voice-activity masks: 80 ms chunks of eight 10 ms sub-frames.
@Suite("Utterance capture after the wake word")
struct UtteranceCaptureTests {
    /// Runs chunks given as strings of sub-frames ("x" active, "." quiet) from `began`.
    func run(_ capture: inout UtteranceCapture, _ frames: String) -> (UtteranceCapture.Outcome, chunks: Int) {
        let subframes = Array(frames)
        var chunk = 0
        while chunk * 8 < subframes.count {
            var mask: UInt64 = 0
            for k in 0..<8 where chunk * 8 + k < subframes.count && subframes[chunk * 8 + k] == "x" { mask |= 1 << UInt64(k) }
            let outcome = capture.update(chunkStart: capture.began + Double(chunk) * 0.08, mask: mask, subframes: 8)
            chunk += 1
            if outcome != .listening { return (outcome, chunk) }
        }
        return (.listening, chunk)
    }

    @Test("Given quiet, 1 s of speech, then quiet, then the utterance spans the speech and ends one hangover after it")
    func hangover() {
        var capture = UtteranceCapture(configuration: .init(), began: 2.0)
        let (outcome, _) = run(&capture, String(repeating: ".", count: 30) + String(repeating: "x", count: 100) + String(repeating: ".", count: 100))
        guard case let .ended(start, end, endpoint, truncated) = outcome else { Issue.record("\(outcome)"); return }
        #expect(abs(start - 2.30) < 1e-9)
        #expect(abs(end - 3.30) < 1e-9)
        #expect(abs(endpoint - 3.70) < 1e-9)
        #expect(!truncated)
    }

    @Test("Given a pause shorter than the hangover inside the command, then it stays one utterance")
    func shortPause() {
        var capture = UtteranceCapture(configuration: .init(), began: 0)
        let (outcome, _) = run(&capture, String(repeating: ".", count: 20) + String(repeating: "x", count: 50) + String(repeating: ".", count: 30)
                               + String(repeating: "x", count: 50) + String(repeating: ".", count: 60))
        guard case let .ended(start, end, _, _) = outcome else { Issue.record("\(outcome)"); return }
        #expect(abs(start - 0.2) < 1e-9)
        #expect(abs(end - 1.5) < 1e-9)
    }

    @Test("Given the wake word still ending when it fired, then its tail is not the command's start")
    func wakeTail() {
        var capture = UtteranceCapture(configuration: .init(), began: 1.0)
        // 120 ms of the wake word's tail, 300 ms pause, the command, silence.
        let (outcome, _) = run(&capture, String(repeating: "x", count: 12) + String(repeating: ".", count: 30) + String(repeating: "x", count: 80) + String(repeating: ".", count: 50))
        guard case let .ended(start, _, _, _) = outcome else { Issue.record("\(outcome)"); return }
        #expect(abs(start - 1.42) < 1e-9)
    }

    @Test("Given nobody speaks, then the capture times out after the configured time")
    func noSpeech() {
        var configuration = UtteranceCapture.Configuration()
        configuration.noSpeechTimeout = 2.0
        var capture = UtteranceCapture(configuration: configuration, began: 5.0)
        // Isolated clicks (one active sub-frame) are not speech.
        let (outcome, chunks) = run(&capture, String(repeating: "....x...", count: 100))
        #expect(outcome == .timedOut(at: 7.0))
        #expect(chunks == 25)
    }

    @Test("Given speech that never stops, then it is cut at the maximum length")
    func maximum() {
        var configuration = UtteranceCapture.Configuration()
        configuration.maxLength = 3.0
        var capture = UtteranceCapture(configuration: configuration, began: 0)
        let (outcome, _) = run(&capture, String(repeating: ".", count: 10) + String(repeating: "x", count: 1000))
        guard case let .ended(start, _, endpoint, truncated) = outcome else { Issue.record("\(outcome)"); return }
        #expect(truncated)
        #expect(abs(endpoint - start - 3.0) < 1e-9)
    }
}
