#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes small GGUF files (the layout in `GGUFFile`): tests and tools build tiny models with it.
/// Tensors are laid out in the order added, each at the next multiple of the alignment. It trusts
/// its caller: a tensor's data must have exactly the byte count of its type and dimensions.
public struct GGUFWriter: Sendable {
    public var version: UInt32
    public var alignment: Int
    public private(set) var metadata: [(key: String, value: GGUFValue)] = []
    public private(set) var tensors: [(name: String, type: GGMLType, dimensions: [Int], data: [UInt8])] = []

    /// `alignment` other than 32 is written as `general.alignment` unless the caller adds that key.
    public init(version: UInt32 = 3, alignment: Int = GGUFFile.defaultAlignment) {
        self.version = version
        self.alignment = alignment
    }

    public mutating func add(_ key: String, _ value: GGUFValue) {
        metadata.append((key, value))
    }

    public mutating func addTensor(_ name: String, type: GGMLType, dimensions: [Int], data: [UInt8]) {
        let elements = dimensions.reduce(1, *)
        precondition(type.byteCount(elements: elements) == data.count,
                     "tensor '\(name)': \(data.count) bytes for \(type) \(dimensions)")
        tensors.append((name, type, dimensions, data))
    }

    /// The whole file.
    public func bytes() -> [UInt8] {
        var entries = metadata
        if alignment != GGUFFile.defaultAlignment, !entries.contains(where: { $0.key == "general.alignment" }) {
            entries.insert(("general.alignment", .uint32(UInt32(alignment))), at: 0)
        }
        var out = GGUFEncoder()
        out.bytes += GGUFFile.magic
        out.u32(version)
        out.u64(UInt64(tensors.count))
        out.u64(UInt64(entries.count))
        for (key, value) in entries {
            out.string(key)
            out.u32(value.type.rawValue)
            out.value(value)
        }
        var offset = 0
        for tensor in tensors {
            out.string(tensor.name)
            out.u32(UInt32(tensor.dimensions.count))
            for d in tensor.dimensions { out.u64(UInt64(d)) }
            out.u32(tensor.type.rawValue)
            out.u64(UInt64(offset))
            offset += Self.padded(tensor.data.count, alignment)
        }
        out.pad(to: alignment)
        for tensor in tensors {
            out.bytes += tensor.data
            out.bytes += [UInt8](repeating: 0, count: Self.padded(tensor.data.count, alignment) - tensor.data.count)
        }
        return out.bytes
    }

    /// Writes the file to `path` (created or truncated).
    public func write(to path: String) throws(GGUFError) {
        #if canImport(Glibc)
        let writeBytes = Glibc.write
        #else
        let writeBytes = Darwin.write
        #endif
        let data = bytes()
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw GGUFError(.fileUnreadable, "\(path): cannot create (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var written = 0
        while written < data.count {
            let n = data.withUnsafeBytes { writeBytes(fd, $0.baseAddress! + written, data.count - written) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                throw GGUFError(.fileUnreadable, "\(path): write failed (\(String(cString: strerror(errno))))")
            }
            written += n
        }
    }

    static func padded(_ n: Int, _ alignment: Int) -> Int { (n + alignment - 1) / alignment * alignment }
}

/// Little-endian GGUF encoding primitives, public so tests can craft files no writer would make.
public struct GGUFEncoder: Sendable {
    public var bytes: [UInt8] = []
    public init() {}

    public mutating func integer<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
    }
    public mutating func u8(_ v: UInt8) { bytes.append(v) }
    public mutating func u32(_ v: UInt32) { integer(v) }
    public mutating func u64(_ v: UInt64) { integer(v) }
    public mutating func i64(_ v: Int64) { integer(v) }

    /// A GGUF string: `uint64` byte count, then the UTF-8 bytes.
    public mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes += s.utf8
    }

    /// A value's bytes (its type code is written by the caller, as in a metadata entry).
    public mutating func value(_ value: GGUFValue) {
        switch value {
        case .uint8(let v): integer(v)
        case .int8(let v): integer(v)
        case .uint16(let v): integer(v)
        case .int16(let v): integer(v)
        case .uint32(let v): integer(v)
        case .int32(let v): integer(v)
        case .uint64(let v): integer(v)
        case .int64(let v): integer(v)
        case .float32(let v): integer(v.bitPattern)
        case .float64(let v): integer(v.bitPattern)
        case .bool(let v): u8(v ? 1 : 0)
        case .string(let v): string(v)
        case .array(let a): array(a)
        }
    }

    /// An array: element type, count, elements.
    public mutating func array(_ a: GGUFArray) {
        u32(a.elementType.rawValue)
        u64(UInt64(a.count))
        switch a {
        case .uint8(let v): v.forEach { integer($0) }
        case .int8(let v): v.forEach { integer($0) }
        case .uint16(let v): v.forEach { integer($0) }
        case .int16(let v): v.forEach { integer($0) }
        case .uint32(let v): v.forEach { integer($0) }
        case .int32(let v): v.forEach { integer($0) }
        case .uint64(let v): v.forEach { integer($0) }
        case .int64(let v): v.forEach { integer($0) }
        case .float32(let v): v.forEach { integer($0.bitPattern) }
        case .float64(let v): v.forEach { integer($0.bitPattern) }
        case .bool(let v): v.forEach { u8($0 ? 1 : 0) }
        case .string(let v): v.forEach { string($0) }
        case .array(let v): v.forEach { array($0) }
        }
    }

    /// Zero bytes up to the next multiple of `alignment`.
    public mutating func pad(to alignment: Int) {
        bytes += [UInt8](repeating: 0, count: GGUFWriter.padded(bytes.count, alignment) - bytes.count)
    }
}
