extension CommandGrammar {
    /// The grammar in JSGF for PocketSphinx: the public rule `<command>` is every phrase.
    public func jsgf() -> String {
        var lines = ["#JSGF V1.0;", "grammar hark;"]
        lines.append("public <command> = \(phrases.indices.map { "<p\($0)>" }.joined(separator: " | "));")
        var numberRules: [ClosedRange<Int>] = []
        for (index, phrase) in phrases.enumerated() {
            let body = phrase.parts.map { part -> String in
                switch part {
                case let .word(word): return word
                case let .optional(word): return "[\(word)]"
                case let .choice(words): return "(\(words.joined(separator: " | ")))"
                case let .target(table): return "<t\(table)>"
                case let .number(range):
                    if !numberRules.contains(range) { numberRules.append(range) }
                    return "<n\(range.lowerBound)_\(range.upperBound)>"
                }
            }
            lines.append("<p\(index)> = \(body.joined(separator: " "));")
        }
        for (index, table) in targets.enumerated() {
            var seen: Set<[String]> = []
            let names = table.map(\.words).filter { seen.insert($0).inserted }
            lines.append("<t\(index)> = \(names.map { $0.joined(separator: " ") }.joined(separator: " | "));")
        }
        for range in numberRules {
            lines.append("<n\(range.lowerBound)_\(range.upperBound)> = \(range.map { NumberWords.words($0).joined(separator: " ") }.joined(separator: " | "));")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
