import Foundation
@testable import HarkGGUF
import HarkTestSupport
import Testing

/// Fixtures (tools/make_tiny_gguf.py, committed) and the real model (make models).
enum Paths {
    static let fixtures = repositoryRoot + "/Tests/HarkGGUFTests/Fixtures"
    static let tinyLlama = fixtures + "/tiny-llama.gguf"
    static let tinyQwen3MoE = fixtures + "/tiny-qwen3moe.gguf"
    static let smolLM2 = repositoryRoot + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
}

/// The whole of a file, for building mutations.
func readBytes(_ path: String) throws -> [UInt8] {
    let data = try #require(FileManager.default.contents(atPath: path), "\(path) is missing: run tools/make_tiny_gguf.py or `make models`")
    return [UInt8](data)
}

/// FNV-1a 64 as hex (tools/make_tiny_gguf.py hashes with it).
func fnv1a64(_ bytes: some Sequence<UInt8>) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes {
        h ^= UInt64(b)
        h = h &* 0x100_0000_01b3  // wrapping: FNV is defined modulo 2^64
    }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

/// Runs `body`, which must throw a `GGUFError` with `code` whose message contains every fragment.
func expectError(_ code: GGUFError.Code, _ fragments: String..., sourceLocation: SourceLocation = #_sourceLocation,
                 _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected a \(code) error containing \(fragments), got success", sourceLocation: sourceLocation)
    } catch let error as GGUFError {
        #expect(error.code == code, "\(error.message)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(error.message.contains(fragment), "message lacks '\(fragment)': \(error.message)", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected a GGUFError, got \(error)", sourceLocation: sourceLocation)
    }
}

/// A small random-valued model in F32, built with `GGUFWriter` from a spec's rules, so every
/// architecture can be checked without a real file. `figures` gives the header; `metadata` adds or
/// replaces keys; `skip` leaves tensors out; `extra` adds tensors.
struct TinyModel {
    var architecture: String
    var blocks = 2
    var embedding = 8
    var heads = 2
    var kvHeads = 1
    var feedForward = 16
    var experts = 0
    var expertsUsed = 0
    var expertFeedForward: Int? = nil
    var sharedFeedForward: Int? = nil
    var vocabulary = 6
    var metadata: [(String, GGUFValue)] = []
    var skip: Set<String> = []
    var extra: [(String, [Int])] = []
    /// Shapes to use instead of the spec's, by tensor name.
    var shapes: [String: [Int]] = [:]

    init(_ architecture: String) { self.architecture = architecture }

    var spec: GGUFArchitectureSpec { GGUFArchitectureSpec.known[architecture]! }

    func writer() -> GGUFWriter {
        var w = GGUFWriter()
        let a = architecture
        w.add("general.architecture", .string(a))
        var keys: [(String, GGUFValue)] = [
            ("\(a).block_count", .uint32(UInt32(blocks))),
            ("\(a).context_length", .uint32(64)),
            ("\(a).embedding_length", .uint32(UInt32(embedding))),
            ("\(a).feed_forward_length", .uint32(UInt32(feedForward))),
            ("\(a).attention.head_count", .uint32(UInt32(heads))),
            ("\(a).attention.head_count_kv", .uint32(UInt32(kvHeads))),
        ]
        if experts > 0 {
            keys += [("\(a).expert_count", .uint32(UInt32(experts))), ("\(a).expert_used_count", .uint32(UInt32(expertsUsed)))]
        }
        if let expertFeedForward { keys.append(("\(a).expert_feed_forward_length", .uint32(UInt32(expertFeedForward)))) }
        if let sharedFeedForward { keys.append(("\(a).expert_shared_feed_forward_length", .uint32(UInt32(sharedFeedForward)))) }
        keys += [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.tokens", .array(.string((0..<vocabulary).map { "tok\($0)" }))),
            ("tokenizer.ggml.bos_token_id", .uint32(0)),
            ("tokenizer.ggml.eos_token_id", .uint32(UInt32(vocabulary - 1))),
        ]
        for (key, value) in metadata {
            if let i = keys.firstIndex(where: { $0.0 == key }) { keys[i].1 = value } else { keys.append((key, value)) }
        }
        for (key, value) in keys { w.add(key, value) }

        // The figures as GGUFModelHeader derives them, to lay out each rule's tensors.
        let head = embedding / heads
        var ff = [GGUFFigure: Int]()
        ff[.embedding] = embedding; ff[.vocabulary] = vocabulary; ff[.heads] = heads; ff[.kvHeads] = kvHeads
        ff[.keyLength] = head; ff[.valueLength] = head; ff[.feedForward] = feedForward; ff[.experts] = experts
        ff[.expertFeedForward] = expertFeedForward ?? (spec.expertWidthDefault == .feedForward ? feedForward : (expertsUsed > 0 ? feedForward / expertsUsed : 0))
        ff[.sharedExpertFeedForward] = sharedFeedForward ?? (spec.sharedExpertWidthDefault == .feedForward ? feedForward : 0)
        ff[.ropeDimensions] = head; ff[.halfRope] = head / 2
        var rng = SplitMix64(seed: 7)
        func add(_ name: String, _ dims: [Int]) {
            let count = dims.reduce(1, *)
            var data: [UInt8] = []
            data.reserveCapacity(4 * count)
            for _ in 0..<count {
                let v = Float(Int(rng.next() % 2001) - 1000) / 1000
                withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 }
            }
            w.addTensor(name, type: .f32, dimensions: dims, data: data)
        }
        for rule in spec.tensors {
            switch rule.presence {
            case .optional: continue
            case .requiredIfDense where experts > 0: continue
            case .requiredIfExperts where experts == 0: continue
            case .requiredIfSharedExperts where (ff[.sharedExpertFeedForward] ?? 0) == 0: continue
            default: break
            }
            let dims = rule.shape.map { d -> Int in
                switch d {
                case .figure(let f): ff[f] ?? 0
                case .product(let x, let y): (ff[x] ?? 0) * (ff[y] ?? 0)
                case .constant(let n): n
                }
            }
            for name in rule.isPerLayer ? (0..<blocks).map({ rule.name(layer: $0) }) : [rule.name] where !skip.contains(name) {
                add(name, shapes[name] ?? dims)
            }
        }
        for (name, dims) in extra { add(name, dims) }
        return w
    }

    func file(_ name: String = "tiny") throws -> GGUFFile {
        try GGUFFile(bytes: writer().bytes(), name: "\(architecture)-\(name).gguf")
    }
}
