extension CommandGrammar {
    /// The grammar in JSGF for PocketSphinx: `<command>` is every phrase; with a garbage model the
    /// public rule is `<command> | <garbage>`, where `<garbage>` is a loop over one-phone words
    /// (``Pronunciations/garbageWords``) that absorbs speech the commands do not cover, weighted by
    /// `garbageWeight` against 1 for the commands.
    public func jsgf(garbageWords: [String] = [], garbageWeight: Double = 1) -> String {
        var lines = ["#JSGF V1.0;", "grammar hark;"]
        if garbageWords.isEmpty {
            lines.append("public <utterance> = <command>;")
        } else {
            lines.append("public <utterance> = /1/ <command> | /\(garbageWeight)/ <garbage>;")
            lines.append("<garbage> = <phone>+;")
            lines.append("<phone> = \(garbageWords.joined(separator: " | "));")
        }
        lines.append("<command> = \(phrases.indices.map { "<p\($0)>" }.joined(separator: " | "));")
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
