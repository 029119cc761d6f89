/// One node's inputs and attributes, with checked accessors.
struct OpContext {
    let node: Onnx_NodeProto
    let inputs: [OnnxValue?]
    let opset: Int
    let scratch: Scratch
    private let attributes: [String: Onnx_AttributeProto]

    init(node: Onnx_NodeProto, inputs: [OnnxValue?], opset: Int, scratch: Scratch) throws(OpError) {
        self.node = node
        self.inputs = inputs
        self.opset = opset
        self.scratch = scratch
        var attributes: [String: Onnx_AttributeProto] = [:]
        for attribute in node.attribute {
            guard attributes[attribute.name] == nil else { throw OpError(.invalidGraph, "attribute '\(attribute.name)' appears twice") }
            attributes[attribute.name] = attribute
        }
        self.attributes = attributes
    }

    var op: String { node.opType }

    func input(_ k: Int) throws(OpError) -> OnnxValue {
        guard k < inputs.count, let value = inputs[k] else { throw OpError(.invalidGraph, "input \(k) is missing") }
        return value
    }

    func optionalInput(_ k: Int) -> OnnxValue? { k < inputs.count ? inputs[k] : nil }

    func floatInput(_ k: Int) throws(OpError) -> OnnxValue {
        let value = try input(k)
        guard value.type.isFloat else { throw OpError(.unsupportedModel, "input \(k) is \(value.type); Hark runs this operator on float32 only") }
        return value
    }

    func requireInputs(_ range: ClosedRange<Int>) throws(OpError) {
        guard range.contains(inputs.count) else {
            throw OpError(.invalidGraph, "has \(inputs.count) inputs, expected \(range.lowerBound == range.upperBound ? "\(range.lowerBound)" : "\(range.lowerBound) to \(range.upperBound)")")
        }
    }

    func has(_ name: String) -> Bool { attributes[name] != nil }

    func int(_ name: String, default value: Int? = nil) throws(OpError) -> Int {
        guard let attribute = attributes[name] else {
            guard let value else { throw OpError(.invalidGraph, "attribute '\(name)' is missing") }
            return value
        }
        guard attribute.type == .int else { throw OpError(.invalidGraph, "attribute '\(name)' should be an int") }
        guard attribute.i >= Int64(Int32.min), attribute.i <= Int64(Int32.max) else {
            throw OpError(.invalidGraph, "attribute '\(name)' = \(attribute.i) is out of range")
        }
        return Int(attribute.i)
    }

    func float(_ name: String, default value: Float) throws(OpError) -> Float {
        guard let attribute = attributes[name] else { return value }
        guard attribute.type == .float else { throw OpError(.invalidGraph, "attribute '\(name)' should be a float") }
        return attribute.f
    }

    func ints(_ name: String) throws(OpError) -> [Int]? {
        guard let attribute = attributes[name] else { return nil }
        guard attribute.type == .ints else { throw OpError(.invalidGraph, "attribute '\(name)' should be a list of ints") }
        var result: [Int] = []
        for v in attribute.ints {
            guard v >= Int64(Int32.min), v <= Int64(Int32.max) else { throw OpError(.invalidGraph, "attribute '\(name)' holds \(v), out of range") }
            result.append(Int(v))
        }
        return result
    }

    func string(_ name: String) throws(OpError) -> String? {
        guard let attribute = attributes[name] else { return nil }
        guard attribute.type == .string else { throw OpError(.invalidGraph, "attribute '\(name)' should be a string") }
        return String(decoding: attribute.s, as: UTF8.self)
    }

    func tensor(_ name: String) throws(OpError) -> Onnx_TensorProto? {
        guard let attribute = attributes[name] else { return nil }
        guard attribute.type == .tensor else { throw OpError(.invalidGraph, "attribute '\(name)' should be a tensor") }
        return attribute.t
    }

    func graph(_ name: String) throws(OpError) -> Onnx_GraphProto {
        guard let attribute = attributes[name], attribute.type == .graph else {
            throw OpError(.invalidGraph, "attribute '\(name)' (a graph) is missing")
        }
        return attribute.g
    }

    /// Rejects attributes this operator does not implement (rather than silently ignoring them).
    func allowOnly(_ names: Set<String>) throws(OpError) {
        for name in attributes.keys where !names.contains(name) {
            throw OpError(.unsupportedModel, "attribute '\(name)' is not supported")
        }
    }
}
