import Foundation
import Testing
import HarkTestSupport
@testable import HarkWake

/// Model files are untrusted input (DESIGN §7): any other operator, a shape mismatch, a truncated or
/// corrupt file gives a one-line WakeError naming the file (and the node), never a crash.
@Suite struct OnnxBadInputTests {
    /// A one-node graph `y = op(x)` with input shape [1, 4].
    func model(op: String, attributes: [Onnx_AttributeProto] = [], extraInputs: [String] = [], initializers: [Onnx_TensorProto] = []) -> Data {
        var node = Onnx_NodeProto()
        node.name = "the_node"
        node.opType = op
        node.input = ["x"] + extraInputs
        node.output = ["y"]
        node.attribute = attributes
        var graph = Onnx_GraphProto()
        graph.node = [node]
        graph.initializer = initializers
        var input = Onnx_ValueInfoProto()
        input.name = "x"
        input.type.tensorType.elemType = 1
        input.type.tensorType.shape.dim = [Int64(1), 4].map { var d = Onnx_TensorShapeProto.Dimension(); d.dimValue = $0; return d }
        var output = Onnx_ValueInfoProto()
        output.name = "y"
        graph.input = [input]
        graph.output = [output]
        var model = Onnx_ModelProto()
        model.irVersion = 7
        var opset = Onnx_OperatorSetIdProto()
        opset.version = 13
        model.opsetImport = [opset]
        model.graph = graph
        return try! model.serializedData()
    }

    func tensor(_ name: String, dims: [Int64], floats: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims
        t.dataType = 1
        t.floatData = floats
        return t
    }

    func error(_ data: Data, file: String = "test.onnx", shape: [Int] = [1, 4]) -> WakeError? {
        do {
            _ = try OnnxModel(data: data, fileName: file).plan(inputShape: shape)
            return nil
        } catch {
            return error
        }
    }

    @Test func aWellFormedModelRuns() throws {
        // The builder itself is sound: Relu runs.
        let plan = try OnnxModel(data: model(op: "Relu"), fileName: "relu.onnx").plan(inputShape: [1, 4])
        #expect(try plan([-1, 2, -3, 4]) == [0, 2, 0, 4])
    }

    @Test func unsupportedOperatorNamesFileNodeAndOperator() throws {
        let e = try #require(error(model(op: "FancyOp"), file: "custom_head.onnx"))
        #expect(e.code == .unsupportedOperator)
        #expect(e.message.hasPrefix("custom_head.onnx: node 'the_node' (FancyOp): operator 'FancyOp' is not implemented"))
        #expect(!e.message.contains("\n"))
    }

    @Test func shapeMismatchIsReported() throws {
        let weights = tensor("w", dims: [3, 5], floats: Array(repeating: 1, count: 15))
        let e = try #require(error(model(op: "MatMul", extraInputs: ["w"], initializers: [weights])))
        #expect(e.code == .shapeMismatch)
        #expect(e.message.contains("node 'the_node' (MatMul)") && e.message.contains("[1,4]") && e.message.contains("[3,5]"))
    }

    @Test func tensorWithTooFewValuesIsReported() throws {
        let short = tensor("w", dims: [4, 2], floats: [1, 2, 3])
        let e = try #require(error(model(op: "MatMul", extraInputs: ["w"], initializers: [short])))
        #expect(e.message.contains("initializer 'w'") && e.message.contains("should hold 8 values but holds 3"))
    }

    @Test func undefinedInputIsReported() throws {
        let e = try #require(error(model(op: "Add", extraInputs: ["nowhere"])))
        #expect(e.code == .invalidGraph && e.message.contains("input 'nowhere' is not produced"))
    }

    @Test func hugeShapesAreRefusedNotAllocated() throws {
        // Expand to 2^40 elements: refused by the planner's caps, not attempted.
        var shape = Onnx_TensorProto()
        shape.name = "s"
        shape.dims = [3]
        shape.dataType = 7
        shape.int64Data = [1 << 20, 1 << 20, 4]
        let e = try #require(error(model(op: "Expand", extraInputs: ["s"], initializers: [shape])))
        #expect(e.message.contains("more elements than Hark allows"))
    }

    @Test func wrongInputShapeIsReported() throws {
        let e = try #require(error(model(op: "Relu"), shape: [1, 5]))
        #expect(e.code == .invalidArgument && e.message.contains("[1,5]"))
    }

    @Test func notOnnxAtAll() throws {
        let e = try #require(error(Data("hello, this is a text file\n".utf8), file: "notes.onnx"))
        #expect(e.code == .notOnnx && e.message.hasPrefix("notes.onnx: not a valid ONNX model"))
    }

    @Test func missingFileNamesThePath() throws {
        let error = #expect(throws: WakeError.self) { try OnnxModel(path: "/nonexistent/hey_jarvis_v0.1.onnx") }
        #expect(error?.message.contains("/nonexistent/hey_jarvis_v0.1.onnx") == true && error?.code == .fileUnreadable)
    }

    /// Mutations of the real files: every truncation is an error; flipped bytes and enlarged counts
    /// either still load (a weight changed) or give an error — never a crash or a hang.
    @Test(arguments: ["melspectrogram", "embedding_model", "hey_jarvis_v0.1", "hey_mycroft_v0.1"])
    func mutatedRealModelsNeverCrash(name: String) throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: Repo.model(name)))
        let shape: [Int] = switch name {
        case "melspectrogram": [1, 1760]
        case "embedding_model": [1, 76, 32, 1]
        default: [1, 16, 96]
        }
        var generator = SplitMix64(seed: 0x4841524B)
        for _ in 0..<12 {
            let cut = Int(generator.next() % UInt64(original.count - 1)) + 1
            #expect(error(original.prefix(cut), file: name, shape: shape) != nil, "\(name) cut at \(cut) of \(original.count) bytes loaded")
        }
        var outcomes = (loaded: 0, refused: 0)
        for _ in 0..<24 {
            var bytes = original
            for _ in 0..<4 {
                // Flip bytes in the first 4 KiB, where the graph structure and tensor headers are.
                let at = Int(generator.next() % UInt64(min(4096, bytes.count)))
                bytes[at] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
            }
            if error(bytes, file: name, shape: shape) == nil { outcomes.loaded += 1 } else { outcomes.refused += 1 }
        }
        #expect(outcomes.loaded + outcomes.refused == 24)
        #expect(outcomes.refused > 0)
    }
}

