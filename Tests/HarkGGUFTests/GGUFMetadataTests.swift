@testable import HarkGGUF
import HarkTestSupport
import Testing

@Suite struct GGUFMetadataTests {
    static func file() throws -> GGUFFile {
        var w = GGUFWriter()
        w.add("u8", .uint8(7))
        w.add("i32.negative", .int32(-1))
        w.add("u64.big", .uint64(UInt64(UInt32.max) + 1))
        w.add("i64", .int64(300))
        w.add("f32", .float32(0.25))
        w.add("s", .string("text"))
        w.add("b", .bool(false))
        w.add("ints", .array(.uint16([1, 2, 300])))
        w.add("ints.negative", .array(.int8([1, -2])))
        w.add("strings", .array(.string(["a", "b"])))
        w.add("floats64", .array(.float64([0.5, 2])))
        w.add("tokenizer.chat_template", .string("{{ raise_exception('never run') }}"))
        return try GGUFFile(bytes: w.bytes(), name: "meta.gguf")
    }

    @Test("Given integers of several widths, when read as another integer type, then they convert when they fit and fail clearly when not")
    func integerWidths() throws {
        let m = try Self.file().metadata
        #expect(try m.integer("u8") == 7 && m.integer("u8", as: Int8.self) == 7 && m.integer("u8", as: UInt64.self) == 7)
        #expect(try m.integer("i64", as: UInt16.self) == 300)
        #expect(try m.integer("i32.negative", as: Int64.self) == -1)
        expectError(.wrongType, "meta.gguf", "'i32.negative'", "int32 -1", "fits UInt32") { _ = try m.integer("i32.negative", as: UInt32.self) }
        expectError(.wrongType, "'u64.big'", "uint64 4294967296", "fits UInt32") { _ = try m.integer("u64.big", as: UInt32.self) }
        expectError(.wrongType, "'i64'", "fits UInt8") { _ = try m.integer("i64", as: UInt8.self) }
        expectError(.wrongType, "'f32'", "float32 0.25", "an integer") { _ = try m.integer("f32") }
        #expect(try m.integers("ints") == [1, 2, 300])
        #expect(try m.integers("ints", as: Int16.self) == [1, 2, 300])
        expectError(.wrongType, "element 2", "'ints'", "UInt8") { _ = try m.integers("ints", as: UInt8.self) }
        expectError(.wrongType, "element 1", "'ints.negative'") { _ = try m.integers("ints.negative", as: UInt32.self) }
        expectError(.wrongType, "'strings'", "array of 2 string", "array of integers") { _ = try m.integers("strings") }
    }

    @Test("Given a missing key, when required, then missingKey names the key; when optional, then nil; the wrong type still fails")
    func missingAndOptional() throws {
        let m = try Self.file().metadata
        expectError(.missingKey, "meta.gguf", "'llama.block_count'", "missing") { _ = try m.integer("llama.block_count") }
        expectError(.missingKey, "'general.architecture'") { _ = try m.architecture() }
        #expect(try m.integer(ifPresent: "nope") == nil && m.string(ifPresent: "nope") == nil && m.strings(ifPresent: "nope") == nil)
        #expect(try m.float(ifPresent: "nope") == nil && m.bool(ifPresent: "nope") == nil && m.floats(ifPresent: "nope") == nil)
        #expect(try m.integer(ifPresent: "u8", as: UInt8.self) == 7)
        expectError(.wrongType, "'s'", "string \"text\"", "an integer") { _ = try m.integer(ifPresent: "s") }
        expectError(.wrongType, "'u8'", "a string") { _ = try m.string("u8") }
        expectError(.wrongType, "'s'", "a bool") { _ = try m.bool("s") }
        expectError(.wrongType, "'s'", "an array") { _ = try m.strings("s") }
        expectError(.wrongType, "'ints'", "array of strings") { _ = try m.strings("ints") }
        expectError(.wrongType, "'ints'", "array of floats") { _ = try m.floats("ints") }
        expectError(.wrongType, "'b'", "a float") { _ = try m.float("b") }
        #expect(try m.bool("b") == false && m.string("s") == "text" && m.strings("strings") == ["a", "b"])
        #expect(try m.floats("floats64") == [0.5, 2])
        #expect(m.count == 12 && m.keys.first == "u8" && m.keys.last == "tokenizer.chat_template")
    }

    @Test("Given a chat template, when read, then it is the stored text, returned and never evaluated")
    func chatTemplateIsText() throws {
        let m = try Self.file().metadata
        #expect(try m.chatTemplate() == "{{ raise_exception('never run') }}")
        let none = try GGUFFile(bytes: GGUFWriter().bytes(), name: "empty.gguf").metadata
        #expect(try none.chatTemplate() == nil)
    }

    @Test("Given values of every type, when described for messages, then long strings and arrays are summarised")
    func descriptions() {
        #expect(GGUFValue.string(String(repeating: "x", count: 100)).description == "string of 100 bytes")
        #expect(GGUFValue.array(.float32([1, 2, 3])).description == "array of 3 float32")
        #expect(GGUFValue.int16(-3).description == "int16 -3")
        #expect(GGUFValueType.allCases.map(\.rawValue) == Array(0...12))
    }

    @Test("Given edge cases and 100 000 random byte strings, when validated as UTF-8, then the reader agrees with the standard library")
    func utf8Validation() {
        func agree(_ bytes: [UInt8]) -> Bool {
            let ours = bytes.withUnsafeBytes { GGUFByteReader.isValidUTF8($0) }
            return ours == (String(validating: bytes, as: UTF8.self) != nil)
        }
        let edges: [[UInt8]] = [[], [0x41], [0xC3, 0xA9], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xE0, 0xA0, 0x80],
                                [0xED, 0x9F, 0xBF], [0xED, 0xA0, 0x80], [0xF0, 0x8F, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80],
                                [0xF4, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0x80], [0xBF],
                                [0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xFF], Array("Ġturn 日本 😀 abcdefghij".utf8)]
        #expect(edges.allSatisfy(agree))
        var rng = SplitMix64(seed: 11)
        var disagreements = 0
        var valid = 0
        for _ in 0..<100_000 {
            let length = Int(rng.next() % 12)
            // Bias towards bytes that form multi-byte sequences.
            let bytes = (0..<length).map { _ -> UInt8 in
                let r = rng.next()
                switch r % 4 {
                case 0: return UInt8(truncatingIfNeeded: r >> 8) & 0x7F
                case 1: return 0x80 | UInt8(truncatingIfNeeded: r >> 8) & 0x3F
                default: return UInt8(truncatingIfNeeded: r >> 8)
                }
            }
            if !agree(bytes) { disagreements += 1 }
            if String(validating: bytes, as: UTF8.self) != nil { valid += 1 }
        }
        #expect(disagreements == 0)
        #expect(valid > 5_000 && valid < 95_000, "\(valid) valid strings: the sample should mix both")
    }
}
