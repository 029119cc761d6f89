@testable import HarkGGUF
import Testing

/// The 2024 GGUF CVE classes (llama.cpp's `gguf_init_from_file`: huge `n_kv`/`n_tensors` that
/// overflowed allocations, string lengths whose `+ 1` wrapped, array counts times element sizes that
/// overflowed, unchecked dimensions and offsets) and the other malformed headers, each crafted byte
/// by byte and each refused with its specific error.
@Suite struct CVERegressionTests {
    /// Magic, version and the two counts.
    static func header(tensors: UInt64, entries: UInt64, version: UInt32 = 3) -> GGUFEncoder {
        var e = GGUFEncoder()
        e.bytes += Array("GGUF".utf8)
        e.u32(version)
        e.u64(tensors)
        e.u64(entries)
        return e
    }

    static func entry(_ e: inout GGUFEncoder, _ key: String, _ value: GGUFValue) {
        e.string(key)
        e.u32(value.type.rawValue)
        e.value(value)
    }

    static func tensorInfo(_ e: inout GGUFEncoder, _ name: String, dims: [Int64], type: UInt32 = 0, offset: UInt64 = 0) {
        e.string(name)
        e.u32(UInt32(dims.count))
        for d in dims { e.i64(d) }
        e.u32(type)
        e.u64(offset)
    }

    /// A file with one F32 tensor info as given, padded, and `dataBytes` of data.
    static func oneTensor(_ name: String = "t", dims: [Int64], type: UInt32 = 0, offset: UInt64 = 0, dataBytes: Int = 64) -> [UInt8] {
        var e = header(tensors: 1, entries: 0)
        tensorInfo(&e, name, dims: dims, type: type, offset: offset)
        e.pad(to: 32)
        e.bytes += [UInt8](repeating: 0, count: dataBytes)
        return e.bytes
    }

    static func parse(_ bytes: [UInt8]) throws { _ = try GGUFFile(bytes: bytes, name: "crafted.gguf") }

    @Test("Given n_kv of 2^64 − 1, 2^61 and 60 000 in a tiny file, when read, then the count is refused before any allocation")
    func hugeKeyValueCount() {
        for count: UInt64 in [.max, 1 << 61, 1 << 32] {
            expectError(.corrupt, "crafted.gguf", "metadata entry count (n_kv) is \(count)", "more than the cap of 65536") {
                try Self.parse(Self.header(tensors: 0, entries: count).bytes + [UInt8](repeating: 0, count: 64))
            }
        }
        expectError(.corrupt, "n_kv) is 60000", "cannot fit in the 64 bytes left", "truncated or corrupt") {
            try Self.parse(Self.header(tensors: 0, entries: 60_000).bytes + [UInt8](repeating: 0, count: 64))
        }
    }

    @Test("Given n_tensors of 2^64 − 1, 2^60 and 1 000 in a tiny file, when read, then the count is refused before any allocation")
    func hugeTensorCount() {
        for count: UInt64 in [.max, 1 << 60, 65_537] {
            expectError(.corrupt, "tensor count (n_tensors) is \(count)", "more than the cap of 65536") {
                try Self.parse(Self.header(tensors: count, entries: 0).bytes + [UInt8](repeating: 0, count: 64))
            }
        }
        expectError(.corrupt, "tensor count (n_tensors) is 1000", "cannot fit") {
            try Self.parse(Self.header(tensors: 1000, entries: 0).bytes + [UInt8](repeating: 0, count: 64))
        }
        // Checked again once the metadata has used its bytes.
        var e = Self.header(tensors: 2, entries: 1)
        Self.entry(&e, "k", .string(String(repeating: "x", count: 40)))
        e.bytes += [UInt8](repeating: 0, count: 40)
        expectError(.corrupt, "tensor count (n_tensors) is 2", "cannot fit in the 40 bytes left") { try Self.parse(e.bytes) }
    }

    @Test("Given string lengths of 2^64 − 1 (length + 1 wraps to 0), over the cap, and past the end, when read, then each is refused with its figure")
    func oversizeStrings() {
        // A key whose length is 2^64 − 1.
        var e = Self.header(tensors: 0, entries: 1)
        e.u64(.max)
        e.bytes += Array("key".utf8) + [UInt8](repeating: 0, count: 32)
        expectError(.corrupt, "the key of metadata entry 0", "claims 18446744073709551615 bytes", "more than the cap of 65535") { try Self.parse(e.bytes) }

        // A string value longer than the bytes left.
        e = Self.header(tensors: 0, entries: 1)
        e.string("general.name")
        e.u32(GGUFValueType.string.rawValue)
        e.u64(1000)
        e.bytes += Array("short".utf8)
        expectError(.corrupt, "the value of metadata key 'general.name'", "claims 1000 bytes but the file has 5 left") { try Self.parse(e.bytes) }

        // A string value over the cap (16 MiB), whatever the file holds.
        e = Self.header(tensors: 0, entries: 1)
        e.string("s")
        e.u32(GGUFValueType.string.rawValue)
        e.u64(1 << 40)
        expectError(.corrupt, "'s'", "claims 1099511627776 bytes, more than the cap of 16777216") { try Self.parse(e.bytes) }

        // A tensor name past ggml's 63 bytes.
        expectError(.corrupt, "the name of tensor 0", "claims 64 bytes, more than the cap of 63") {
            try Self.parse(Self.oneTensor(String(repeating: "n", count: 64), dims: [8]))
        }
        // A string element of an array.
        e = Self.header(tensors: 0, entries: 1)
        e.string("tokenizer.ggml.tokens")
        e.u32(GGUFValueType.array.rawValue)
        e.u32(GGUFValueType.string.rawValue)
        e.u64(2)
        e.string("ok")
        e.u64(.max - 1)
        e.bytes += [0, 0, 0, 0, 0, 0, 0, 0]
        expectError(.corrupt, "element 1 of metadata array 'tokenizer.ggml.tokens'", "claims 18446744073709551614 bytes") { try Self.parse(e.bytes) }
    }

    @Test("Given array counts of 2^64 − 1, 2^62 of uint64 (count × 8 overflows) and more than the bytes left, when read, then each is refused")
    func hugeArrays() {
        for (type, count, fragment) in [(GGUFValueType.uint32, UInt64.max, "more than the cap"),
                                         (.uint64, UInt64(1) << 62, "more than the cap"),
                                         (.uint8, UInt64(1000), "cannot fit in the 16 bytes left"),
                                         (.string, UInt64(3), "3 string elements, which cannot fit"),
                                         (.array, UInt64(2), "2 array elements, which cannot fit")] {
            var e = Self.header(tensors: 0, entries: 1)
            e.string("a")
            e.u32(GGUFValueType.array.rawValue)
            e.u32(type.rawValue)
            e.u64(count)
            e.bytes += [UInt8](repeating: 0, count: 16)
            expectError(.corrupt, "metadata array 'a' claims \(count)", fragment) { try Self.parse(e.bytes) }
        }
        // Arrays nested deeper than the cap (3).
        var e = Self.header(tensors: 0, entries: 1)
        e.string("deep")
        e.u32(GGUFValueType.array.rawValue)
        for _ in 0..<4 { e.u32(GGUFValueType.array.rawValue); e.u64(1) }
        e.bytes += [UInt8](repeating: 0, count: 16)
        expectError(.corrupt, "'deep' nests arrays more than 3 deep") { try Self.parse(e.bytes) }
    }

    @Test("Given bad dimensions (5 or 2^32 − 1 of them, negative, zero, element counts overflowing, byte counts overflowing, rows not whole blocks), when read, then each is refused")
    func badDimensions() {
        expectError(.corrupt, "tensor 't' has 5 dimensions (1 to 4 allowed)") { try Self.parse(Self.oneTensor(dims: [1, 1, 1, 1, 1])) }
        expectError(.corrupt, "tensor 't' has 0 dimensions") { try Self.parse(Self.oneTensor(dims: [])) }
        var e = Self.header(tensors: 1, entries: 0)
        e.string("t")
        e.u32(.max)
        e.bytes += [UInt8](repeating: 0, count: 64)
        expectError(.corrupt, "tensor 't' has 4294967295 dimensions") { try Self.parse(e.bytes) }
        expectError(.corrupt, "tensor 't' has dimension 1 of -1") { try Self.parse(Self.oneTensor(dims: [4, -1])) }
        expectError(.corrupt, "dimension 0 of -9223372036854775808") { try Self.parse(Self.oneTensor(dims: [.min])) }
        expectError(.corrupt, "dimension 2 of 0") { try Self.parse(Self.oneTensor(dims: [4, 4, 0])) }
        expectError(.corrupt, "tensor 't' has dimensions [4294967296, 4294967296]", "element count overflows 64 bits") {
            try Self.parse(Self.oneTensor(dims: [1 << 32, 1 << 32]))
        }
        expectError(.corrupt, "element count overflows") { try Self.parse(Self.oneTensor(dims: [.max, 2])) }
        expectError(.corrupt, "tensor 't' (F32 [4611686018427387904]) has a byte count that overflows 64 bits") {
            try Self.parse(Self.oneTensor(dims: [1 << 62]))
        }
        expectError(.corrupt, "tensor 't' has rows of 33 elements, not a multiple of Q4_0's block of 32") {
            try Self.parse(Self.oneTensor(dims: [33, 2], type: GGMLType.q4_0.rawValue))
        }
        expectError(.corrupt, "rows of 128 elements, not a multiple of Q4_K's block of 256") {
            try Self.parse(Self.oneTensor(dims: [128], type: GGMLType.q4_K.rawValue))
        }
    }

    @Test("Given offsets near 2^64, past the end, unaligned, and overlapping, when read, then the tensor is named and refused")
    func badOffsets() {
        expectError(.corrupt, "tensor 't' lies outside the file (data offset 18446744073709551584 > size 128)", "truncated or corrupt") {
            try Self.parse(Self.oneTensor(dims: [8], offset: UInt64.max - 31))
        }
        // Start inside the file, end past it: data 64 bytes, the tensor 16 floats (64 bytes) at 32.
        expectError(.corrupt, "tensor 't' lies outside the file (offset 96 + 64 bytes > size 128)") {
            try Self.parse(Self.oneTensor(dims: [16], offset: 32))
        }
        // An offset near 2^63, whose sum with the data offset would overflow.
        var e = Self.header(tensors: 1, entries: 0)
        Self.tensorInfo(&e, "t", dims: [8], offset: UInt64(Int.max) - 31)
        e.pad(to: 32)
        e.bytes += [UInt8](repeating: 0, count: 64)
        expectError(.corrupt, "tensor 't' lies outside the file (data offset 9223372036854775776 > size") { try Self.parse(e.bytes) }
        expectError(.corrupt, "tensor 't' has offset 4, not a multiple of the alignment 32") {
            try Self.parse(Self.oneTensor(dims: [8], offset: 4))
        }
        e = Self.header(tensors: 2, entries: 0)
        Self.tensorInfo(&e, "a", dims: [16], offset: 0)
        Self.tensorInfo(&e, "b", dims: [8], offset: 32)
        e.pad(to: 32)
        e.bytes += [UInt8](repeating: 0, count: 128)
        expectError(.corrupt, "tensors 'a'", "'b' (from", "overlap") { try Self.parse(e.bytes) }
    }

    @Test("Given unknown value types, array element types and ggml types (removed ids too), when read, then each is named and refused")
    func unknownTypes() {
        var e = Self.header(tensors: 0, entries: 1)
        e.string("k")
        e.u32(13)
        e.bytes += [UInt8](repeating: 0, count: 16)
        expectError(.corrupt, "metadata key 'k' has value type 13, not a GGUF type") { try Self.parse(e.bytes) }
        e = Self.header(tensors: 0, entries: 1)
        e.string("k")
        e.u32(GGUFValueType.array.rawValue)
        e.u32(0xFFFF_FFFF)
        e.bytes += [UInt8](repeating: 0, count: 16)
        expectError(.corrupt, "metadata array 'k' has element type 4294967295") { try Self.parse(e.bytes) }
        for removed: UInt32 in [4, 5, 31, 36, 42, 1 << 31] {
            expectError(.corrupt, "tensor 't' has ggml type \(removed), which is not a ggml type") {
                try Self.parse(Self.oneTensor(dims: [32], type: removed))
            }
        }
    }

    @Test("Given general.alignment of 0, 3, 48 or as int32, when read, then it is refused; 64 as uint32 is used")
    func badAlignment() throws {
        for value in [GGUFValue.uint32(0), .uint32(3), .uint32(48), .int32(64), .uint64(64)] {
            var e = Self.header(tensors: 0, entries: 1)
            Self.entry(&e, "general.alignment", value)
            expectError(.corrupt, "general.alignment is \(value), not a uint32 power of two") { try Self.parse(e.bytes) }
        }
        var e = Self.header(tensors: 0, entries: 1)
        Self.entry(&e, "general.alignment", .uint32(64))
        #expect(try GGUFFile(bytes: e.bytes, name: "a.gguf").alignment == 64)
    }

    @Test("Given duplicate keys and tensor names, when read, then both appearances are refused by name")
    func duplicates() {
        var e = Self.header(tensors: 0, entries: 2)
        Self.entry(&e, "general.architecture", .string("llama"))
        Self.entry(&e, "general.architecture", .string("evil"))
        expectError(.corrupt, "metadata key 'general.architecture' appears twice (entry 1)") { try Self.parse(e.bytes) }
        e = Self.header(tensors: 2, entries: 0)
        Self.tensorInfo(&e, "w", dims: [8], offset: 0)
        Self.tensorInfo(&e, "w", dims: [8], offset: 32)
        e.pad(to: 32)
        e.bytes += [UInt8](repeating: 0, count: 64)
        expectError(.corrupt, "tensor 'w' appears twice (tensors 0 and 1)") { try Self.parse(e.bytes) }
    }

    @Test("Given bad magic, version 1, version 4, a big-endian version, a bool of 2, invalid UTF-8, an empty key and control characters, when read, then each is refused")
    func malformedHeaders() {
        var bytes = Self.header(tensors: 0, entries: 0).bytes
        bytes[0] = UInt8(ascii: "X")
        expectError(.corrupt, "not a GGUF file") { try Self.parse(bytes) }
        expectError(.unsupported, "GGUF version 1", "versions 2 and 3") { try Self.parse(Self.header(tensors: 0, entries: 0, version: 1).bytes) }
        expectError(.unsupported, "GGUF version 4") { try Self.parse(Self.header(tensors: 0, entries: 0, version: 4).bytes) }
        expectError(.unsupported, "big-endian GGUF file (version 3 byte-swapped)") {
            try Self.parse(Self.header(tensors: 0, entries: 0, version: UInt32(3).byteSwapped).bytes)
        }
        expectError(.corrupt, "the magic", "needs 4 bytes at offset 0 but the file has 3 left") { try Self.parse(Array("GGU".utf8)) }

        var e = Self.header(tensors: 0, entries: 1)
        e.string("b")
        e.u32(GGUFValueType.bool.rawValue)
        e.u8(2)
        expectError(.corrupt, "metadata key 'b' holds a bool of 2") { try Self.parse(e.bytes) }

        e = Self.header(tensors: 0, entries: 1)
        e.u64(2)
        e.bytes += [0xC3, 0x28]  // an invalid two-byte sequence
        e.u32(0)
        e.u8(0)
        expectError(.corrupt, "the key of metadata entry 0", "is not valid UTF-8") { try Self.parse(e.bytes) }

        e = Self.header(tensors: 0, entries: 1)
        Self.entry(&e, "", .uint8(0))
        e.bytes += [0, 0, 0, 0]
        expectError(.corrupt, "the key of metadata entry 0 is empty") { try Self.parse(e.bytes) }

        e = Self.header(tensors: 0, entries: 1)
        Self.entry(&e, "evil\nkey", .uint8(0))
        expectError(.corrupt, "contains control characters") { try Self.parse(e.bytes) }
        expectError(.corrupt, "the name of tensor 0", "contains control characters") {
            try Self.parse(Self.oneTensor("blk.0\u{1b}[31m", dims: [8]))
        }
    }
}
