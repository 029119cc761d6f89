import HarkDevices

extension CommandGrammar {
    /// What a recognizer should expect to hear, as text for its prompt: every spoken name of the
    /// catalog in catalog order, then the speaker's own words when the catalog has this device
    /// ("Kitchen light, kitchen fan, fan, coffee maker, …, volume, mute, unmute, timer."). Whisper given
    /// it as text said before the speech spells the catalog's names as the catalog does where noise
    /// leaves it unsure ("turn on the coffee maker", not "turn on the Captain Major").
    ///
    /// Names only, no sentences: with whole example commands as its prompt Whisper also repeats their
    /// verbs ("turn up the tv" heard as "Turn off the TV.") or a whole sentence for speech it cannot
    /// make out, which turns requests that are not commands into wrong actions.
    static func vocabularyPrompt(catalog: Catalog) -> String {
        var words: [String] = []
        for device in catalog.devices where !device.thisDevice {
            for name in device.names where !words.contains(name) { words.append(name) }
        }
        if catalog.thisDevice != nil { words += ["volume", "mute", "unmute", "timer"] }
        guard let first = words.first?.first else { return "" }
        let text = words.joined(separator: ", ") + "."
        return first.uppercased() + text.dropFirst()
    }
}
