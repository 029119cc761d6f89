/// SentencePiece-style merging over a vocabulary with scores (`tokenizer.ggml.model` = "llama").
extension Tokenizer {
    /// One escaped fragment ("▁" for spaces) → token ids: symbols start as UTF-8 characters; the
    /// adjacent pair whose concatenation is the token of the highest score merges first (the leftmost of
    /// equal scores); a symbol that is no token comes out as its byte tokens, or unknown.
    func encodeSentencePiece(_ text: [UInt8], into out: inout [Int32]) {
        guard !text.isEmpty else { return }
        // Symbols as byte ranges over text.
        var start: [Int] = []
        var length: [Int] = []
        var i = 0
        while i < text.count {
            let lead = text[i]
            let width = lead < 0x80 ? 1 : lead >> 5 == 0b110 ? 2 : lead >> 4 == 0b1110 ? 3 : lead >> 3 == 0b11110 ? 4 : 1
            let n = min(width, text.count - i)
            start.append(i)
            length.append(n)
            i += n
        }
        let count = start.count
        var next = Array(1...count)
        next[count - 1] = -1
        var previous = Array(-1..<(count - 1))
        var heap = BinaryHeap<ScoredPair>()
        let scores = vocabulary.scores
        func consider(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let bytes = text[start[left]..<(start[right] + length[right])]
            guard let id = ids[String(decoding: bytes, as: UTF8.self)] else { return }
            heap.push(ScoredPair(score: scores.isEmpty ? 0 : scores[Int(id)], left: left, right: right,
                                 size: bytes.count))
        }
        for j in 1..<count { consider(j - 1, j) }
        while let pair = heap.pop() {
            let l = pair.left, r = pair.right
            // Stale: a side has merged since (its length changed or it is gone).
            guard length[l] > 0, length[r] > 0, length[l] + length[r] == pair.size else { continue }
            length[l] += length[r]
            length[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { previous[next[r]] = l }
            consider(previous[l], l)
            consider(l, next[l])
        }
        var j = 0
        while j >= 0 {
            let bytes = text[start[j]..<(start[j] + length[j])]
            // A cut UTF-8 character decodes to U+FFFD, which must not match a "\u{FFFD}" token.
            let piece = String(decoding: bytes, as: UTF8.self)
            if let id = ids[piece], piece.utf8.elementsEqual(bytes) {
                out.append(id)
            } else {
                for b in bytes {
                    let id = byteTokens[Int(b)]
                    if id >= 0 { out.append(id) } else if let unknown = vocabulary.unknown { out.append(unknown) }
                }
            }
            j = next[j]
        }
    }
}

struct ScoredPair: Comparable {
    var score: Float
    var left: Int
    var right: Int
    var size: Int
    /// The heap pops the smallest: "smaller" here is the higher score, then the leftmost.
    static func < (a: ScoredPair, b: ScoredPair) -> Bool {
        a.score > b.score || (a.score == b.score && a.left < b.left)
    }
    static func == (a: ScoredPair, b: ScoredPair) -> Bool { a.score == b.score && a.left == b.left }
}
