#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A CTranslate2 `model.bin`, read and checked as untrusted input.
///
/// The layout (CTranslate2 `src/models/model.cc`, `Model::load`; binary versions 5 and 6, all
/// integers little-endian; a string is a `uint16` byte count that includes a trailing NUL, then the
/// bytes and the NUL):
///   1. `uint32` binary version;
///   2. string: the spec name (`WhisperSpec`), `uint32` spec revision;
///   3. `uint32` variable count, then for each variable:
///        string name (`encoder/layer_0/self_attention/linear_0/weight`), `uint8` rank,
///        `uint32` × rank dimensions, `uint8` data type (0 float32, 1 int8, 2 int16, 3 int32,
///        4 float16, 5 bfloat16), `uint32` byte count, then the values, row-major;
///   4. `uint32` alias count, then for each: string alias, string name of the variable it stands for
///      (`decoder/projection/weight` → `decoder/embeddings/weight`: tied output projection).
/// The file must end there. Every count, size and name is checked before use: a byte count must be
/// exactly the dimensions' product times the type's size, and lie inside the file.
public struct CTranslate2Model: Sendable {
    public enum DataType: UInt8, Sendable {
        case float32 = 0, int8 = 1, int16 = 2, int32 = 3, float16 = 4, bfloat16 = 5

        var size: Int {
            switch self {
            case .float32, .int32: 4
            case .int8: 1
            case .int16, .float16, .bfloat16: 2
            }
        }
    }

    public struct Variable: Sendable {
        public let name: String
        public let shape: [Int]
        public let type: DataType
        /// Where its values lie in `bytes`.
        let range: Range<Int>
    }

    /// The file's path (or name), used in every message.
    public let fileName: String
    public let binaryVersion: Int
    public let specName: String
    public let specRevision: Int
    public let variables: [String: Variable]
    let bytes: [UInt8]

    /// Largest file accepted: Whisper tiny.en in float16 is 76 MB, base.en 145 MB.
    static let maxFileBytes = 1 << 30
    static let supportedVersions = 5...6
    static let maxRank = 4

    public init(path: String) throws(WhisperError) {
        try self.init(bytes: Self.read(path), fileName: path)
    }

    public init(bytes: [UInt8], fileName: String) throws(WhisperError) {
        var reader = Reader(bytes: bytes, fileName: fileName)
        let version = Int(try reader.u32("binary version"))
        guard Self.supportedVersions.contains(version) else {
            throw WhisperError(.unsupportedModel, "\(fileName): CTranslate2 binary version \(version), Hark reads versions \(Self.supportedVersions.lowerBound)–\(Self.supportedVersions.upperBound)")
        }
        let spec = try reader.string("spec name")
        let revision = Int(try reader.u32("spec revision"))
        let count = Int(try reader.u32("variable count"))
        // Each variable takes at least 12 bytes (a one-character name, rank, type, byte count).
        guard count <= reader.remaining / 12 else {
            throw WhisperError(.corruptModel, "\(fileName): \(count) variables cannot fit in the \(reader.remaining) bytes left: the file is truncated or corrupt")
        }
        var variables: [String: Variable] = [:]
        for index in 0..<count {
            let name = try reader.string("name of variable \(index)")
            let rank = Int(try reader.u8("rank of '\(name)'"))
            guard rank <= Self.maxRank else {
                throw WhisperError(.corruptModel, "\(fileName): variable '\(name)' has rank \(rank) (at most \(Self.maxRank)): the file is corrupt")
            }
            var shape: [Int] = []
            var elements = 1
            for axis in 0..<rank {
                let dim = Int(try reader.u32("dimension \(axis) of '\(name)'"))
                let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
                guard !overflow, product <= Self.maxFileBytes else {
                    throw WhisperError(.corruptModel, "\(fileName): variable '\(name)' has dimensions too large for any file (\(shape + [dim])): the file is corrupt")
                }
                shape.append(dim)
                elements = product
            }
            let code = try reader.u8("data type of '\(name)'")
            guard let type = DataType(rawValue: code) else {
                throw WhisperError(.unsupportedModel, "\(fileName): variable '\(name)' has data type \(code), which Hark does not read (0–5)")
            }
            let byteCount = Int(try reader.u32("byte count of '\(name)'"))
            guard byteCount == elements * type.size else {
                throw WhisperError(.corruptModel, "\(fileName): variable '\(name)' holds \(byteCount) bytes, but \(shape) of \(type) needs \(elements * type.size): the file is corrupt")
            }
            let range = try reader.skip(byteCount, "values of '\(name)'")
            guard variables[name] == nil else {
                throw WhisperError(.corruptModel, "\(fileName): variable '\(name)' appears twice: the file is corrupt")
            }
            variables[name] = Variable(name: name, shape: shape, type: type, range: range)
        }
        let aliases = Int(try reader.u32("alias count"))
        guard aliases <= reader.remaining / 4 else {
            throw WhisperError(.corruptModel, "\(fileName): \(aliases) aliases cannot fit in the \(reader.remaining) bytes left: the file is truncated or corrupt")
        }
        for index in 0..<aliases {
            let alias = try reader.string("alias \(index)")
            let target = try reader.string("target of alias '\(alias)'")
            guard let variable = variables[target] else {
                throw WhisperError(.corruptModel, "\(fileName): alias '\(alias)' names '\(target)', which is not in the file: the file is corrupt")
            }
            guard variables[alias] == nil else {
                throw WhisperError(.corruptModel, "\(fileName): alias '\(alias)' is also a variable: the file is corrupt")
            }
            variables[alias] = Variable(name: alias, shape: variable.shape, type: variable.type, range: variable.range)
        }
        guard reader.remaining == 0 else {
            throw WhisperError(.corruptModel, "\(fileName): \(reader.remaining) bytes after the last alias: the file is corrupt")
        }
        self.fileName = fileName
        self.binaryVersion = version
        self.specName = spec
        self.specRevision = revision
        self.variables = variables
        self.bytes = bytes
    }

    /// The variable called `name`, which must have `shape` (nil: any).
    public func variable(_ name: String, shape: [Int]? = nil) throws(WhisperError) -> Variable {
        guard let variable = variables[name] else {
            throw WhisperError(.unsupportedModel, "\(fileName): no variable '\(name)': not a Whisper model Hark reads")
        }
        if let shape, variable.shape != shape {
            throw WhisperError(.unsupportedModel, "\(fileName): variable '\(name)' has shape \(variable.shape), expected \(shape)")
        }
        return variable
    }

    /// A floating-point variable's values as float32, row-major.
    public func floats(_ name: String, shape: [Int]? = nil) throws(WhisperError) -> [Float] {
        let v = try variable(name, shape: shape)
        let count = v.shape.reduce(1, *)
        guard v.type == .float32 || v.type == .float16 || v.type == .bfloat16 else {
            throw WhisperError(.unsupportedModel, "\(fileName): variable '\(name)' is \(v.type), expected floating-point weights")
        }
        return bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + v.range.lowerBound
            return [Float](unsafeUninitializedCapacity: count) { out, n in
                for i in 0..<count {
                    switch v.type {
                    case .float32:
                        out[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    case .bfloat16:
                        out[i] = Float(bitPattern: UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
                    default:
                        out[i] = Self.half(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    }
                }
                n = count
            }
        }
    }

    /// A floating-point variable's values as binary16 bit patterns, row-major: as stored when the
    /// file holds float16, else rounded to float16 once, here.
    public func halves(_ name: String, shape: [Int]? = nil) throws(WhisperError) -> [UInt16] {
        let v = try variable(name, shape: shape)
        guard v.type == .float16 else { return try floats(name).map { Float16($0).bitPattern } }
        let count = v.shape.reduce(1, *)
        return bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + v.range.lowerBound
            return (0..<count).map { UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) }
        }
    }

    /// A scalar integer variable (a flag or a count such as `decoder/num_heads`).
    public func integer(_ name: String) throws(WhisperError) -> Int {
        let v = try variable(name)
        guard v.shape.reduce(1, *) == 1 else {
            throw WhisperError(.unsupportedModel, "\(fileName): variable '\(name)' has shape \(v.shape), expected a scalar")
        }
        return bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress! + v.range.lowerBound
            switch v.type {
            case .int8: return Int(base.load(as: Int8.self))
            case .int16: return Int(Int16(littleEndian: base.loadUnaligned(as: Int16.self)))
            case .int32: return Int(Int32(littleEndian: base.loadUnaligned(as: Int32.self)))
            case .float32: return Int(Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(as: UInt32.self))))
            case .float16, .bfloat16: return Int(Float(Self.half(UInt16(littleEndian: base.loadUnaligned(as: UInt16.self)))))
            }
        }
    }

    /// IEEE 754 binary16 → binary32, exactly (subnormals, infinities and NaN included).
    static func half(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int(h >> 10) & 0x1f
        let mantissa = UInt32(h & 0x3ff)
        if exponent == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13)) }
        if exponent == 0 {
            // Zero or subnormal: mantissa · 2^-24.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
    }

    /// The whole file, read with POSIX calls so the message can carry the errno text.
    static func read(_ path: String) throws(WhisperError) -> [UInt8] {
        func failure(_ what: String) -> WhisperError {
            WhisperError(.fileUnreadable, "\(path): cannot \(what) model file (\(String(cString: strerror(errno)))): run `make models` to fetch it")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("inspect") }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw WhisperError(.fileUnreadable, "\(path): not a regular file")
        }
        let size = Int(info.st_size)
        guard size <= maxFileBytes else {
            throw WhisperError(.fileUnreadable, "\(path): model file is \(size) bytes, larger than the \(maxFileBytes >> 20) MiB Hark accepts")
        }
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var done = 0
            while done < size {
                let n = Glibc.read(fd, buffer.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { failed = true; break }
                done += n
            }
            count = failed ? 0 : size
        }
        if failed { throw failure("read") }
        return bytes
    }

    /// Reads little-endian fields and checks that each lies inside the file.
    struct Reader {
        let bytes: [UInt8]
        let fileName: String
        var offset = 0
        var remaining: Int { bytes.count - offset }

        mutating func skip(_ count: Int, _ what: String) throws(WhisperError) -> Range<Int> {
            guard count >= 0, count <= remaining else {
                throw WhisperError(.corruptModel, "\(fileName): \(what) ends past the end of the file (offset \(offset) + \(count) > size \(bytes.count)): the file is truncated or corrupt")
            }
            defer { offset += count }
            return offset..<(offset + count)
        }

        mutating func u8(_ what: String) throws(WhisperError) -> UInt8 {
            bytes[try skip(1, what).lowerBound]
        }

        mutating func u16(_ what: String) throws(WhisperError) -> UInt16 {
            let r = try skip(2, what)
            return UInt16(bytes[r.lowerBound]) | UInt16(bytes[r.lowerBound + 1]) << 8
        }

        mutating func u32(_ what: String) throws(WhisperError) -> UInt32 {
            let r = try skip(4, what)
            var value: UInt32 = 0
            for i in 0..<4 { value |= UInt32(bytes[r.lowerBound + i]) << (8 * i) }
            return value
        }

        /// A NUL-terminated UTF-8 string with its uint16 length; names are printable ASCII.
        mutating func string(_ what: String) throws(WhisperError) -> String {
            let length = Int(try u16("length of \(what)"))
            let r = try skip(length, what)
            guard length >= 1, bytes[r.upperBound - 1] == 0 else {
                throw WhisperError(.corruptModel, "\(fileName): \(what) at offset \(r.lowerBound) is not NUL-terminated: the file is corrupt")
            }
            let body = bytes[r.lowerBound..<(r.upperBound - 1)]
            guard !body.isEmpty, body.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else {
                throw WhisperError(.corruptModel, "\(fileName): \(what) at offset \(r.lowerBound) is empty or not printable ASCII: the file is corrupt")
            }
            return String(decoding: body, as: UTF8.self)
        }
    }
}
