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
    /// The one-byte tokens by their byte, and the longer ones by their first two bytes (first · 256 +
    /// second). Tokens with no bytes (control tokens) are in neither: a grammar never allows them.
    private let single: [[Int32]]
    private let byFirstTwo: [[Int32]]
    /// The allowed tokens of the cursors met so far, of one grammar (`forget` when it changes).
    private var known: [ActionGrammar.Cursor: [Int32]] = [:]

    /// At most this many cursors are kept; past it the cache starts again.
    public static let cacheLimit = 4096

    /// `pieces[id]`: token `id`'s bytes.
    public init(pieces: [[UInt8]]) {
        var bytes: [UInt8] = []
        var offsets: [Int32] = [0]
        var single = [[Int32]](repeating: [], count: 256)
        var byFirstTwo = [[Int32]](repeating: [], count: 65536)
        offsets.reserveCapacity(pieces.count + 1)
        for (id, piece) in pieces.enumerated() {
            bytes += piece
            offsets.append(Int32(bytes.count))
            if piece.count == 1 {
                single[Int(piece[0])].append(Int32(id))
            } else if piece.count > 1 {
                byFirstTwo[Int(piece[0]) << 8 | Int(piece[1])].append(Int32(id))
            }
        }
        self.bytes = bytes
        self.offsets = offsets
        self.single = single
        self.byFirstTwo = byFirstTwo
    }

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
                tokens += single[first]
                let second = grammar.nextBytes(grammar.advance(cursor, CollectionOfOne(UInt8(first))))
                for byte in 0..<256 where second[byte] {
                    for id in byFirstTwo[first << 8 | byte] {
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
