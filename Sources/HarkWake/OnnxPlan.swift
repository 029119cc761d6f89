/// A model bound to one input shape: buffers allocated once, constants folded, and a flat list of
/// steps that rewrite the buffers on every `run`. Not thread-safe: one owner runs it.
public final class OnnxPlan {
    public let fileName: String
    public let inputShape: [Int]
    let input: OnnxValue
    let outputs: [OnnxValue]
    let steps: [() -> Void]
    let incrementalSteps: [() -> Void]?

    init(fileName: String, input: OnnxValue, outputs: [OnnxValue], steps: [() -> Void], incrementalSteps: [() -> Void]?) {
        self.fileName = fileName
        self.inputShape = input.shape
        self.input = input
        self.outputs = outputs
        self.steps = steps
        self.incrementalSteps = incrementalSteps
    }

    /// Whether `runIncremental()` is available: the plan was built with a sliding axis and every
    /// operator on the way can compute just the newest rows.
    public var supportsIncremental: Bool { incrementalSteps != nil }

    /// Runs on an input that is the previous run's input moved by the sliding step along the sliding
    /// axis: each operator keeps its previous rows (moved) and computes only the newest ones.
    /// Only valid right after a `run()` or `runIncremental()` on the previous window.
    public func runIncremental() {
        guard let incrementalSteps else { return run() }
        for step in incrementalSteps { step() }
    }

    /// Number of input elements (the product of `inputShape`).
    public var inputCount: Int { input.count }
    /// The input buffer: write `inputCount` floats here, then call `run()`.
    public var inputBuffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: input.f, count: input.count) }

    /// Runs every step once.
    public func run() {
        for step in steps { step() }
    }

    /// Output `k` after `run()`: its shape and its floats (valid until the next run).
    public func output(_ k: Int = 0) -> (shape: [Int], values: UnsafeBufferPointer<Float>) {
        let value = outputs[k]
        return (value.shape, UnsafeBufferPointer(start: value.f, count: value.count))
    }

    /// Convenience for tests and one-off use: copies `input` in, runs, copies output 0 out.
    public func callAsFunction(_ values: [Float]) throws(WakeError) -> [Float] {
        guard values.count == input.count else {
            throw WakeError(.invalidArgument, "\(fileName): expected \(input.count) input values for shape \(describe(inputShape)), got \(values.count)")
        }
        for k in 0..<values.count { input.f[k] = values[k] }
        run()
        return Array(output().values)
    }
}

/// Names visible to a graph: its own values, then those of the graphs around it (for `If` branches).
final class Scope {
    private var values: [String: OnnxValue] = [:]
    private let parent: Scope?

    init(parent: Scope? = nil) { self.parent = parent }

    subscript(name: String) -> OnnxValue? {
        get { values[name] ?? parent?[name] }
        set { values[name] = newValue }
    }
}

/// Turns a graph into steps. Checks every node; folds every node whose inputs are all constants.
struct Planner {
    /// Caps on what an (untrusted) model may make us allocate.
    static let maxElements = 16 << 20
    static let maxTotalBytes = 256 << 20

    let fileName: String
    let opset: Int
    var allocatedBytes = 0
    /// Working memory shared by the plan's kernels (they run one after another), e.g. im2col columns.
    let scratch = Scratch()

    init(fileName: String, opset: Int) {
        self.fileName = fileName
        self.opset = opset
    }

    /// Kernels that compute only the newest rows, one per dynamic node; nil once a node has none.
    var incrementalSteps: [() -> Void]? = []

    mutating func plan(graph: Onnx_GraphProto, inputName: String, inputShape: [Int], slide: Slide? = nil) throws(WakeError) -> OnnxPlan {
        let scope = Scope()
        // The graph's initializers are read by plan(graph:scope:steps:); the input is not one of them.
        let input = OnnxValue(type: .float32, shape: inputShape)
        input.slide = slide
        if slide == nil { incrementalSteps = nil }
        scope[inputName] = input
        var steps: [() -> Void] = []
        let outputs = try plan(graph: graph, scope: scope, steps: &steps)
        for (value, info) in zip(outputs, graph.output) where !value.type.isFloat {
            throw WakeError(.unsupportedModel, "\(fileName): graph output '\(info.name)' is \(value.type), not float32")
        }
        return OnnxPlan(fileName: fileName, input: input, outputs: outputs, steps: steps, incrementalSteps: incrementalSteps)
    }

    /// Reads the initializers of `graph` not already in scope, plans its nodes into `steps` and returns
    /// its outputs.
    mutating func plan(graph: Onnx_GraphProto, scope: Scope, steps: inout [() -> Void]) throws(WakeError) -> [OnnxValue] {
        for tensor in graph.initializer where scope[tensor.name] == nil {
            do {
                scope[tensor.name] = try OnnxValue.constant(from: tensor)
            } catch {
                throw WakeError(error.code, "\(fileName): initializer '\(tensor.name)': \(error.message)")
            }
        }
        for (index, node) in graph.node.enumerated() {
            let label = "node '\(node.name.isEmpty ? "#\(index)" : node.name)' (\(node.opType))"
            do {
                try plan(node: node, scope: scope, steps: &steps)
            } catch let error as OpError {
                throw WakeError(error.code, "\(fileName): \(label): \(error.message)")
            } catch let error as WakeError {
                throw error
            } catch {
                throw WakeError(.invalidGraph, "\(fileName): \(label): \(error)")
            }
        }
        var outputs: [OnnxValue] = []
        for info in graph.output {
            guard let value = scope[info.name] else {
                throw WakeError(.invalidGraph, "\(fileName): graph output '\(info.name)' is not produced by any node")
            }
            outputs.append(value)
        }
        return outputs
    }

    private mutating func plan(node: Onnx_NodeProto, scope: Scope, steps: inout [() -> Void]) throws {
        guard node.domain.isEmpty || node.domain == "ai.onnx" else {
            throw OpError(.unsupportedOperator, "operator domain '\(node.domain)' is not supported")
        }
        var inputs: [OnnxValue?] = []
        for name in node.input {
            if name.isEmpty { inputs.append(nil); continue }
            guard let value = scope[name] else {
                throw OpError(.invalidGraph, "input '\(name)' is not produced by any earlier node, initializer or graph input")
            }
            inputs.append(value)
        }
        let context = try OpContext(node: node, inputs: inputs, opset: opset, scratch: scratch)
        let planned: Planned
        if node.opType == "If" {
            planned = try planIf(context, scope: scope, steps: &steps)
        } else {
            planned = try Ops.plan(context)
        }
        guard planned.outputs.count >= node.output.filter({ !$0.isEmpty }).count else {
            throw OpError(.invalidGraph, "node declares \(node.output.count) outputs but the operator makes \(planned.outputs.count)")
        }
        for value in planned.outputs where !value.isConstant || planned.kernel != nil {
            allocatedBytes += value.count * (value.type.isFloat ? 4 : 8)
        }
        guard allocatedBytes <= Self.maxTotalBytes else {
            throw OpError(.unsupportedModel, "the model needs more than \(Self.maxTotalBytes >> 20) MiB of working memory")
        }
        if let kernel = planned.kernel {
            if inputs.allSatisfy({ $0?.isConstant ?? true }) {
                kernel()
                for value in planned.outputs {
                    value.isConstant = true
                    value.slide = nil
                }
            } else {
                steps.append(kernel)
                if let tail = planned.tail {
                    incrementalSteps?.append(tail)
                } else {
                    incrementalSteps = nil
                }
            }
        }
        for (name, value) in zip(node.output, planned.outputs) where !name.isEmpty {
            scope[name] = value
        }
    }

    /// `If`: both branches are planned against the enclosing scope; at run time the condition picks one
    /// and its output is copied out. A condition known when planning keeps only the taken branch.
    private mutating func planIf(_ context: OpContext, scope: Scope, steps: inout [() -> Void]) throws -> Planned {
        let cond = try context.input(0)
        guard cond.count == 1 else { throw OpError(.invalidGraph, "condition has \(cond.count) elements, expected 1") }
        let thenGraph = try context.graph("then_branch")
        let elseGraph = try context.graph("else_branch")
        if cond.isConstant {
            // The branch's steps join the enclosing graph's; its outputs become the node's outputs.
            let outputs = try plan(graph: cond.int(at: 0) != 0 ? thenGraph : elseGraph, scope: Scope(parent: scope), steps: &steps)
            return Planned(outputs, kernel: nil)
        }
        incrementalSteps = nil
        var thenSteps: [() -> Void] = []
        var elseSteps: [() -> Void] = []
        let thenOutputs = try plan(graph: thenGraph, scope: Scope(parent: scope), steps: &thenSteps)
        let elseOutputs = try plan(graph: elseGraph, scope: Scope(parent: scope), steps: &elseSteps)
        guard thenOutputs.count == elseOutputs.count else {
            throw OpError(.invalidGraph, "branches have \(thenOutputs.count) and \(elseOutputs.count) outputs")
        }
        var outputs: [OnnxValue] = []
        for (a, b) in zip(thenOutputs, elseOutputs) {
            guard a.type == b.type, a.count == b.count else {
                throw OpError(.shapeMismatch, "branch outputs differ: \(a.type)\(describe(a.shape)) and \(b.type)\(describe(b.shape))")
            }
            outputs.append(OnnxValue(type: a.type, shape: a.shape))
        }
        return Planned(outputs, kernel: {
            if cond.int(at: 0) != 0 {
                for step in thenSteps { step() }
                for (from, to) in zip(thenOutputs, outputs) { copyElements(from, to) }
            } else {
                for step in elseSteps { step() }
                for (from, to) in zip(elseOutputs, outputs) { copyElements(from, to) }
            }
        })
    }
}

func copyElements(_ from: OnnxValue, _ to: OnnxValue) {
    if from.type.isFloat {
        to.f.update(from: from.f, count: from.count)
    } else {
        to.i.update(from: from.i, count: from.count)
    }
}

/// What planning one node produced: its output values and the kernel that computes them
/// (nil when the outputs are already final, e.g. views and `Shape`).
struct Planned {
    let outputs: [OnnxValue]
    let kernel: (() -> Void)?
    /// With a sliding input: the kernel that computes only the outputs' newest rows (after moving the
    /// older ones up). nil when the operator cannot, which makes the whole plan run in full.
    let tail: (() -> Void)?
    init(_ outputs: [OnnxValue], kernel: (() -> Void)?, tail: (() -> Void)? = nil) {
        self.outputs = outputs
        self.kernel = kernel
        self.tail = tail
    }
}

/// One growable float buffer shared by the kernels of a plan. Operators reserve what they need while
/// the plan is built; kernels read `pointer` when they run, after the last reservation.
final class Scratch {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    init() {
        capacity = 0
        pointer = .allocate(capacity: 1)
    }

    deinit { pointer.deallocate() }

    func reserve(_ count: Int) {
        guard count > capacity else { return }
        pointer.deallocate()
        pointer = .allocate(capacity: count)
        capacity = count
    }
}
