#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SwiftProtobuf

/// An ONNX model file, read and checked as untrusted input.
///
/// ONNX files are protobuf `ModelProto` messages (onnx.proto, generated into `ONNX/onnx.pb.swift`):
///   1. `ir_version` and `opset_import` (domain "" = the standard operator set, with a version),
///   2. `graph`: `initializer` tensors (the weights), `input`/`output` value infos (name, element type,
///      shape with fixed or named dimensions), and `node`s in topological order, each with an `op_type`,
///      input and output value names and typed `attribute`s (a tensor, a subgraph for `If`, ints…).
/// Hark implements the operators that openWakeWord's models (and heads trained with its recipe) use.
/// Nothing here runs until `plan(inputShape:)` has checked every node against a concrete input shape.
public final class OnnxModel {
    /// The file's path (or name), used in every message.
    public let fileName: String
    /// The first graph input: its name and its shape (nil where the dimension is named, e.g. a batch size).
    public let inputName: String
    public let inputShape: [Int?]
    public let outputNames: [String]
    let graph: Onnx_GraphProto
    let opset: Int

    /// Largest model file accepted: openWakeWord's files are 0.5–2 MB.
    static let maxFileBytes = 64 << 20

    public convenience init(path: String) throws(WakeError) {
        try self.init(data: Self.read(path), fileName: path)
    }

    /// The whole file, read with POSIX calls so the message can carry the errno text.
    static func read(_ path: String) throws(WakeError) -> Data {
        func failure(_ what: String) -> WakeError {
            WakeError(.fileUnreadable, "\(path): cannot \(what) model file (\(String(cString: strerror(errno)))): run `make models` to fetch it")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("inspect") }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw WakeError(.fileUnreadable, "\(path): not a regular file")
        }
        let size = Int(info.st_size)
        guard size <= maxFileBytes else {
            throw WakeError(.fileUnreadable, "\(path): model file is \(size) bytes, larger than the \(maxFileBytes >> 20) MiB a wake-word model may be")
        }
        var data = Data(count: size)
        var done = 0
        let ok = data.withUnsafeMutableBytes { buffer -> Bool in
            while done < size {
                let n = Glibc.read(fd, buffer.baseAddress! + done, size - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                done += n
            }
            return true
        }
        guard ok else { throw failure("read") }
        return data
    }

    public init(data: Data, fileName: String) throws(WakeError) {
        self.fileName = fileName
        let model: Onnx_ModelProto
        do {
            model = try Onnx_ModelProto(serializedBytes: data)
        } catch {
            throw WakeError(.notOnnx, "\(fileName): not a valid ONNX model (\(error)): the file is truncated or corrupt")
        }
        guard model.hasGraph, !model.graph.node.isEmpty else {
            throw WakeError(.notOnnx, "\(fileName): not a valid ONNX model (no graph): the file is truncated or corrupt")
        }
        var opset: Int?
        for imp in model.opsetImport where imp.domain.isEmpty || imp.domain == "ai.onnx" {
            opset = Int(imp.version)
        }
        guard let opset else {
            throw WakeError(.unsupportedModel, "\(fileName): the model imports no standard ONNX operator set")
        }
        // Hark's operators follow opsets 11-17 (Squeeze/Unsqueeze take axes as an input from 13;
        // the Reduce operators take them as an attribute until 17).
        guard (11...17).contains(opset) else {
            throw WakeError(.unsupportedModel, "\(fileName): ONNX opset \(opset) is not supported (Hark runs opsets 11 to 17): export the model with opset 13")
        }
        self.opset = opset
        let graph = model.graph
        self.graph = graph
        let initializers = Set(graph.initializer.map(\.name))
        guard let input = graph.input.first(where: { !initializers.contains($0.name) }) else {
            throw WakeError(.invalidGraph, "\(fileName): the graph has no input")
        }
        guard input.type.tensorType.elemType == 1 else {
            throw WakeError(.unsupportedModel, "\(fileName): graph input '\(input.name)' is not float32")
        }
        self.inputName = input.name
        self.inputShape = input.type.tensorType.shape.dim.map { dim in
            if case .dimValue(let v) = dim.value, v > 0 { return Int(v) }
            return nil
        }
        self.outputNames = graph.output.map(\.name)
        guard !outputNames.isEmpty else { throw WakeError(.invalidGraph, "\(fileName): the graph has no output") }
    }

    /// Builds an executable plan for one concrete input shape: every node is checked, every shape
    /// computed, every buffer allocated, and everything that does not depend on the input folded.
    /// With `slidingAxis` and `slidingStep`, the plan can also run incrementally on an input that
    /// moves by `slidingStep` rows along that axis between runs (see `OnnxPlan.runIncremental`).
    public func plan(inputShape shape: [Int], slidingAxis: Int? = nil, slidingStep: Int = 0) throws(WakeError) -> OnnxPlan {
        guard shape.count == inputShape.count,
              zip(shape, inputShape).allSatisfy({ given, declared in given > 0 && (declared == nil || declared == given) }) else {
            let declared = inputShape.map { $0.map(String.init) ?? "?" }.joined(separator: ",")
            throw WakeError(.invalidArgument, "\(fileName): input shape \(describe(shape)) does not fit the model's input '\(inputName)' [\(declared)]")
        }
        var slide: Slide?
        if let axis = slidingAxis {
            guard axis >= 0, axis < shape.count, slidingStep > 0, slidingStep <= shape[axis] else {
                throw WakeError(.invalidArgument, "\(fileName): cannot slide \(slidingStep) rows along axis \(axis) of \(describe(shape))")
            }
            slide = Slide(axis: axis, step: slidingStep)
        }
        var planner = Planner(fileName: fileName, opset: opset)
        return try planner.plan(graph: graph, inputName: inputName, inputShape: shape, slide: slide)
    }

}

extension OnnxValue {
    /// Reads an initializer or `Constant` tensor, checking its type, dimensions and byte count.
    static func constant(from tensor: Onnx_TensorProto) throws(OpError) -> OnnxValue {
        guard tensor.dataLocation == .default else {
            throw OpError(.unsupportedModel, "tensor '\(tensor.name)' keeps its data in an external file, which Hark does not read")
        }
        guard let type = ElementType(onnx: Int(tensor.dataType)) else {
            throw OpError(.unsupportedModel, "tensor '\(tensor.name)' has data type \(tensor.dataType), which Hark does not support")
        }
        var shape: [Int] = []
        var count = 1
        for d in tensor.dims {
            guard d >= 0, d <= Int64(Planner.maxElements) else {
                throw OpError(.invalidGraph, "tensor '\(tensor.name)' has dimension \(d)")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(d))
            guard !overflow, product <= Planner.maxElements else {
                throw OpError(.invalidGraph, "tensor '\(tensor.name)' has \(tensor.dims) elements, more than Hark allows")
            }
            count = product
            shape.append(Int(d))
        }
        let value = OnnxValue(type: type, shape: shape, constant: true)
        let raw = tensor.rawData
        let width = type == .float32 || type == .int32 ? 4 : (type == .int64 ? 8 : 1)
        if !raw.isEmpty {
            guard raw.count == count * width else {
                throw OpError(.invalidGraph, "tensor '\(tensor.name)' \(describe(shape)) should hold \(count * width) bytes of \(type) but holds \(raw.count)")
            }
            // ONNX raw data is little-endian, as are the machines Hark runs on.
            raw.withUnsafeBytes { bytes in
                switch type {
                case .float32:
                    for k in 0..<count { value.f[k] = Float(bitPattern: bytes.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self)) }
                case .int32:
                    for k in 0..<count { value.i[k] = Int64(bytes.loadUnaligned(fromByteOffset: 4 * k, as: Int32.self)) }
                case .int64:
                    for k in 0..<count { value.i[k] = bytes.loadUnaligned(fromByteOffset: 8 * k, as: Int64.self) }
                case .bool:
                    for k in 0..<count { value.i[k] = bytes[k] == 0 ? 0 : 1 }
                }
            }
            return value
        }
        let available: Int
        switch type {
        case .float32: available = tensor.floatData.count
        case .int64: available = tensor.int64Data.count
        case .int32, .bool: available = tensor.int32Data.count
        }
        guard available == count else {
            throw OpError(.invalidGraph, "tensor '\(tensor.name)' \(describe(shape)) should hold \(count) values but holds \(available)")
        }
        for k in 0..<count {
            switch type {
            case .float32: value.f[k] = tensor.floatData[k]
            case .int64: value.i[k] = tensor.int64Data[k]
            case .int32: value.i[k] = Int64(tensor.int32Data[k])
            case .bool: value.i[k] = tensor.int32Data[k] == 0 ? 0 : 1
            }
        }
        return value
    }
}
