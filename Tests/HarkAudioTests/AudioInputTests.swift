import Testing
@testable import HarkAudio

@Suite("--input parsing")
struct AudioInputTests {
    @Test("Given each form of --input, when parsed, then it names the right source and prints back the same way",
          arguments: [
            ("alsa:default", AudioInput.alsa(device: "default")),
            ("alsa:hw:1,0", .alsa(device: "hw:1,0")),
            ("alsa:plughw:CARD=Mic,DEV=0", .alsa(device: "plughw:CARD=Mic,DEV=0")),
            ("-", .stdin),
            ("recordings/kitchen.wav", .file(path: "recordings/kitchen.wav")),
            ("/tmp/a b.wav", .file(path: "/tmp/a b.wav")),
          ])
    func parses(spec: String, expected: AudioInput) throws {
        let input = try AudioInput(parsing: spec)
        #expect(input == expected)
        #expect(input.description == spec)
    }

    @Test("Given 'alsa:' with no device or an empty spec, when parsed, then a one-line AudioError says what to write instead",
          arguments: [("alsa:", "'alsa:default'"), ("", "'alsa:DEVICE'")])
    func rejects(spec: String, hint: String) {
        let error = #expect(throws: AudioError.self) { try AudioInput(parsing: spec) }
        #expect(error?.code == .invalidInputSpec)
        #expect(error?.message.contains(hint) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("\n") == false)
    }

    @Test("The daemon's default input is alsa:default")
    func defaultInput() {
        #expect(AudioInput.defaultInput.description == "alsa:default")
    }
}
