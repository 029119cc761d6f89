import HarkGGUF
import HarkKernels

/// Tensors of a GGUF file as the kernels take them: matrices over the file's memory map (no copy) and
/// float vectors. Every lookup names the file and tensor when something does not fit.
struct ModelWeights: Sendable {
    let file: GGUFFile

    /// The kernel format of a GGUF tensor type, or an error naming the tensor.
    static func kernelType(_ type: GGMLType, tensor: String, file: String) throws(LLMError) -> QuantType {
        switch type {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        case .q4_K: return .q4_K
        case .q5_K: return .q5_K
        case .q6_K: return .q6_K
        default:
            throw LLMError(.unsupportedModel,
                           "\(file): tensor '\(tensor)' is \(type), which Hark cannot compute (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K)")
        }
    }

    func tensor(_ name: String) throws(LLMError) -> GGUFTensor {
        guard let t = file.tensor(named: name) else {
            throw LLMError(.corruptModel, "\(file.fileName): tensor '\(name)' is missing")
        }
        return t
    }

    func optionalTensor(_ name: String) -> GGUFTensor? { file.tensor(named: name) }

    /// A 2-D tensor [ne0 = columns, ne1 = rows] as a matrix.
    func matrix(_ name: String) throws(LLMError) -> QuantMatrix {
        try matrix(tensor(name))
    }

    func matrix(_ t: GGUFTensor) throws(LLMError) -> QuantMatrix {
        if t.dimensions.count == 1 {
            // A vector [ne0] is a matrix of one row (qwen2moe's shared-expert gate).
            let type = try Self.kernelType(t.type, tensor: t.name, file: file.fileName)
            return QuantMatrix(type: type, rows: 1, columns: t.dimensions[0], base: file.tensorData(t).baseAddress!)
        }
        guard t.dimensions.count == 2 || (t.dimensions.count > 2 && t.dimensions[2...].allSatisfy { $0 == 1 }) else {
            throw LLMError(.corruptModel, "\(file.fileName): tensor '\(t.name)' has dimensions \(t.dimensions), expected a matrix")
        }
        let type = try Self.kernelType(t.type, tensor: t.name, file: file.fileName)
        return QuantMatrix(type: type, rows: t.dimensions[1], columns: t.dimensions[0], base: file.tensorData(t).baseAddress!)
    }

    /// A 3-D expert tensor [ne0 = columns, ne1 = rows, ne2 = experts] as one matrix per expert.
    func expertMatrices(_ name: String) throws(LLMError) -> [QuantMatrix] {
        let t = try tensor(name)
        guard t.dimensions.count == 3 else {
            throw LLMError(.corruptModel, "\(file.fileName): tensor '\(t.name)' has dimensions \(t.dimensions), expected [columns, rows, experts]")
        }
        let type = try Self.kernelType(t.type, tensor: t.name, file: file.fileName)
        let base = file.tensorData(t).baseAddress!
        let (columns, rows) = (t.dimensions[0], t.dimensions[1])
        let stride = rows * type.rowBytes(columns)
        return (0..<t.dimensions[2]).map { QuantMatrix(type: type, rows: rows, columns: columns, base: base + $0 * stride) }
    }

    /// A float32 vector (norm weights, biases) of `count` values.
    func vector(_ name: String, count: Int) throws(LLMError) -> UnsafePointer<Float> {
        let t = try tensor(name)
        guard t.type == .f32, t.elementCount == count else {
            throw LLMError(.unsupportedModel,
                           "\(file.fileName): tensor '\(name)' is \(t.type) \(t.dimensions), expected F32 [\(count)]")
        }
        return file.tensorData(t).baseAddress!.assumingMemoryBound(to: Float.self)
    }

    func optionalVector(_ name: String, count: Int) throws(LLMError) -> UnsafePointer<Float>? {
        optionalTensor(name) == nil ? nil : try vector(name, count: count)
    }
}
