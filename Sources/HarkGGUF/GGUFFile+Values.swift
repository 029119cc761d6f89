/// Reading metadata values (5.3 of the layout in `GGUFFile`): scalars, strings, and arrays whose
/// counts are checked against the cap and the bytes left before anything is allocated.
extension GGUFFile {
    /// One value of `type` (5.3 of the layout); arrays recurse up to `limits.maxArrayNesting`.
    static func readValue(_ type: GGUFValueType, key: String, depth: Int, reader: inout GGUFByteReader, limits: Limits) throws(GGUFError) -> GGUFValue {
        let what = "the value of metadata key '\(key)'"
        switch type {
        case .uint8: return .uint8(try reader.integer(UInt8.self, what))
        case .int8: return .int8(try reader.integer(Int8.self, what))
        case .uint16: return .uint16(try reader.integer(UInt16.self, what))
        case .int16: return .int16(try reader.integer(Int16.self, what))
        case .uint32: return .uint32(try reader.integer(UInt32.self, what))
        case .int32: return .int32(try reader.integer(Int32.self, what))
        case .uint64: return .uint64(try reader.integer(UInt64.self, what))
        case .int64: return .int64(try reader.integer(Int64.self, what))
        case .float32: return .float32(Float(bitPattern: try reader.integer(UInt32.self, what)))
        case .float64: return .float64(Double(bitPattern: try reader.integer(UInt64.self, what)))
        case .bool: return .bool(try readBool(key: key, reader: &reader))
        case .string: return .string(try reader.string(cap: limits.maxStringBytes, what))
        case .array: return .array(try readArray(key: key, depth: depth, reader: &reader, limits: limits))
        }
    }

    static func readBool(key: String, reader: inout GGUFByteReader) throws(GGUFError) -> Bool {
        let byte = try reader.integer(UInt8.self, "a bool of metadata key '\(key)'")
        guard byte <= 1 else {
            throw GGUFError(.corrupt, "\(reader.fileName): metadata key '\(key)' holds a bool of \(byte) (0 or 1 allowed): the model file is corrupt")
        }
        return byte == 1
    }

    static func readArray(key: String, depth: Int, reader: inout GGUFByteReader, limits: Limits) throws(GGUFError) -> GGUFArray {
        let fileName = reader.fileName
        guard depth < limits.maxArrayNesting else {
            throw GGUFError(.corrupt, "\(fileName): metadata key '\(key)' nests arrays more than \(limits.maxArrayNesting) deep: the model file is corrupt")
        }
        let typeCode = try reader.u32("the element type of metadata array '\(key)'")
        guard let type = GGUFValueType(rawValue: typeCode) else {
            throw GGUFError(.corrupt, "\(fileName): metadata array '\(key)' has element type \(typeCode), not a GGUF type (0–12): the model file is corrupt")
        }
        let count = try reader.u64("the length of metadata array '\(key)'")
        guard count <= UInt64(limits.maxArrayElements) else {
            throw GGUFError(.corrupt, "\(fileName): metadata array '\(key)' claims \(count) elements, more than the cap of \(limits.maxArrayElements): the model file is corrupt")
        }
        guard count <= UInt64(reader.remaining / type.minimumEncodedSize) else {
            throw GGUFError(.corrupt, "\(fileName): metadata array '\(key)' claims \(count) \(type) elements, which cannot fit in the \(reader.remaining) bytes left: the model file is truncated or corrupt")
        }
        let n = Int(count)
        func fixed<T: FixedWidthInteger>(_: T.Type) throws(GGUFError) -> [T] {
            let raw = try reader.take(n * MemoryLayout<T>.size, "the elements of metadata array '\(key)'")
            return (0..<n).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
        }
        switch type {
        case .uint8: return .uint8(try fixed(UInt8.self))
        case .int8: return .int8(try fixed(Int8.self))
        case .uint16: return .uint16(try fixed(UInt16.self))
        case .int16: return .int16(try fixed(Int16.self))
        case .uint32: return .uint32(try fixed(UInt32.self))
        case .int32: return .int32(try fixed(Int32.self))
        case .uint64: return .uint64(try fixed(UInt64.self))
        case .int64: return .int64(try fixed(Int64.self))
        case .float32: return .float32(try fixed(UInt32.self).map { Float(bitPattern: $0) })
        case .float64: return .float64(try fixed(UInt64.self).map { Double(bitPattern: $0) })
        case .bool:
            var out: [Bool] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try readBool(key: key, reader: &reader)) }
            return .bool(out)
        case .string:
            var out: [String] = []
            out.reserveCapacity(n)
            for index in 0..<n {
                out.append(try reader.string(cap: limits.maxStringBytes, "element \(index) of metadata array '\(key)'"))
            }
            return .string(out)
        case .array:
            var out: [GGUFArray] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try readArray(key: key, depth: depth + 1, reader: &reader, limits: limits)) }
            return .array(out)
        }
    }
}
