import Foundation
import HarkControl
import HarkDevices
import HarkTestSupport
import Testing

/// The power figures over the control socket and in `harkctl status`, from a harkd hearing speech in
/// real time (a timed suite: it waits on the audio).
@Suite(.serialized) struct PowerStatusTests {
    @Test func givenSpeechHeardLive_whenStatusIsAsked_thenItHasThePowerFigures() async throws {
        let directory = makeTemporaryDirectory("hark-power-status")
        writeFile(directory + "/harkd.yaml", "power:\n  board: raspberry-pi-zero-2w\n  budget_mw: 50\n  boards: \(repositoryRoot)/devices/boards\n")
        let harkd = try await offThePool { try RunningHarkd(input: "-", config: directory + "/harkd.yaml", extra: ["--no-commands"]) }
        defer { harkd.stop() }
        let speech = try readSamples(repositoryRoot + "/build/bench/speech_noise_60s.wav")
        harkd.play(Array(speech.prefix(16_000 * 12)))
        let ready = try await offThePool { eventually(40) { ((try? harkd.call("status"))?["power"]?["audio_s"]?.numberValue ?? 0) >= 11 } }
        #expect(ready, "\(harkd.log)")
        let power = try #require(try await offThePool { try harkd.call("status") }["power"])
        #expect(power["board"] == .string("raspberry-pi-zero-2w") && power["budget_mw"] == .number(50))
        let ten = try #require(power["windows"]?["10"])
        #expect((ten["stage_mw"]?.numberValue ?? 0) > 0 && (ten["cpu_s_per_s"]?.numberValue ?? 0) > 0)
        #expect((ten["cpu_s"]?["wake"]?.numberValue ?? 0) > 0 && ten["cpu_s"]?["vad"] != nil && ten["cpu_s"]?["capture"] != nil)
        #expect(power["windows"]?["60"] != nil && power["windows"]?["900"] != nil)
        #expect(power["unavailable"]?.items.contains { $0["lever"] == .string("lower_capture_rate") } == true)
        let text = try await offThePool { try harkctl(["status"], socket: harkd.socket) }
        #expect(text.status == 0 && text.stdout.contains("mW always-on (10 s; 60 s"), "\(text.stdout)")
        #expect(text.stdout.contains("on raspberry-pi-zero-2w, budget 50 mW"), "\(text.stdout)")
        #expect(harkd.events.contains { $0["type"] == .string("power") })
    }
}
