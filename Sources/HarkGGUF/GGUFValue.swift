/// The type of a metadata value (ggml `gguf.h`, `enum gguf_type`; stored as `uint32`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes one value of this type takes at least in a file: its size, or for a string its 8-byte
    /// length, or for an array its 4-byte element type and 8-byte count.
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }

    public var description: String {
        switch self {
        case .uint8: "uint8"
        case .int8: "int8"
        case .uint16: "uint16"
        case .int16: "int16"
        case .uint32: "uint32"
        case .int32: "int32"
        case .float32: "float32"
        case .bool: "bool"
        case .string: "string"
        case .array: "array"
        case .uint64: "uint64"
        case .int64: "int64"
        case .float64: "float64"
        }
    }
}

/// One metadata value, as stored.
public enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64)
    case float32(Float), float64(Double)
    case bool(Bool)
    case string(String)
    case array(GGUFArray)

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float32: .float32
        case .float64: .float64
        case .bool: .bool
        case .string: .string
        case .array: .array
        }
    }

    /// The value as `T` when it is an integer of any width that `T` holds exactly; else nil.
    public func integer<T: FixedWidthInteger>(as: T.Type = Int.self) -> T? {
        switch self {
        case .uint8(let v): T(exactly: v)
        case .int8(let v): T(exactly: v)
        case .uint16(let v): T(exactly: v)
        case .int16(let v): T(exactly: v)
        case .uint32(let v): T(exactly: v)
        case .int32(let v): T(exactly: v)
        case .uint64(let v): T(exactly: v)
        case .int64(let v): T(exactly: v)
        default: nil
        }
    }

    /// A short description for messages: the type and the value, a string cut at 40 characters, an
    /// array as its element type and count.
    public var description: String {
        switch self {
        case .uint8(let v): "uint8 \(v)"
        case .int8(let v): "int8 \(v)"
        case .uint16(let v): "uint16 \(v)"
        case .int16(let v): "int16 \(v)"
        case .uint32(let v): "uint32 \(v)"
        case .int32(let v): "int32 \(v)"
        case .uint64(let v): "uint64 \(v)"
        case .int64(let v): "int64 \(v)"
        case .float32(let v): "float32 \(v)"
        case .float64(let v): "float64 \(v)"
        case .bool(let v): "bool \(v)"
        case .string(let v): v.count <= 40 ? "string \(v.debugDescription)" : "string of \(v.utf8.count) bytes"
        case .array(let a): "\(a)"
        }
    }
}

/// A metadata array: its elements in one typed Swift array (arrays of arrays nest).
public enum GGUFArray: Sendable, Equatable, CustomStringConvertible {
    case uint8([UInt8]), int8([Int8]), uint16([UInt16]), int16([Int16]), uint32([UInt32]), int32([Int32])
    case uint64([UInt64]), int64([Int64])
    case float32([Float]), float64([Double])
    case bool([Bool])
    case string([String])
    case array([GGUFArray])

    public var elementType: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float32: .float32
        case .float64: .float64
        case .bool: .bool
        case .string: .string
        case .array: .array
        }
    }

    public var count: Int {
        switch self {
        case .uint8(let a): a.count
        case .int8(let a): a.count
        case .uint16(let a): a.count
        case .int16(let a): a.count
        case .uint32(let a): a.count
        case .int32(let a): a.count
        case .uint64(let a): a.count
        case .int64(let a): a.count
        case .float32(let a): a.count
        case .float64(let a): a.count
        case .bool(let a): a.count
        case .string(let a): a.count
        case .array(let a): a.count
        }
    }

    /// Every element as `T` when the array holds integers of any width and each fits `T` exactly;
    /// else nil. On failure `firstMisfit` is the index of the first element that does not fit.
    func integers<T: FixedWidthInteger>(as: T.Type, firstMisfit: inout Int?) -> [T]? {
        // Fast paths (the generic conversion below is not specialised across modules and costs
        // microseconds per element): the stored type itself, and Int from the narrower types.
        switch self {
        case .uint8(let a as [T]), .int8(let a as [T]), .uint16(let a as [T]), .int16(let a as [T]),
             .uint32(let a as [T]), .int32(let a as [T]), .uint64(let a as [T]), .int64(let a as [T]):
            return a
        default: break
        }
        if T.self == Int.self {
            switch self {
            case .uint8(let a): return a.map { Int($0) } as? [T]
            case .int8(let a): return a.map { Int($0) } as? [T]
            case .uint16(let a): return a.map { Int($0) } as? [T]
            case .int16(let a): return a.map { Int($0) } as? [T]
            case .uint32(let a): return a.map { Int($0) } as? [T]
            case .int32(let a): return a.map { Int($0) } as? [T]
            case .int64(let a): return a.map { Int($0) } as? [T]
            default: break
            }
        }
        func convert<S: BinaryInteger>(_ values: [S]) -> [T]? {
            var out: [T] = []
            out.reserveCapacity(values.count)
            for (index, value) in values.enumerated() {
                guard let v = T(exactly: value) else { firstMisfit = index; return nil }
                out.append(v)
            }
            return out
        }
        switch self {
        case .uint8(let a): return convert(a)
        case .int8(let a): return convert(a)
        case .uint16(let a): return convert(a)
        case .int16(let a): return convert(a)
        case .uint32(let a): return convert(a)
        case .int32(let a): return convert(a)
        case .uint64(let a): return convert(a)
        case .int64(let a): return convert(a)
        default: return nil
        }
    }

    public var description: String { "array of \(count) \(elementType)" }
}
