import HarkDaemon
import Testing

/// Whisper's loop on a short command ("Volume down. Volume down."): the second pass reads it once.
struct WhisperOnceTests {
    @Test("Given a transcript that says the same words two or more times over, when read by the second pass, then once; any other transcript is left as it is", arguments: [
        ("Close the bedroom blinds. Close the bedroom blinds.", "close the bedroom blinds"),
        (" Volume down. Volume down.", "volume down"),
        ("mute, mute, mute", "mute"),
        ("Set the TV to 20%. set the tv to 20 %", "set the tv to 20 percent"),
        (" Turn on the fan.", " Turn on the fan."),
        ("turn off the light and turn off the fan", "turn off the light and turn off the fan"),
        ("Volume down. Volume down. Volume", "Volume down. Volume down. Volume"),
        ("", ""),
        ("mute", "mute"),
    ])
    func once(text: String, expected: String) {
        #expect(WhisperSecondPass.once(text) == expected)
    }
}
