/// A GGUF model file, mapped read-only and checked as untrusted input before anything is used.
///
/// The layout (ggml `gguf.h` and `docs/gguf.md`; versions 2 and 3, every integer little-endian):
///   1. magic "GGUF" (4 bytes: 0x47 0x47 0x55 0x46);
///   2. `uint32` version: 2 or 3 (version 1 had 32-bit counts; a byte-swapped version means a
///      big-endian file);
///   3. `uint64` tensor count (`n_tensors`);
///   4. `uint64` metadata entry count (`n_kv`);
///   5. `n_kv` metadata entries, each:
///        1. the key, a string: `uint64` byte count, then UTF-8 bytes, no NUL;
///        2. `uint32` value type (`GGUFValueType`: 0 uint8 … 12 float64);
///        3. the value: a scalar's little-endian bytes (bool: one byte, 0 or 1); a string as in 5.1;
///           an array as `uint32` element type, `uint64` count, then the elements (arrays nest);
///   6. `n_tensors` tensor infos, each:
///        1. the name, a string (ggml caps it at 63 bytes);
///        2. `uint32` number of dimensions (1 to 4);
///        3. `int64` × that many: the dimensions, `ne0` (fastest-varying) first;
///        4. `uint32` ggml type (`GGMLType`);
///        5. `uint64` offset of its bytes from the start of the data section, a multiple of the alignment;
///   7. padding to the alignment (`general.alignment`, a `uint32` power of two, default 32);
///   8. the data section: every tensor's bytes (`ne0 / blockSize · bytesPerBlock` per row).
///
/// Every count, length, type, dimension and offset is checked against caps (`Limits`), the bytes
/// left and the file's size before it is used; sizes are computed with overflow checks; keys and
/// tensor names must be unique. A failure throws a `GGUFError` naming the file, the key or tensor
/// and the figure. Nothing is copied out of the mapping but the metadata; `tensorData(_:)` is a view.
/// Chat templates are exposed as strings only, never executed.
public struct GGUFFile: Sendable {
    /// Caps on what a file may declare, checked before anything is allocated.
    public struct Limits: Sendable {
        public var maxTensors = 65_536
        public var maxMetadataEntries = 65_536
        /// A key's bytes (docs/gguf.md: at most 2^16 − 1).
        public var maxKeyBytes = 65_535
        /// A tensor name's bytes (ggml's `GGML_MAX_NAME` is 64 with the NUL).
        public var maxTensorNameBytes = 63
        /// A string value's bytes (chat templates run to tens of KB).
        public var maxStringBytes = 1 << 24
        /// Elements in one metadata array (vocabularies and merge lists run to hundreds of thousands).
        public var maxArrayElements = 1 << 24
        /// Arrays of arrays: how deep they may nest.
        public var maxArrayNesting = 3
        public init() {}
    }

    public static let magic: [UInt8] = Array("GGUF".utf8)
    public static let supportedVersions: ClosedRange<UInt32> = 2...3
    public static let defaultAlignment = 32
    public static let maxDimensions = 4

    /// The path (or name) the file was read from, used in every message.
    public let fileName: String
    public let version: UInt32
    /// The data section's alignment: `general.alignment` or 32.
    public let alignment: Int
    public let metadata: GGUFMetadata
    /// The tensor table in file order.
    public let tensors: [GGUFTensor]
    /// Where the data section starts, from the start of the file.
    public let dataOffset: Int
    /// The file's size in bytes.
    public var fileSize: Int { storage.count }
    /// The path of the file behind the memory map (nil for a file held in memory).
    public var mappedPath: String? { storage.isMapped ? fileName : nil }
    /// The whole memory map (nil for a file held in memory), for advice on how it is paged.
    public var mappedBytes: UnsafeRawBufferPointer? { storage.isMapped ? UnsafeRawBufferPointer(start: storage.base, count: storage.count) : nil }

    let storage: GGUFStorage
    private let tensorIndex: [String: Int]

    /// Maps and checks the file at `path`.
    public init(path: String, limits: Limits = Limits()) throws(GGUFError) {
        try self.init(storage: GGUFStorage(path: path), fileName: path, limits: limits)
    }

    /// Checks a file held in memory (built by `GGUFWriter`, or received); the bytes are copied once.
    public init(bytes: [UInt8], name: String, limits: Limits = Limits()) throws(GGUFError) {
        try self.init(storage: GGUFStorage(copying: bytes), fileName: name, limits: limits)
    }

    /// Reads memory the caller keeps alive and unchanged for as long as the file value lives.
    init(borrowing buffer: UnsafeRawBufferPointer, name: String, limits: Limits = Limits()) throws(GGUFError) {
        try self.init(storage: GGUFStorage(borrowing: buffer), fileName: name, limits: limits)
    }

    private init(storage: GGUFStorage, fileName: String, limits: Limits) throws(GGUFError) {
        var reader = GGUFByteReader(bytes: storage.bytes, fileName: fileName)

        // 1–2. Magic and version.
        let magic = try reader.take(4, "the magic \"GGUF\"")
        guard magic.elementsEqual(Self.magic) else {
            throw GGUFError(.corrupt, "\(fileName): not a GGUF file (magic \(magic.map { String($0, radix: 16) }) instead of \"GGUF\"): give a .gguf model file")
        }
        let version = try reader.u32("the version")
        guard Self.supportedVersions.contains(version) else {
            if Self.supportedVersions.contains(version.byteSwapped) {
                throw GGUFError(.unsupported, "\(fileName): a big-endian GGUF file (version \(version.byteSwapped) byte-swapped): Hark reads little-endian GGUF only; convert the model")
            }
            throw GGUFError(.unsupported, "\(fileName): GGUF version \(version), Hark reads versions 2 and 3: convert the model with a current llama.cpp")
        }

        // 3–4. Counts, each checked against its cap and against the bytes left before anything is
        // allocated (the 2024 CVEs: n_kv and n_tensors large enough to overflow an allocation).
        let tensorCount = try reader.u64("the tensor count")
        let entryCount = try reader.u64("the metadata entry count")
        // A tensor info takes at least 33 bytes (a 1-byte name, one dimension); an entry at least 14
        // (a 1-byte key, a type, a 1-byte value).
        try Self.checkCount(tensorCount, "tensor count (n_tensors)", cap: limits.maxTensors, minimumBytes: 33, reader: reader)
        try Self.checkCount(entryCount, "metadata entry count (n_kv)", cap: limits.maxMetadataEntries, minimumBytes: 14, reader: reader)

        // 5. Metadata.
        var keys: [String] = []
        var values: [String: GGUFValue] = [:]
        keys.reserveCapacity(Int(entryCount))
        for entry in 0..<Int(entryCount) {
            let key = try reader.string(cap: limits.maxKeyBytes, "the key of metadata entry \(entry)")
            try Self.checkName(key, "the key of metadata entry \(entry)", fileName: fileName)
            guard values[key] == nil else {
                throw GGUFError(.corrupt, "\(fileName): metadata key '\(key)' appears twice (entry \(entry)): the model file is corrupt")
            }
            let typeCode = try reader.u32("the value type of metadata key '\(key)'")
            guard let type = GGUFValueType(rawValue: typeCode) else {
                throw GGUFError(.corrupt, "\(fileName): metadata key '\(key)' has value type \(typeCode), not a GGUF type (0–12): the model file is corrupt")
            }
            values[key] = try Self.readValue(type, key: key, depth: 0, reader: &reader, limits: limits)
            keys.append(key)
        }
        let metadata = GGUFMetadata(fileName: fileName, keys: keys, values: values)

        var alignment = Self.defaultAlignment
        if let value = values["general.alignment"] {
            guard case .uint32(let a) = value, a > 0, a & (a - 1) == 0 else {
                throw GGUFError(.corrupt, "\(fileName): general.alignment is \(value), not a uint32 power of two: the model file is corrupt")
            }
            alignment = Int(a)
        }

        // 6. Tensor infos; the count is checked again against what the metadata left.
        try Self.checkCount(tensorCount, "tensor count (n_tensors)", cap: limits.maxTensors, minimumBytes: 33, reader: reader)
        var infos: [(name: String, type: GGMLType, dims: [Int], elements: Int, bytes: Int, offset: Int)] = []
        infos.reserveCapacity(Int(tensorCount))
        var tensorIndex: [String: Int] = [:]
        for index in 0..<Int(tensorCount) {
            let name = try reader.string(cap: limits.maxTensorNameBytes, "the name of tensor \(index)")
            try Self.checkName(name, "the name of tensor \(index)", fileName: fileName)
            guard tensorIndex[name] == nil else {
                throw GGUFError(.corrupt, "\(fileName): tensor '\(name)' appears twice (tensors \(tensorIndex[name]!) and \(index)): the model file is corrupt")
            }
            tensorIndex[name] = index
            let rank = try reader.u32("the dimension count of tensor '\(name)'")
            guard rank >= 1, rank <= UInt32(Self.maxDimensions) else {
                throw GGUFError(.corrupt, "\(fileName): tensor '\(name)' has \(rank) dimensions (1 to \(Self.maxDimensions) allowed): the model file is corrupt")
            }
            var dims: [Int] = []
            var elements = 1
            for axis in 0..<Int(rank) {
                let raw = try reader.integer(Int64.self, "dimension \(axis) of tensor '\(name)'")
                guard raw >= 1 else {
                    throw GGUFError(.corrupt, "\(fileName): tensor '\(name)' has dimension \(axis) of \(raw) (must be at least 1): the model file is corrupt")
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(raw))
                guard !overflow else {
                    throw GGUFError(.corrupt, "\(fileName): tensor '\(name)' has dimensions \(dims + [Int(raw)]) whose element count overflows 64 bits: the model file is corrupt")
                }
                dims.append(Int(raw))
                elements = product
            }
            let typeCode = try reader.u32("the type of tensor '\(name)'")
            guard let type = GGMLType(rawValue: typeCode) else {
                throw GGUFError(.corrupt, "\(fileName): tensor '\(name)' has ggml type \(typeCode), which is not a ggml type GGUF files use: the model file is corrupt or from a newer ggml")
            }
            guard dims[0] % type.blockSize == 0 else {
                throw GGUFError(.corrupt, "\(fileName): tensor '\(name)' has rows of \(dims[0]) elements, not a multiple of \(type)'s block of \(type.blockSize): the model file is corrupt")
            }
            guard let bytes = type.byteCount(elements: elements) else {
                throw GGUFError(.corrupt, "\(fileName): tensor '\(name)' (\(type) \(dims)) has a byte count that overflows 64 bits: the model file is corrupt")
            }
            let offset = try reader.u64("the offset of tensor '\(name)'")
            guard offset % UInt64(alignment) == 0 else {
                throw GGUFError(.corrupt, "\(fileName): tensor '\(name)' has offset \(offset), not a multiple of the alignment \(alignment): the model file is corrupt")
            }
            guard offset <= UInt64(storage.count) else {
                throw GGUFError(.corrupt, "\(fileName): tensor '\(name)' lies outside the file (data offset \(offset) > size \(storage.count)): the model file is truncated or corrupt")
            }
            infos.append((name, type, dims, elements, bytes, Int(offset)))
        }

        // 7–8. The data section starts at the next multiple of the alignment; every tensor's bytes
        // must lie inside the file and no two may overlap.
        let (padded, paddingOverflow) = reader.position.addingReportingOverflow(alignment - 1)
        let dataOffset = paddingOverflow ? Int.max : padded / alignment * alignment
        var tensors: [GGUFTensor] = []
        tensors.reserveCapacity(infos.count)
        for (index, info) in infos.enumerated() {
            let (start, o1) = dataOffset.addingReportingOverflow(info.offset)
            let (end, o2) = start.addingReportingOverflow(info.bytes)
            guard !o1, !o2, end <= storage.count else {
                let where_ = o1 ? "the offset overflows" : "offset \(start) + \(info.bytes) bytes > size \(storage.count)"
                throw GGUFError(.corrupt, "\(fileName): tensor '\(info.name)' lies outside the file (\(where_)): the model file is truncated or corrupt")
            }
            tensors.append(GGUFTensor(index: index, name: info.name, type: info.type, dimensions: info.dims,
                                      elementCount: info.elements, byteCount: info.bytes, offset: start, relativeOffset: info.offset))
        }
        let byOffset = tensors.sorted { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }
        for (a, b) in zip(byOffset, byOffset.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw GGUFError(.corrupt, "\(fileName): tensors '\(a.name)' (bytes \(a.offset)..<\(a.offset + a.byteCount)) and '\(b.name)' (from \(b.offset)) overlap: the model file is corrupt")
        }

        self.fileName = fileName
        self.version = version
        self.alignment = alignment
        self.metadata = metadata
        self.tensors = tensors
        self.dataOffset = dataOffset
        self.storage = storage
        self.tensorIndex = tensorIndex
    }

    // MARK: Tensors

    public func tensor(named name: String) -> GGUFTensor? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The tensor called `name`, or a `missingTensor` error naming it.
    public func requireTensor(_ name: String) throws(GGUFError) -> GGUFTensor {
        guard let tensor = tensor(named: name) else {
            throw GGUFError(.missingTensor, "\(fileName): tensor '\(name)' is missing: the model file is incomplete or of another architecture")
        }
        return tensor
    }

    /// The tensor's bytes inside the mapping, without a copy. The pointer is valid while this file
    /// value (or a copy of it) is alive: keep the `GGUFFile` as long as the bytes are in use.
    public func tensorData(_ tensor: GGUFTensor) -> UnsafeRawBufferPointer {
        precondition(tensor.index < tensors.count && tensors[tensor.index] == tensor, "tensor '\(tensor.name)' is not from \(fileName)")
        return UnsafeRawBufferPointer(start: storage.base + tensor.offset, count: tensor.byteCount)
    }

    /// Runs `body` over the tensor's bytes, keeping the mapping alive for the call.
    public func withTensorData<R, E: Error>(_ tensor: GGUFTensor, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        defer { withExtendedLifetime(storage) {} }
        return try body(tensorData(tensor))
    }

    /// Throws `unsupported` naming the first tensor whose type Hark's kernels do not compute.
    public func requireComputableTypes() throws(GGUFError) {
        if let tensor = tensors.first(where: { !$0.type.isComputed }) {
            let names = GGMLType.computed.map(\.description).joined(separator: ", ")
            throw GGUFError(.unsupported, "\(fileName): tensor '\(tensor.name)' is \(tensor.type), which Hark does not compute (it computes \(names)): use a model quantized to one of those")
        }
    }

    // MARK: Checks

    private static func checkCount(_ count: UInt64, _ what: String, cap: Int, minimumBytes: Int, reader: GGUFByteReader) throws(GGUFError) {
        guard count <= UInt64(cap) else {
            throw GGUFError(.corrupt, "\(reader.fileName): \(what) is \(count), more than the cap of \(cap): the model file is corrupt")
        }
        guard count <= UInt64(reader.remaining / minimumBytes) else {
            throw GGUFError(.corrupt, "\(reader.fileName): \(what) is \(count), but \(count) entries of at least \(minimumBytes) bytes cannot fit in the \(reader.remaining) bytes left: the model file is truncated or corrupt")
        }
    }

    /// Keys and tensor names: not empty, no control characters (they end up in messages and logs).
    private static func checkName(_ name: String, _ what: String, fileName: String) throws(GGUFError) {
        guard !name.isEmpty else {
            throw GGUFError(.corrupt, "\(fileName): \(what) is empty: the model file is corrupt")
        }
        guard !name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) else {
            throw GGUFError(.corrupt, "\(fileName): \(what) (\(name.debugDescription)) contains control characters: the model file is corrupt")
        }
    }
}
