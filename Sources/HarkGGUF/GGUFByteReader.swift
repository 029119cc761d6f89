/// A cursor over untrusted bytes: every read is bounds-checked against what is left and fails with a
/// `GGUFError` that names the file and what was being read; integers are little-endian.
struct GGUFByteReader {
    let bytes: UnsafeRawBufferPointer
    let fileName: String
    private(set) var position = 0

    init(bytes: UnsafeRawBufferPointer, fileName: String) {
        self.bytes = bytes
        self.fileName = fileName
    }

    var remaining: Int { bytes.count - position }

    func truncated(_ what: @autoclosure () -> String, needs: Int) -> GGUFError {
        GGUFError(.corrupt, "\(fileName): \(what()) needs \(needs) bytes at offset \(position) but the file has \(remaining) left: the model file is truncated or corrupt")
    }

    mutating func integer<T: FixedWidthInteger>(_ type: T.Type, _ what: @autoclosure () -> String) throws(GGUFError) -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw truncated(what(), needs: size) }
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
        position += size
        return value
    }

    mutating func u32(_ what: @autoclosure () -> String) throws(GGUFError) -> UInt32 { try integer(UInt32.self, what()) }
    mutating func u64(_ what: @autoclosure () -> String) throws(GGUFError) -> UInt64 { try integer(UInt64.self, what()) }

    /// `count` raw bytes, without copying.
    mutating func take(_ count: Int, _ what: @autoclosure () -> String) throws(GGUFError) -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw truncated(what(), needs: count) }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + count)])
        position += count
        return slice
    }

    /// A GGUF string (3.1 of the layout): a `uint64` byte count, then that many bytes of UTF-8, no NUL.
    /// The count is checked against `cap` and the bytes left before anything is allocated (the 2024
    /// CVEs allocated `length + 1`, which wraps to 0 for 2^64 − 1).
    mutating func string(cap: Int, _ what: @autoclosure () -> String) throws(GGUFError) -> String {
        let start = position
        let length = try u64("length of \(what())")
        guard length <= UInt64(cap) else {
            throw GGUFError(.corrupt, "\(fileName): \(what()) at offset \(start) claims \(length) bytes, more than the cap of \(cap): the model file is corrupt")
        }
        guard length <= UInt64(remaining) else {
            throw GGUFError(.corrupt, "\(fileName): \(what()) at offset \(start) claims \(length) bytes but the file has \(remaining) left: the model file is truncated or corrupt")
        }
        let raw = try take(Int(length), what())
        let utf8 = raw.assumingMemoryBound(to: UInt8.self)
        // Validated here, never repaired (a repaired token could alias another); the standard
        // library's validating initialiser costs three times the whole parse of a vocabulary.
        guard Self.isValidUTF8(raw) else {
            throw GGUFError(.corrupt, "\(fileName): \(what()) at offset \(start) is not valid UTF-8: the model file is corrupt")
        }
        return String(decoding: utf8, as: UTF8.self)
    }

    /// Whether `bytes` is well-formed UTF-8 (Unicode 15, table 3-7: no overlong forms, no surrogates,
    /// nothing past U+10FFFF), with an ASCII fast path eight bytes at a time.
    static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let n = bytes.count
        var i = 0
        while i < n {
            if i + 8 <= n, bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                i += 8
                continue
            }
            let c = bytes[i]
            if c < 0x80 { i += 1; continue }
            func continuation(_ k: Int) -> UInt8? { i + k < n && bytes[i + k] & 0xC0 == 0x80 ? bytes[i + k] : nil }
            switch c {
            case 0xC2...0xDF:
                guard continuation(1) != nil else { return false }
                i += 2
            case 0xE0...0xEF:
                guard let c1 = continuation(1), continuation(2) != nil else { return false }
                if c == 0xE0 && c1 < 0xA0 { return false }  // overlong
                if c == 0xED && c1 >= 0xA0 { return false }  // UTF-16 surrogates
                i += 3
            case 0xF0...0xF4:
                guard let c1 = continuation(1), continuation(2) != nil, continuation(3) != nil else { return false }
                if c == 0xF0 && c1 < 0x90 { return false }  // overlong
                if c == 0xF4 && c1 >= 0x90 { return false }  // past U+10FFFF
                i += 4
            default:
                return false  // a continuation byte first, C0/C1 (overlong), F5–FF
            }
        }
        return true
    }
}
