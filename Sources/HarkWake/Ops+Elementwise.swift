#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Element-wise float operators. Each operation is a type so the loops below are specialised per
/// operation (no closure call per element).
protocol BinaryFloatOp { static func apply(_ a: Float, _ b: Float) -> Float }
enum AddOp: BinaryFloatOp { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a + b } }
enum SubOp: BinaryFloatOp { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a - b } }
enum MulOp: BinaryFloatOp { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a * b } }
enum DivOp: BinaryFloatOp { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a / b } }
/// ONNX `Max` propagates NaN like numpy's maximum.
enum MaxOp: BinaryFloatOp { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a.isNaN || b.isNaN ? .nan : (a > b ? a : b) } }
enum PowOp: BinaryFloatOp { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { powf(a, b) } }
enum SquareOp: BinaryFloatOp { @inline(__always) static func apply(_ a: Float, _ b: Float) -> Float { a * a } }

protocol UnaryFloatOp { static func apply(_ x: Float, _ p: Float) -> Float }
enum ReluOp: UnaryFloatOp { @inline(__always) static func apply(_ x: Float, _ p: Float) -> Float { x > 0 ? x : 0 } }
enum LeakyReluOp: UnaryFloatOp { @inline(__always) static func apply(_ x: Float, _ p: Float) -> Float { x >= 0 ? x : x * p } }
enum SigmoidOp: UnaryFloatOp { @inline(__always) static func apply(_ x: Float, _ p: Float) -> Float { 1 / (1 + expf(-x)) } }
enum LogOp: UnaryFloatOp { @inline(__always) static func apply(_ x: Float, _ p: Float) -> Float { logf(x) } }
enum SqrtOp: UnaryFloatOp { @inline(__always) static func apply(_ x: Float, _ p: Float) -> Float { sqrtf(x) } }

/// How one operand of a broadcasting operator is read.
private enum Operand {
    case same           // same element count and layout as the output
    case scalar         // one element
    case mapped([Int32]) // through an index map
}

extension Ops {
    private static func operand(_ x: OnnxValue, to shape: [Int]) throws(OpError) -> Operand {
        if x.count == 1 { return .scalar }
        if x.shape.drop(while: { $0 == 1 }) == shape.drop(while: { $0 == 1 }) { return .same }
        return .mapped(try broadcastMap(from: x.shape, to: shape))
    }

    static func binary<Op: BinaryFloatOp>(_ c: OpContext, _: Op.Type) throws(OpError) -> Planned {
        try c.allowOnly([])
        try c.requireInputs(2...2)
        let a = try c.floatInput(0), b = try c.floatInput(1)
        return try binary(a, b, Op.self)
    }

    static func binary<Op: BinaryFloatOp>(_ a: OnnxValue, _ b: OnnxValue, _: Op.Type) throws(OpError) -> Planned {
        let shape = try broadcastShape(a.shape, b.shape)
        let out = try OnnxValue.checked(type: .float32, shape: shape)
        let n = out.count
        let ma = try operand(a, to: shape), mb = try operand(b, to: shape)
        let kernel: () -> Void
        var tail: (() -> Void)?
        // Sliding: an operand with the sliding axis, the other a scalar or sliding the same way.
        if let slide = a.slide ?? b.slide, a.count == n || a.count == 1, b.count == n || b.count == 1,
           (a.count == 1 || a.slide == slide), (b.count == 1 || b.slide == slide) {
            out.slide = slide
            let sa = a.count == 1 ? 0 : 1, sb = b.count == 1 ? 0 : 1
            tail = {
                out.shiftRows()
                let x = a.f, y = b.f, o = out.f
                out.forEachNewRange { start, count in
                    for k in start..<(start + count) { o[k] = Op.apply(x[k * sa], y[k * sb]) }
                }
            }
        }
        switch (ma, mb) {
        case (.same, .same):
            kernel = { let x = a.f, y = b.f, o = out.f; for k in 0..<n { o[k] = Op.apply(x[k], y[k]) } }
        case (.same, .scalar):
            kernel = { let x = a.f, y = b.f[0], o = out.f; for k in 0..<n { o[k] = Op.apply(x[k], y) } }
        case (.scalar, .same):
            kernel = { let x = a.f[0], y = b.f, o = out.f; for k in 0..<n { o[k] = Op.apply(x, y[k]) } }
        default:
            func index(_ m: Operand) -> [Int32] {
                switch m {
                case .same: (0..<Int32(n)).map { $0 }
                case .scalar: [Int32](repeating: 0, count: n)
                case .mapped(let map): map
                }
            }
            let ia = index(ma), ib = index(mb)
            kernel = {
                let x = a.f, y = b.f, o = out.f
                for k in 0..<n { o[k] = Op.apply(x[Int(ia[k])], y[Int(ib[k])]) }
            }
        }
        return Planned([out], kernel: kernel, tail: tail)
    }

    /// `Pow` with a constant exponent of 2 (how the melspectrogram and layer norms square) is a multiply.
    static func power(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly([])
        let a = try c.floatInput(0), b = try c.floatInput(1)
        if b.isConstant, b.count == 1, b.f[0] == 2 {
            return try binary(a, b, SquareOp.self)
        }
        return try binary(a, b, PowOp.self)
    }

    static func maximum(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly([])
        switch c.inputs.count {
        case 1: return try reshape(c, to: c.floatInput(0).shape)
        case 2: return try binary(c.floatInput(0), c.floatInput(1), MaxOp.self)
        default: throw OpError(.unsupportedModel, "Max of \(c.inputs.count) inputs is not supported (Hark takes 1 or 2)")
        }
    }

    static func greaterOrEqual(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly([])
        let a = try c.floatInput(0), b = try c.floatInput(1)
        let shape = try broadcastShape(a.shape, b.shape)
        let ia = try broadcastMap(from: a.shape, to: shape), ib = try broadcastMap(from: b.shape, to: shape)
        let out = try OnnxValue.checked(type: .bool, shape: shape)
        return Planned([out], kernel: {
            for k in 0..<out.count { out.i[k] = a.f[Int(ia[k])] >= b.f[Int(ib[k])] ? 1 : 0 }
        })
    }

    static func unary<Op: UnaryFloatOp>(_ c: OpContext, _: Op.Type, parameter: Float) throws(OpError) -> Planned {
        try c.allowOnly(c.op == "LeakyRelu" ? ["alpha"] : [])
        try c.requireInputs(1...1)
        let x = try c.floatInput(0)
        let out = try OnnxValue.checked(type: .float32, shape: x.shape)
        let n = x.count
        out.slide = x.slide
        return Planned([out], kernel: {
            let src = x.f, dst = out.f
            for k in 0..<n { dst[k] = Op.apply(src[k], parameter) }
        }, tail: x.slide == nil ? nil : {
            out.shiftRows()
            let src = x.f, dst = out.f
            out.forEachNewRange { start, count in
                for k in start..<(start + count) { dst[k] = Op.apply(src[k], parameter) }
            }
        })
    }

    /// `Clip` (opset ≥ 11): bounds are optional scalar inputs, read at run time since the
    /// melspectrogram model computes its lower bound from the data (max - 80 dB).
    static func clip(_ c: OpContext) throws(OpError) -> Planned {
        try c.allowOnly([])
        let x = try c.floatInput(0)
        let low = c.optionalInput(1), high = c.optionalInput(2)
        for bound in [low, high] {
            if let bound, bound.count != 1 || !bound.type.isFloat {
                throw OpError(.invalidGraph, "bounds must be float scalars, got \(bound.type)\(describe(bound.shape))")
            }
        }
        let out = try OnnxValue.checked(type: .float32, shape: x.shape)
        let n = x.count
        return Planned([out], kernel: {
            let lo = low?.f[0] ?? -.infinity, hi = high?.f[0] ?? .infinity
            let src = x.f, dst = out.f
            for k in 0..<n { dst[k] = min(max(src[k], lo), hi) }
        })
    }

    /// `ReduceMax` / `ReduceMean` with axes as an attribute (opsets 11–17).
    static func reduce(_ c: OpContext, mean: Bool) throws(OpError) -> Planned {
        try c.allowOnly(["axes", "keepdims"])
        let x = try c.floatInput(0)
        guard x.count > 0 else { throw OpError(.shapeMismatch, "cannot reduce an empty tensor") }
        var axes: [Int] = []
        for a in try c.ints("axes") ?? Array(0..<x.rank) { axes.append(try normalizedAxis(a, rank: x.rank)) }
        let keep = try c.int("keepdims", default: 1) != 0
        let kept = x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        let shape = keep ? kept : x.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        let out = try OnnxValue.checked(type: .float32, shape: shape)
        let outStrides = strides(of: kept)
        var map: [Int32] = []
        try forEachIndex(x.shape) { index throws(OpError) in
            var k = 0
            for d in 0..<x.rank where !axes.contains(d) { k += index[d] * outStrides[d] }
            map.append(Int32(k))
        }
        let reduced = Float(x.count / out.count)
        return Planned([out], kernel: {
            let src = x.f, dst = out.f
            for k in 0..<out.count { dst[k] = mean ? 0 : -.infinity }
            if mean {
                for k in 0..<x.count { dst[Int(map[k])] += src[k] }
                for k in 0..<out.count { dst[k] /= reduced }
            } else {
                for k in 0..<x.count { dst[Int(map[k])] = max(dst[Int(map[k])], src[k]) }
            }
        })
    }
}
