/// The tokens an ``ActionGrammar`` allows next, over one vocabulary: a token is allowed at a cursor
/// when the grammar takes all its bytes from there. The worker asks at every constrained token.
///
/// The vocabulary is indexed by the tokens' first two bytes, and a search tries only the tokens of
/// the two-byte starts the grammar allows (and takes the one-byte tokens of the allowed bytes as they
/// are). Indexed by the first byte alone, a cursor not met before tried thousands of tokens (every
/// token beginning with a digit or a letter): 40–60 µs a token over a cold worker's first answer.
/// Answers are kept per cursor: the same cursors recur in every answer (after `[{"device":"` come the
/// same device ids each time).
public struct TokenConstraint: Sendable {
    /// Every token's bytes, end to end, and where each begins (`offsets[id]..<offsets[id + 1]`).
    private let bytes: [UInt8]
    private let offsets: [Int32]
    /// The tokens by bucket, in increasing id, bucket b's at `ids[starts[b]..<starts[b + 1]]`: the
    /// longer tokens by their first two bytes (first · 256 + second), the one-byte tokens after those
    /// (65 536 + the byte). Tokens with no bytes (control tokens) are in none: a grammar never allows
    /// them. Two flat arrays: the worker builds this at every start.
    private let ids: [Int32]
    private let starts: [Int32]
    /// The allowed tokens of the cursors met so far, of one grammar (`forget` when it changes).
    private var known: [ActionGrammar.Cursor: [Int32]] = [:]

    /// At most this many cursors are kept; past it the cache starts again.
    public static let cacheLimit = 4096

    private static let singleBase = 65536

    /// `count` tokens, `piece(id)` giving token `id`'s bytes.
    public init<Piece: Collection<UInt8>>(count: Int, piece: (Int32) -> Piece) {
        var bytes: [UInt8] = []
        var offsets: [Int32] = [0]
        offsets.reserveCapacity(count + 1)
        var keys = [Int32](repeating: -1, count: count)
        var sizes = [Int32](repeating: 0, count: Self.singleBase + 256 + 1)
        for id in 0..<count {
            let start = bytes.count
            bytes += piece(Int32(id))
            offsets.append(Int32(bytes.count))
            switch bytes.count - start {
            case 0: continue
            case 1: keys[id] = Int32(Self.singleBase + Int(bytes[start]))
            default: keys[id] = Int32(Int(bytes[start]) << 8 | Int(bytes[start + 1]))
            }
            sizes[Int(keys[id]) + 1] += 1
        }
        for b in 1..<sizes.count { sizes[b] += sizes[b - 1] }   // now each bucket's start
        var next = sizes
        var ids = [Int32](repeating: 0, count: Int(sizes.last!))
        for (id, key) in keys.enumerated() where key >= 0 {
            ids[Int(next[Int(key)])] = Int32(id)
            next[Int(key)] += 1
        }
        self.bytes = bytes
        self.offsets = offsets
        self.ids = ids
        self.starts = sizes
    }

    /// The tokens of bucket `b`.
    private func bucket(_ b: Int) -> ArraySlice<Int32> { ids[Int(starts[b])..<Int(starts[b + 1])] }

    /// The number of tokens.
    public var count: Int { offsets.count - 1 }

    /// Token `id`'s bytes.
    public func piece(_ id: Int32) -> ArraySlice<UInt8> {
        bytes[Int(offsets[Int(id)])..<Int(offsets[Int(id) + 1])]
    }

    /// The tokens `grammar` allows at `cursor`, in increasing id. The answers are kept: call with
    /// one grammar until `forget`.
    public mutating func allowed(_ grammar: ActionGrammar, at cursor: ActionGrammar.Cursor) -> [Int32] {
        if let tokens = known[cursor] { return tokens }
        let tokens = search(grammar, cursor)
        if known.count >= Self.cacheLimit { known.removeAll(keepingCapacity: true) }
        known[cursor] = tokens
        return tokens
    }

    /// Drops the kept answers (another grammar is coming).
    public mutating func forget() { known = [:] }

    /// `allowed` without the cache.
    public func search(_ grammar: ActionGrammar, _ cursor: ActionGrammar.Cursor) -> [Int32] {
        let next = grammar.nextBytes(cursor)
        var tokens: [Int32] = []
        bytes.withUnsafeBufferPointer { all in
            for first in 0..<256 where next[first] {
                tokens += bucket(Self.singleBase + first)
                let second = grammar.nextBytes(grammar.advance(cursor, CollectionOfOne(UInt8(first))))
                for byte in 0..<256 where second[byte] {
                    for id in bucket(first << 8 | byte) {
                        let piece = UnsafeBufferPointer(rebasing: all[Int(offsets[Int(id)])..<Int(offsets[Int(id) + 1])])
                        if grammar.allows(cursor, piece) { tokens.append(id) }
                    }
                }
            }
        }
        tokens.sort()
        return tokens
    }
}
