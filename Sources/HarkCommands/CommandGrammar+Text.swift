import HarkDevices

extension CommandGrammar {
    /// What a text means: the actions of the first phrase that matches all of it, or nil when it is
    /// not a stage-1 command. The text is lightly normalised first (``tokens(_:)``).
    public func parse(_ text: String) -> [Action]? {
        let tokens = Self.tokens(text)
        guard !tokens.isEmpty else { return nil }
        for phrase in phrases {
            if let match = Self.match(phrase.parts[...], tokens[...], Match(), targets: targets) {
                return phrase.meaning(match)
            }
        }
        return nil
    }

    /// Words of a text, lightly normalised: lower case; "%" read as "percent" and "°"/"°C" as
    /// "degrees"; hyphens and punctuation are spaces ("twenty-one", "light."); digits stay digits and are
    /// read as numbers; "please", "thanks" and "thank you" at either end are dropped.
    public static func tokens(_ text: String) -> [String] {
        var spaced = ""
        for character in text.lowercased() {
            switch character {
            case "%": spaced += " percent "
            case "°": spaced += " degrees "
            case _ where character.isLetter || character.isNumber: spaced.append(character)
            case "'": continue  // "what's" → "whats": not a command word either way
            default: spaced += " "
            }
        }
        var tokens = spaced.split(separator: " ").map(String.init)
        // "20°C" → "20 degrees c": the c is part of the unit.
        for index in tokens.indices.reversed() where tokens[index] == "c" && index > 0 && tokens[index - 1] == "degrees" {
            tokens.remove(at: index)
        }
        while tokens.first == "please" { tokens.removeFirst() }
        while let last = tokens.last, last == "please" || last == "thanks" { tokens.removeLast() }
        if tokens.suffix(2) == ["thank", "you"] { tokens.removeLast(2) }
        return tokens
    }

    /// How many more words `longer` has than `text`, as the grammar reads words.
    public static func extraWords(_ longer: String, beyond text: String) -> Int {
        tokens(longer).count - tokens(text).count
    }

    static func match(_ parts: ArraySlice<Part>, _ tokens: ArraySlice<String>, _ heard: Match, targets: [[Name]]) -> Match? {
        guard let part = parts.first else { return tokens.isEmpty ? heard : nil }
        let rest = parts.dropFirst()
        switch part {
        case let .word(word):
            guard tokens.first == word else { return nil }
            return match(rest, tokens.dropFirst(), heard, targets: targets)
        case let .optional(word):
            if tokens.first == word, let found = match(rest, tokens.dropFirst(), heard, targets: targets) { return found }
            return match(rest, tokens, heard, targets: targets)
        case let .choice(words):
            guard let first = tokens.first, words.contains(first) else { return nil }
            var next = heard
            next.choices.append(first)
            return match(rest, tokens.dropFirst(), next, targets: targets)
        case let .target(index):
            for name in targets[index] where tokens.starts(with: name.words) {
                var next = heard
                next.devices = name.devices
                if let found = match(rest, tokens.dropFirst(name.words.count), next, targets: targets) { return found }
            }
            return nil
        case let .number(range):
            for reading in NumberWords.read(tokens) where range.contains(reading.value) {
                var next = heard
                next.number = reading.value
                if let found = match(rest, tokens.dropFirst(reading.count), next, targets: targets) { return found }
            }
            return nil
        }
    }
}
