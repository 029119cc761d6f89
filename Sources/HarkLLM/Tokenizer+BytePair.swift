/// Byte-level BPE merges (`tokenizer.ggml.merges`, GPT-2 style), kept as pairs of symbol ids.
///
/// Every byte is written as one printable character (GPT-2's bytes_to_unicode: the printable
/// Latin-1 bytes as themselves, the other 68 as U+0100…U+0143 in byte order), so tokens and merges are
/// strings of those characters. A symbol is a token id, or, where a merge makes a string that is no
/// token, a private id past the vocabulary whose bytes come out as byte tokens.
struct BytePairMerges: Sendable {
    /// (left symbol << 32 | right symbol) → rank (lower merges first) and the merged symbol.
    let ranks: [UInt64: (rank: Int32, merged: Int32)]
    /// The symbol of each byte.
    let byteSymbols: [Int32]
    /// The bytes of the private symbols, id − vocabulary size.
    let extraBytes: [[UInt8]]
    let vocabularySize: Int32
    /// The unknown token, −1 when the vocabulary has none.
    let unknown: Int32

    init(vocabulary: TokenizerVocabulary, ids: [String: Int32]) throws(LLMError) {
        let size = Int32(vocabulary.tokens.count)
        var symbols = ids
        var extra: [[UInt8]] = []
        func symbol(_ text: Substring) -> Int32 {
            let key = String(text)
            if let id = symbols[key] { return id }
            let id = size + Int32(extra.count)
            extra.append(text.unicodeScalars.map { Self.byte(of: $0) ?? 0 })
            symbols[key] = id
            return id
        }
        // A byte without a token of its own (SmolLM2 has none for 0x04) still merges as a private
        // symbol; alone it comes out as the unknown token, or not at all (llama.cpp would fail).
        var bytes = [Int32](repeating: -1, count: 256)
        for b in 0..<256 { bytes[b] = symbol(Substring(String(Self.character(of: UInt8(b))))) }
        let unknown = vocabulary.unknown ?? -1
        var ranks = [UInt64: (rank: Int32, merged: Int32)](minimumCapacity: vocabulary.merges.count)
        for (rank, merge) in vocabulary.merges.enumerated() {
            // llama.cpp looks for the separating space from the second character on.
            let chars = merge.unicodeScalars
            guard chars.count >= 3,
                  let space = chars[chars.index(after: chars.startIndex)...].firstIndex(of: " ") else {
                throw LLMError(.corruptModel, "tokenizer: merge \(rank) '\(merge)' is not two symbols separated by a space")
            }
            let left = Substring(chars[..<space])
            let right = Substring(chars[chars.index(after: space)...])
            guard !right.isEmpty else {
                throw LLMError(.corruptModel, "tokenizer: merge \(rank) '\(merge)' has nothing right of its space")
            }
            let key = UInt64(UInt32(bitPattern: symbol(left))) << 32 | UInt64(UInt32(bitPattern: symbol(right)))
            let merged = symbol(left + right)
            if ranks[key] == nil { ranks[key] = (Int32(rank), merged) }
        }
        self.vocabularySize = size
        self.ranks = ranks
        self.byteSymbols = bytes
        self.extraBytes = extra
        self.unknown = unknown
    }

    /// One word's bytes → token ids: the lowest-ranked adjacent pair merges first, the leftmost of equals.
    /// `whole`: the word's id when it is a token as a whole and the pre-tokenizer ignores merges then.
    func encode(_ word: ArraySlice<UInt8>, whole: Int32? = nil, into out: inout [Int32]) {
        if word.isEmpty { return }
        if let whole { out.append(whole); return }
        var symbol = word.map { byteSymbols[Int($0)] }
        if symbol.count > 1 {
            // A doubly linked list over the symbols, and a heap of candidate pairs by (rank, left).
            var next = Array(1...symbol.count)
            var previous = Array(-1..<(symbol.count - 1))
            next[symbol.count - 1] = -1
            var alive = [Bool](repeating: true, count: symbol.count)
            var heap = BinaryHeap<PairCandidate>()
            func consider(_ left: Int, _ right: Int) {
                guard left >= 0, right >= 0 else { return }
                let key = UInt64(UInt32(bitPattern: symbol[left])) << 32 | UInt64(UInt32(bitPattern: symbol[right]))
                if let found = ranks[key] {
                    heap.push(PairCandidate(rank: found.rank, left: Int32(left), right: Int32(right),
                                            leftSymbol: symbol[left], rightSymbol: symbol[right], merged: found.merged))
                }
            }
            for i in 1..<symbol.count { consider(i - 1, i) }
            while let pair = heap.pop() {
                let l = Int(pair.left), r = Int(pair.right)
                // Stale: one side has merged since the pair was seen.
                guard alive[l], alive[r], next[l] == r, symbol[l] == pair.leftSymbol, symbol[r] == pair.rightSymbol else { continue }
                symbol[l] = pair.merged
                alive[r] = false
                next[l] = next[r]
                if next[r] >= 0 { previous[next[r]] = l }
                consider(previous[l], l)
                consider(l, next[l])
            }
            var i = 0
            while i >= 0 {
                emit(symbol[i], into: &out)
                i = next[i]
            }
        } else {
            emit(symbol[0], into: &out)
        }
    }

    private func emit(_ symbol: Int32, into out: inout [Int32]) {
        if symbol < vocabularySize {
            out.append(symbol)
        } else {
            for b in extraBytes[Int(symbol - vocabularySize)] {
                let id = byteSymbols[Int(b)]
                if id < vocabularySize { out.append(id) } else if unknown >= 0 { out.append(unknown) }
            }
        }
    }

    // MARK: GPT-2's byte ↔ character mapping

    /// The printable character GPT-2's byte-level BPE writes for `byte`.
    static func character(of byte: UInt8) -> Unicode.Scalar { characters[Int(byte)] }

    /// GPT-2's bytes_to_unicode: the printable bytes as themselves, the unprintable ones, in order,
    /// as U+0100 onwards.
    static let characters: [Unicode.Scalar] = {
        var n: UInt32 = 0
        return (0...255).map { (b: Int) -> Unicode.Scalar in
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) { return Unicode.Scalar(UInt8(b)) }
            defer { n += 1 }
            return Unicode.Scalar(256 + n)!
        }
    }()

    /// The byte GPT-2's character `c` stands for, nil for a character outside the mapping.
    static func byte(of c: Unicode.Scalar) -> UInt8? {
        let v = c.value
        if (33...126).contains(v) || (161...172).contains(v) || (174...255).contains(v) { return UInt8(v) }
        guard v >= 256, v < 256 + 68 else { return nil }
        return unprintable[Int(v - 256)]
    }

    /// The 68 bytes GPT-2 remaps, in order: 0–32, 127–160, 173.
    static let unprintable: [UInt8] = (0...255).compactMap { b -> UInt8? in
        (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) ? nil : UInt8(b)
    }
}

struct PairCandidate: Comparable {
    var rank: Int32
    var left: Int32
    var right: Int32
    var leftSymbol: Int32
    var rightSymbol: Int32
    var merged: Int32
    /// Lower rank first, then the leftmost.
    static func < (a: PairCandidate, b: PairCandidate) -> Bool {
        a.rank < b.rank || (a.rank == b.rank && a.left < b.left)
    }
    static func == (a: PairCandidate, b: PairCandidate) -> Bool { a.rank == b.rank && a.left == b.left }
}

/// A binary min-heap: pop gives the smallest element.
struct BinaryHeap<Element: Comparable> {
    private var items: [Element] = []
    var isEmpty: Bool { items.isEmpty }

    mutating func push(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i] < items[parent] else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < items.count && items[l] < items[smallest] { smallest = l }
            if r < items.count && items[r] < items[smallest] { smallest = r }
            if smallest == i { break }
            items.swapAt(i, smallest)
            i = smallest
        }
        return top
    }
}
