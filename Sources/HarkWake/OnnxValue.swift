#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Element types the wake-word models use. Integers (int32/int64) and booleans are stored as Int64.
enum ElementType: Equatable, CustomStringConvertible {
    case float32, int64, int32, bool

    /// ONNX `TensorProto.DataType` numbers (onnx.proto: FLOAT = 1, INT32 = 6, INT64 = 7, BOOL = 9).
    init?(onnx code: Int) {
        switch code {
        case 1: self = .float32
        case 6: self = .int32
        case 7: self = .int64
        case 9: self = .bool
        default: return nil
        }
    }

    var isFloat: Bool { self == .float32 }

    var description: String {
        switch self {
        case .float32: "float32"
        case .int64: "int64"
        case .int32: "int32"
        case .bool: "bool"
        }
    }
}

/// Memory for one tensor, allocated once when a plan is built and shared by views (Reshape, Squeeze…).
final class TensorStorage {
    let floats: UnsafeMutableBufferPointer<Float>
    let ints: UnsafeMutableBufferPointer<Int64>

    init(type: ElementType, count: Int) {
        if type.isFloat {
            floats = .allocate(capacity: max(count, 1))
            floats.initialize(repeating: 0)
            ints = .allocate(capacity: 0)
        } else {
            floats = .allocate(capacity: 0)
            ints = .allocate(capacity: max(count, 1))
            ints.initialize(repeating: 0)
        }
    }

    deinit {
        floats.deallocate()
        ints.deallocate()
    }
}

/// A tensor of fixed type and shape inside a plan. A constant's contents are known when the plan is built;
/// any other value is rewritten by the plan's steps on every run.
final class OnnxValue {
    let type: ElementType
    let shape: [Int]
    let count: Int
    let storage: TensorStorage
    var isConstant: Bool
    /// Set when the plan slides over its input: along this axis, each run drops the oldest `step`
    /// rows and appends `step` new ones, and the other rows are the previous run's, moved up.
    var slide: Slide?

    init(type: ElementType, shape: [Int], constant: Bool = false) {
        self.type = type
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.storage = TensorStorage(type: type, count: count)
        self.isConstant = constant
    }

    /// A view of `base` with another shape (same element count), sharing its memory.
    init(viewOf base: OnnxValue, shape: [Int]) {
        self.type = base.type
        self.shape = shape
        self.count = base.count
        self.storage = base.storage
        self.isConstant = base.isConstant
    }

    var f: UnsafeMutablePointer<Float> { storage.floats.baseAddress! }
    var i: UnsafeMutablePointer<Int64> { storage.ints.baseAddress! }
    var rank: Int { shape.count }

    /// Element `k` as a Float whatever the type.
    func float(at k: Int) -> Float { type.isFloat ? f[k] : Float(i[k]) }
    /// Element `k` as an Int64 whatever the type.
    func int(at k: Int) -> Int64 { type.isFloat ? Int64(f[k]) : i[k] }

    /// All elements as integers: for shape-like inputs (axes, pads, shapes), which must be constants.
    func intValues(_ what: String) throws(OpError) -> [Int] {
        guard isConstant else {
            throw OpError(.unsupportedModel, "\(what) must be known when the model is loaded, but it is computed at run time")
        }
        guard !type.isFloat else { throw OpError(.invalidGraph, "\(what) must be an integer tensor, not \(type)") }
        return (0..<count).map { Int(i[$0]) }
    }
}

extension OnnxValue {
    /// A new value for an operator's output, after checking its shape against the planner's caps
    /// (a model's attributes or constants could otherwise ask for any size).
    static func checked(type: ElementType, shape: [Int]) throws(OpError) -> OnnxValue {
        _ = try elementCount(shape)
        return OnnxValue(type: type, shape: shape)
    }
}

/// The number of elements of `shape`, or an error if a dimension is negative or the count is too large.
func elementCount(_ shape: [Int]) throws(OpError) -> Int {
    var count = 1
    for d in shape {
        guard d >= 0 else { throw OpError(.shapeMismatch, "negative dimension in \(describe(shape))") }
        let (product, overflow) = count.multipliedReportingOverflow(by: d)
        guard !overflow, product <= Planner.maxElements else {
            throw OpError(.unsupportedModel, "shape \(describe(shape)) has more elements than Hark allows (\(Planner.maxElements))")
        }
        count = product
    }
    return count
}

/// A sliding axis: each incremental run moves the rows along `axis` up by `step`.
struct Slide: Equatable {
    let axis: Int
    let step: Int
}

extension OnnxValue {
    /// (outer, rows, inner): the value as [outer][rows][inner] around its sliding axis.
    var slideGeometry: (outer: Int, rows: Int, inner: Int)? {
        guard let slide else { return nil }
        return (shape[..<slide.axis].reduce(1, *), shape[slide.axis], shape[(slide.axis + 1)...].reduce(1, *))
    }

    /// Drops the oldest `step` rows of every outer slice and moves the rest up, leaving the last
    /// `step` rows to be computed.
    func shiftRows() {
        guard let slide, let (outer, rows, inner) = slideGeometry, slide.step < rows else { return }
        for o in 0..<outer {
            let base = f + o * rows * inner
            memmove(base, base + slide.step * inner, (rows - slide.step) * inner * MemoryLayout<Float>.stride)
        }
    }

    /// Calls `body(start, count)` for the flat element range of the newest `step` rows of each outer slice.
    func forEachNewRange(_ body: (Int, Int) -> Void) {
        guard let slide, let (outer, rows, inner) = slideGeometry else { return }
        let step = min(slide.step, rows)
        for o in 0..<outer { body((o * rows + rows - step) * inner, step * inner) }
    }
}

/// Row-major strides of a shape.
func strides(of shape: [Int]) -> [Int] {
    var result = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
        result[d] = acc
        acc *= shape[d]
    }
    return result
}

/// Normalises a possibly negative axis against a rank, or explains why it is out of range.
func normalizedAxis(_ axis: Int, rank: Int, _ what: String = "axis") throws(OpError) -> Int {
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0, a < rank else { throw OpError(.invalidGraph, "\(what) \(axis) is out of range for rank \(rank)") }
    return a
}

func describe(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ",") + "]" }
