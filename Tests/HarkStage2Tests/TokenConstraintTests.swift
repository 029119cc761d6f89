import HarkStage2
import Testing

/// The constraint's indexed search against trying every token, over a vocabulary cut from answer
/// lines the way byte-pair merges cut text (every single byte, and substrings of 2–9 bytes), with
/// control tokens (no bytes) and pieces no answer contains.
@Suite struct TokenConstraintTests {
    static let lines = [
        "[{\"device\":\"kitchen_light\",\"command\":\"set_brightness\",\"args\":{\"percent\":75}}]\n",
        "[{\"device\":\"kitchen_fan\",\"command\":\"set_speed\",\"args\":{\"level\":\"medium\"}},{\"device\":\"heating\",\"command\":\"set_temperature\",\"args\":{\"celsius\":21.5}}]\n",
        "[{\"device\":\"speaker\",\"command\":\"start_timer\",\"args\":{\"seconds\":300}},{\"device\":\"kitchen_light\",\"command\":\"turn_off\",\"args\":{}}]\n",
        "[]\n",
    ]

    static func vocabulary() -> [[UInt8]] {
        var pieces: [[UInt8]] = [[], []]                  // two control tokens
        pieces += (0..<256).map { [UInt8($0)] }
        var seen = Set(pieces)
        for line in lines {
            let bytes = Array(line.utf8)
            for length in 2...min(9, bytes.count) {
                for start in 0...(bytes.count - length) where seen.insert(Array(bytes[start..<(start + length)])).inserted {
                    pieces.append(Array(bytes[start..<(start + length)]))
                }
            }
        }
        pieces += [Array(" the".utf8), Array("ing".utf8), Array("\":\"x".utf8), Array("}}]".utf8), Array("\",\"".utf8), Array("1000".utf8)]
        return pieces
    }

    /// Every token whose bytes the grammar takes whole from `cursor`.
    static func bruteForce(_ grammar: ActionGrammar, _ cursor: ActionGrammar.Cursor, _ pieces: [[UInt8]]) -> [Int32] {
        pieces.indices.filter { !pieces[$0].isEmpty && grammar.advance(cursor, pieces[$0]).isViable }.map(Int32.init)
    }

    @Test(arguments: [nil, 1] as [Int?])
    func givenCursorsAlongAnswerLines_thenTheAllowedTokensAreThoseEveryTokenTriedGives(_ maxActions: Int?) throws {
        let grammar = try ActionGrammar(.init(devices: ActionGrammarTests.spec.devices, maxActions: maxActions))
        let pieces = Self.vocabulary()
        var constraint = TokenConstraint(count: pieces.count) { pieces[Int($0)] }
        #expect(constraint.count == pieces.count)
        var cursors = 0
        for line in Self.lines {
            var cursor = grammar.start
            for byte in line.utf8 {
                let expected = Self.bruteForce(grammar, cursor, pieces)
                #expect(constraint.search(grammar, cursor) == expected, "after a prefix of \(line)")
                #expect(constraint.allowed(grammar, at: cursor) == expected)
                #expect(constraint.allowed(grammar, at: cursor) == expected)   // kept
                cursors += 1
                cursor = grammar.advance(cursor, CollectionOfOne(byte))
                guard cursor.isViable else { break }   // past the action limit
            }
        }
        #expect(cursors > 200)
        // After the first action: a second may follow unless the limit is one.
        let line = Array(Self.lines[1].utf8)
        let end = try #require((1..<line.count).first { line[$0 - 1] == UInt8(ascii: "}") && line[$0] == UInt8(ascii: ",") })
        let afterFirst = grammar.advance(grammar.start, line[..<end])
        let commas = constraint.allowed(grammar, at: afterFirst).filter { constraint.piece($0).first == UInt8(ascii: ",") }
        #expect(commas.isEmpty == (maxActions == 1), "\(commas.count) tokens begin with a comma")
    }

    @Test func givenATokenId_thenItsPieceIsItsBytes() {
        let pieces = Self.vocabulary()
        let constraint = TokenConstraint(count: pieces.count) { pieces[Int($0)] }
        for id in [0, 1, 2, 100, 257, 258, pieces.count - 1] {
            #expect(Array(constraint.piece(Int32(id))) == pieces[id])
        }
    }
}
