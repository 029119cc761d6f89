/// A GGUF file's key-value metadata, in file order, with typed accessors that throw a `GGUFError`
/// naming the file and the key when a required key is missing or holds another type.
///
/// Each accessor has a required form (`string("general.architecture")`) and an optional one
/// (`string(ifPresent: "general.name")`: nil when absent, still an error when of the wrong type).
public struct GGUFMetadata: Sendable {
    /// The file's path, used in every message.
    public let fileName: String
    /// The keys in the order the file lists them.
    public let keys: [String]
    private let values: [String: GGUFValue]

    init(fileName: String, keys: [String], values: [String: GGUFValue]) {
        self.fileName = fileName
        self.keys = keys
        self.values = values
    }

    public var count: Int { keys.count }
    public subscript(key: String) -> GGUFValue? { values[key] }
    public func contains(_ key: String) -> Bool { values[key] != nil }

    // MARK: Required values

    public func value(_ key: String) throws(GGUFError) -> GGUFValue {
        guard let value = values[key] else {
            throw GGUFError(.missingKey, "\(fileName): metadata key '\(key)' is missing: the model file lacks a value Hark needs")
        }
        return value
    }

    public func string(_ key: String) throws(GGUFError) -> String {
        let value = try value(key)
        guard case .string(let s) = value else { throw wrongType(key, value, expected: "a string") }
        return s
    }

    /// An integer of any stored width, as `T`, when it fits `T` exactly.
    public func integer<T: FixedWidthInteger>(_ key: String, as type: T.Type = Int.self) throws(GGUFError) -> T {
        let value = try value(key)
        guard let v = value.integer(as: T.self) else {
            throw wrongType(key, value, expected: "an integer that fits \(T.self)")
        }
        return v
    }

    /// A float32 or float64 value, as `Double`.
    public func float(_ key: String) throws(GGUFError) -> Double {
        let value = try value(key)
        switch value {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: throw wrongType(key, value, expected: "a float")
        }
    }

    public func bool(_ key: String) throws(GGUFError) -> Bool {
        let value = try value(key)
        guard case .bool(let b) = value else { throw wrongType(key, value, expected: "a bool") }
        return b
    }

    public func array(_ key: String) throws(GGUFError) -> GGUFArray {
        let value = try value(key)
        guard case .array(let a) = value else { throw wrongType(key, value, expected: "an array") }
        return a
    }

    /// An array of strings (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`).
    public func strings(_ key: String) throws(GGUFError) -> [String] {
        let array = try array(key)
        guard case .string(let s) = array else { throw wrongType(key, .array(array), expected: "an array of strings") }
        return s
    }

    /// An array of integers of any stored width (`tokenizer.ggml.token_type`), each as `T` when it
    /// fits exactly.
    public func integers<T: FixedWidthInteger>(_ key: String, as type: T.Type = Int.self) throws(GGUFError) -> [T] {
        let array = try array(key)
        var misfit: Int?
        guard let values = array.integers(as: T.self, firstMisfit: &misfit) else {
            if let misfit {
                throw GGUFError(.wrongType, "\(fileName): element \(misfit) of metadata array '\(key)' does not fit \(T.self): the model file is corrupt")
            }
            throw wrongType(key, .array(array), expected: "an array of integers")
        }
        return values
    }

    /// An array of float32 (or float64, narrowed) values (`tokenizer.ggml.scores`).
    public func floats(_ key: String) throws(GGUFError) -> [Float] {
        let array = try array(key)
        switch array {
        case .float32(let a): return a
        case .float64(let a): return a.map { Float($0) }
        default: throw wrongType(key, .array(array), expected: "an array of floats")
        }
    }

    // MARK: Optional values

    public func string(ifPresent key: String) throws(GGUFError) -> String? {
        contains(key) ? try string(key) : nil
    }

    public func integer<T: FixedWidthInteger>(ifPresent key: String, as type: T.Type = Int.self) throws(GGUFError) -> T? {
        contains(key) ? try integer(key, as: T.self) : nil
    }

    public func float(ifPresent key: String) throws(GGUFError) -> Double? {
        contains(key) ? try float(key) : nil
    }

    public func bool(ifPresent key: String) throws(GGUFError) -> Bool? {
        contains(key) ? try bool(key) : nil
    }

    public func strings(ifPresent key: String) throws(GGUFError) -> [String]? {
        contains(key) ? try strings(key) : nil
    }

    public func integers<T: FixedWidthInteger>(ifPresent key: String, as type: T.Type = Int.self) throws(GGUFError) -> [T]? {
        contains(key) ? try integers(key, as: T.self) : nil
    }

    public func floats(ifPresent key: String) throws(GGUFError) -> [Float]? {
        contains(key) ? try floats(key) : nil
    }

    // MARK: Well-known keys

    /// `general.architecture` (llama, qwen2moe, qwen3moe, olmoe, granitemoe, …).
    public func architecture() throws(GGUFError) -> String { try string("general.architecture") }

    /// `tokenizer.chat_template`, as text only: Hark never executes a template from a model file.
    public func chatTemplate() throws(GGUFError) -> String? { try string(ifPresent: "tokenizer.chat_template") }

    private func wrongType(_ key: String, _ value: GGUFValue, expected: String) -> GGUFError {
        GGUFError(.wrongType, "\(fileName): metadata key '\(key)' holds \(value), expected \(expected): the model file is not one Hark reads")
    }
}
