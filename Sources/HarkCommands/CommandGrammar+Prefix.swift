extension CommandGrammar {
    /// How far a text is from being a command.
    public enum Progress: Sendable, Equatable {
        /// No continuation of the text is a command.
        case none
        /// Some continuation is (the text may end inside a word: "turn off the kit").
        case prefix
        /// The text is a command as it stands.
        case complete
    }

    /// Whether a text, read as ``parse(_:)`` reads it, is a command, could still become one, or
    /// cannot: what a decoder constrained to the grammar asks of every token it considers. A text
    /// that ends in a letter or digit may end inside a word.
    public func progress(_ text: String) -> Progress {
        if parse(text) != nil { return .complete }
        var words = Self.tokens(text)
        var partial: String?
        if let last = text.last, last.isLetter || last.isNumber, let word = words.popLast() { partial = word }
        for phrase in phrases where Self.prefix(phrase.parts[...], words[...], partial: partial, targets: targets) {
            return .prefix
        }
        return .none
    }

    /// Whether `tokens` followed by `partial` (the start of a word, or nil) begin a sentence of `parts`.
    static func prefix(_ parts: ArraySlice<Part>, _ tokens: ArraySlice<String>, partial: String?, targets: [[Name]]) -> Bool {
        guard let part = parts.first else { return tokens.isEmpty && (partial?.isEmpty ?? true) }
        let rest = parts.dropFirst()
        // Every way `part` can be spoken, as word sequences.
        let spoken: [[String]]
        switch part {
        case let .word(word): spoken = [[word]]
        case let .optional(word):
            if prefix(rest, tokens, partial: partial, targets: targets) { return true }
            spoken = [[word]]
        case let .choice(words): spoken = words.map { [$0] }
        case let .target(index): spoken = targets[index].map(\.words)
        case let .number(range): spoken = range.flatMap { [NumberWords.words($0), [String($0)]] } + (range.contains(100) ? [["a", "hundred"], ["hundred"]] : [])
        }
        for words in spoken {
            if tokens.count >= words.count {
                if tokens.starts(with: words), prefix(rest, tokens.dropFirst(words.count), partial: partial, targets: targets) { return true }
            } else if words.starts(with: tokens) {
                // The text ends inside this part: the partial word must begin its next word.
                guard let partial else { return true }
                if words[tokens.count].hasPrefix(partial) { return true }
            }
        }
        return false
    }
}
