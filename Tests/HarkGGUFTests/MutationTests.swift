@testable import HarkGGUF
import HarkTestSupport
import Testing

/// Model files are untrusted: truncated, bit-flipped and count-enlarged copies of the fixtures and of
/// the real model's header must each give a thrown `GGUFError` or a valid parse — never a crash, a
/// hang, or a tensor that reaches past the bytes.
@Suite struct MutationTests {
    struct Tally {
        var parsed = 0
        var refused = 0
        var broken: [String] = []
        var total: Int { parsed + refused }
    }

    /// Parses `buffer` in place (no copy); on success checks every tensor against the bytes and runs
    /// the semantic checks too (which may refuse the file, never crash).
    static func attempt(_ buffer: UnsafeRawBufferPointer, _ label: @autoclosure () -> String, into tally: inout Tally) {
        do {
            let file = try GGUFFile(borrowing: buffer, name: "mutant.gguf")
            for t in file.tensors {
                let product = t.dimensions.reduce(1, *)
                guard t.offset >= file.dataOffset, t.offset + t.byteCount <= buffer.count, product == t.elementCount,
                      t.type.byteCount(elements: product) == t.byteCount, (1...4).contains(t.dimensions.count) else {
                    tally.broken.append("\(label()): tensor \(t) escapes the checks")
                    return
                }
            }
            if (try? file.metadata.architecture()) != nil { _ = try? file.modelHeader() }
            _ = try? file.metadata.chatTemplate()
            tally.parsed += 1
        } catch {
            if error.message.isEmpty || !error.message.hasPrefix("mutant.gguf: ") { tally.broken.append("\(label()): bad message '\(error.message)'") }
            tally.refused += 1
        }
    }

    /// Truncations at every length up to `headerEnd` + 64 and every 7th after, byte flips (up to five
    /// patterns) at every `step`-th position below `headerEnd`, and 64- and 32-bit counts overwritten
    /// with huge or off-by-one values there.
    static func mutate(_ original: [UInt8], headerEnd: Int, step: Int = 1) -> Tally {
        var tally = Tally()
        var bytes = original
        bytes.withUnsafeMutableBytes { raw in
            let view = UnsafeRawBufferPointer(raw)
            for length in 0..<original.count where length < headerEnd + 64 || length % 7 == 0 {
                attempt(UnsafeRawBufferPointer(rebasing: view[0..<length]), "truncated to \(length)", into: &tally)
            }
            let where_ = stride(from: 0, to: min(headerEnd, original.count), by: step)
            for p in where_ {
                let saved = raw[p]
                for value in [saved ^ 0xFF, saved ^ 0x01, 0x00, 0x80, saved &+ 1] where value != saved {
                    raw[p] = value
                    attempt(view, "byte \(p) = \(value)", into: &tally)
                }
                raw[p] = saved
            }
            for p in where_ where p + 8 <= original.count {
                let saved64 = raw.loadUnaligned(fromByteOffset: p, as: UInt64.self)
                let v = UInt64(littleEndian: saved64)
                for big: UInt64 in [.max, 1 << 63, 1 << 40, 1 << 32, UInt64(Int64.max), v &+ 1, v &* 2 &+ 1] {
                    raw.storeBytes(of: big.littleEndian, toByteOffset: p, as: UInt64.self)
                    attempt(view, "u64 at \(p) = \(big)", into: &tally)
                }
                raw.storeBytes(of: saved64, toByteOffset: p, as: UInt64.self)
                let saved32 = raw.loadUnaligned(fromByteOffset: p, as: UInt32.self)
                for big: UInt32 in [.max, 1 << 31, UInt32(littleEndian: saved32) &+ 1] {
                    raw.storeBytes(of: big.littleEndian, toByteOffset: p, as: UInt32.self)
                    attempt(view, "u32 at \(p) = \(big)", into: &tally)
                }
                raw.storeBytes(of: saved32, toByteOffset: p, as: UInt32.self)
            }
        }
        #expect(bytes == original)
        return tally
    }

    @Test("Given gguf-py's tiny llama, when truncated at every length, flipped at every header byte and its counts enlarged, then every mutant is refused or parses within its bytes")
    func tinyLlama() throws {
        let bytes = try readBytes(Paths.tinyLlama)
        let header = try GGUFFile(path: Paths.tinyLlama).dataOffset
        let tally = Self.mutate(bytes, headerEnd: header)
        #expect(tally.broken.isEmpty, "\(tally.broken.prefix(5))")
        #expect(tally.total > 40_000, "\(tally.total) mutants")
        // Truncation inside the data always fails (a tensor ends past the end); some header flips
        // (in names, values) still parse.
        #expect(tally.refused > header && tally.parsed > 100, "parsed \(tally.parsed), refused \(tally.refused)")
    }

    @Test("Given gguf-py's tiny qwen3moe (alignment 64), when mutated the same way over its header and first tensors, then every mutant is refused or parses within its bytes")
    func tinyQwen3MoE() throws {
        let bytes = try readBytes(Paths.tinyQwen3MoE)
        let header = try GGUFFile(path: Paths.tinyQwen3MoE).dataOffset
        let tally = Self.mutate(bytes, headerEnd: header + 256)
        #expect(tally.broken.isEmpty, "\(tally.broken.prefix(5))")
        #expect(tally.total > 25_000, "\(tally.total) mutants")
    }

    @Test("Given a Mixtral-style tiny llama from GGUFWriter, when mutated, then every mutant is refused or parses within its bytes")
    func writerModel() throws {
        var model = TinyModel("llama")
        model.experts = 4
        model.expertsUsed = 2
        let bytes = model.writer().bytes()
        let file = try GGUFFile(bytes: bytes, name: "moe.gguf")
        _ = try file.modelHeader()
        let tally = Self.mutate(bytes, headerEnd: file.dataOffset, step: 2)
        #expect(tally.broken.isEmpty, "\(tally.broken.prefix(5))")
        #expect(tally.total > 18_000, "\(tally.total) mutants")
    }

    @Test("Given SmolLM2's header, when truncated, flipped and its counts enlarged in its first 1.1 KB and at random places in its 1.8 MB of metadata, then every mutant is refused or parses within its bytes")
    func smolLM2Header() throws {
        let original = try readBytes(Paths.smolLM2)
        let header = try GGUFFile(path: Paths.smolLM2).dataOffset
        // A successful parse reads 98 000 strings (~20 ms), so the real file gets fewer mutants than
        // the tiny ones: the counts, the general.* and llama.* keys and the tokens array's header lie
        // in the first 1.1 KB.
        var tally = Tally()
        var bytes = original
        var rng = SplitMix64(seed: 2024)
        bytes.withUnsafeMutableBytes { raw in
            let view = UnsafeRawBufferPointer(raw)
            for length in 0..<1100 { Self.attempt(UnsafeRawBufferPointer(rebasing: view[0..<length]), "truncated to \(length)", into: &tally) }
            for k in 1...6 { Self.attempt(UnsafeRawBufferPointer(rebasing: view[0..<(header / 7 * k)]), "truncated", into: &tally) }
            func flip(_ p: Int, _ values: [UInt8]) {
                let saved = raw[p]
                for v in values where v != saved {
                    raw[p] = v
                    Self.attempt(view, "byte \(p) = \(v)", into: &tally)
                }
                raw[p] = saved
            }
            func widen(_ p: Int, _ values: [UInt64]) {
                let saved = raw.loadUnaligned(fromByteOffset: p, as: UInt64.self)
                for v in values {
                    raw.storeBytes(of: v.littleEndian, toByteOffset: p, as: UInt64.self)
                    Self.attempt(view, "u64 at \(p) = \(v)", into: &tally)
                }
                raw.storeBytes(of: saved, toByteOffset: p, as: UInt64.self)
            }
            // The fixed header and the first key: every byte, every pattern.
            for p in 0..<40 {
                flip(p, [raw[p] ^ 0xFF, raw[p] ^ 0x01, 0x00, 0x80])
                widen(p, [.max, 1 << 63, 1 << 32, UInt64(Int64.max)])
            }
            // The rest of the first 1.1 KB: every other byte, two patterns.
            for p in stride(from: 40, to: 1100, by: 2) {
                flip(p, [raw[p] ^ 0xFF])
                widen(p, [.max])
            }
            // Random places in the tokens, token types and merges.
            for _ in 0..<12 {
                let p = 1100 + Int(rng.next() % UInt64(header - 1108))
                flip(p, [raw[p] ^ 0xFF])
                widen(p, [.max])
            }
        }
        #expect(bytes == original)
        #expect(tally.broken.isEmpty, "\(tally.broken.prefix(5))")
        #expect(tally.total > 2_400 && tally.parsed > 20, "parsed \(tally.parsed), refused \(tally.refused)")
    }
}
