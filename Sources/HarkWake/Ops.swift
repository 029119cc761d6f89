/// The ONNX operators Hark implements: exactly those used by openWakeWord's melspectrogram, embedding
/// and wake-word head models (including heads with LSTM layers and the verifier `If`). Semantics follow
/// the ONNX operator specification (https://onnx.ai/onnx/operators/) for opsets 11–17.
enum Ops {
    static let supported: [String] = [
        "Add", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "Conv", "Div", "Expand", "Flatten",
        "Gather", "Gemm", "GreaterOrEqual", "Identity", "If", "LSTM", "LeakyRelu", "Log", "MatMul", "Max",
        "MaxPool", "Mul", "Pad", "Pow", "ReduceMax", "ReduceMean", "Relu", "Reshape", "Shape", "Sigmoid",
        "Slice", "Sqrt", "Squeeze", "Sub", "Transpose", "Unsqueeze",
    ]

    static func plan(_ c: OpContext) throws(OpError) -> Planned {
        switch c.op {
        case "Constant": return try constant(c)
        case "Identity": return try reshape(c, to: c.input(0).shape)
        case "Shape": return try shape(c)
        case "Reshape": return try reshapeOp(c)
        case "Flatten": return try flatten(c)
        case "Squeeze": return try squeeze(c)
        case "Unsqueeze": return try unsqueeze(c)
        case "Transpose": return try transpose(c)
        case "Cast": return try cast(c)
        case "Gather": return try gather(c)
        case "Slice": return try slice(c)
        case "Concat": return try concat(c)
        case "Expand": return try expand(c)
        case "Pad": return try pad(c)
        case "Add": return try binary(c, AddOp.self)
        case "Sub": return try binary(c, SubOp.self)
        case "Mul": return try binary(c, MulOp.self)
        case "Div": return try binary(c, DivOp.self)
        case "Pow": return try power(c)
        case "Max": return try maximum(c)
        case "GreaterOrEqual": return try greaterOrEqual(c)
        case "Relu": return try unary(c, ReluOp.self, parameter: 0)
        case "LeakyRelu": return try unary(c, LeakyReluOp.self, parameter: c.float("alpha", default: 0.01))
        case "Sigmoid": return try unary(c, SigmoidOp.self, parameter: 0)
        case "Log": return try unary(c, LogOp.self, parameter: 0)
        case "Sqrt": return try unary(c, SqrtOp.self, parameter: 0)
        case "Clip": return try clip(c)
        case "ReduceMax": return try reduce(c, mean: false)
        case "ReduceMean": return try reduce(c, mean: true)
        case "MatMul": return try matMul(c)
        case "Gemm": return try gemm(c)
        case "Conv": return try conv(c)
        case "MaxPool": return try maxPool(c)
        case "BatchNormalization": return try batchNormalization(c)
        case "LSTM": return try lstm(c)
        default:
            throw OpError(.unsupportedOperator, "operator '\(c.op)' is not implemented by Hark (it runs: \(supported.joined(separator: ", ")))")
        }
    }
}
