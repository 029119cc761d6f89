import Foundation
@testable import HarkGGUF
import HarkTestSupport
import Testing

/// The real SmolLM2-135M-Instruct Q4_1 (make models) against what gguf-py 0.19.0 read from it
/// (tools/make_tiny_gguf.py → Fixtures/smollm2_reference.json).
@Suite struct SmolLM2Tests {
    struct Reference: Decodable {
        let size: Int
        let version: UInt32
        let tensor_count: Int
        let kv_count: Int
        let alignment: Int
        let data_offset: Int
        let keys: [String]
        let architecture: String
        let name: String
        let block_count: Int
        let context_length: Int
        let embedding_length: Int
        let feed_forward_length: Int
        let head_count: Int
        let head_count_kv: Int
        let rope_dimension_count: Int
        let rope_freq_base: Double
        let rms_epsilon: Double
        let vocab_size: Int
        let token_count: Int
        let tokens_head: [String]
        let tokens_tail: [String]
        let merge_count: Int
        let merges_head: [String]
        let token_type_head: [Int]
        let bos: Int
        let eos: Int
        let unk: Int
        let pad: Int
        let add_bos_token: Bool
        let chat_template_bytes: Int
        let chat_template_fnv1a64: String
        let chat_template_head: String
        let type_counts: [String: Int]
        let table_fnv1a64: String
        let tensors_head: [TinyReference.Tensor]
        let spot: [TinyReference.Tensor]
        let attn_norm_0_first: [Float]
    }

    static func load() throws -> (GGUFFile, Reference) {
        let reference = try JSONDecoder().decode(Reference.self, from: Data(readBytes(Paths.fixtures + "/smollm2_reference.json")))
        #expect(FileManager.default.fileExists(atPath: Paths.smolLM2), "\(Paths.smolLM2) is missing: run `make models`")
        return (try GGUFFile(path: Paths.smolLM2), reference)
    }

    @Test("Given SmolLM2, when read, then the header and metadata are gguf-py's")
    func header() throws {
        let (file, ref) = try Self.load()
        #expect(file.fileSize == ref.size && file.version == ref.version && file.alignment == ref.alignment)
        #expect(file.dataOffset == ref.data_offset && file.tensors.count == ref.tensor_count)
        let m = file.metadata
        #expect(m.count == ref.kv_count && m.keys == ref.keys)
        #expect(try m.architecture() == "llama" && ref.architecture == "llama" && m.string("general.name") == ref.name)
        #expect(try m.integer("llama.block_count") == ref.block_count && ref.block_count == 30)
        #expect(try m.integer("llama.context_length") == ref.context_length)
        #expect(try m.integer("llama.embedding_length") == ref.embedding_length)
        #expect(try m.integer("llama.feed_forward_length") == ref.feed_forward_length)
        #expect(try m.integer("llama.attention.head_count") == ref.head_count && m.integer("llama.attention.head_count_kv") == ref.head_count_kv)
        #expect(try m.integer("llama.rope.dimension_count") == ref.rope_dimension_count)
        #expect(try m.float("llama.rope.freq_base") == ref.rope_freq_base && m.float("llama.attention.layer_norm_rms_epsilon") == ref.rms_epsilon)
        #expect(try m.integer("llama.vocab_size") == ref.vocab_size && ref.vocab_size == 49152)
        let tokens = try m.strings("tokenizer.ggml.tokens")
        #expect(tokens.count == ref.token_count && Array(tokens.prefix(8)) == ref.tokens_head && Array(tokens.suffix(3)) == ref.tokens_tail)
        let merges = try m.strings("tokenizer.ggml.merges")
        #expect(merges.count == ref.merge_count && Array(merges.prefix(3)) == ref.merges_head)
        #expect(try Array(m.integers("tokenizer.ggml.token_type").prefix(8)) == ref.token_type_head)
        #expect(try m.integer("tokenizer.ggml.bos_token_id") == ref.bos && m.integer("tokenizer.ggml.eos_token_id") == ref.eos)
        #expect(try m.integer("tokenizer.ggml.unknown_token_id") == ref.unk && m.integer("tokenizer.ggml.padding_token_id") == ref.pad)
        #expect(try m.bool("tokenizer.ggml.add_bos_token") == ref.add_bos_token)
        let template = try #require(try m.chatTemplate())
        #expect(template.utf8.count == ref.chat_template_bytes && fnv1a64(template.utf8) == ref.chat_template_fnv1a64)
        #expect(template.hasPrefix(ref.chat_template_head))
    }

    @Test("Given SmolLM2, when its tensor table is read, then names, types, dims and offsets are gguf-py's, and spot-checked data bytes match")
    func tensorTable() throws {
        let (file, ref) = try Self.load()
        let table = file.tensors.map { "\($0.name) \($0.type.rawValue) \($0.dimensions.map(String.init).joined(separator: ",")) \($0.offset)\n" }.joined()
        #expect(fnv1a64(table.utf8) == ref.table_fnv1a64)
        for r in ref.tensors_head {
            let t = try file.requireTensor(r.name)
            #expect(t.type.rawValue == r.type && t.dimensions == r.dims && t.offset == r.offset && t.byteCount == r.bytes && t.elementCount == r.elements)
        }
        var counts: [String: Int] = [:]
        for t in file.tensors { counts[String(t.type.rawValue), default: 0] += 1 }
        #expect(counts == ref.type_counts)
        for r in ref.spot {
            let t = try file.requireTensor(r.name)
            let data = file.tensorData(t)
            #expect(data.count == r.bytes, "\(r.name)")
            #expect(hex(data.prefix(16)) == r.head && hex(data.suffix(16)) == r.tail, "\(r.name)")
            #expect(fnv1a64(data) == r.fnv1a64, "\(r.name)")
        }
        let norm = try file.requireTensor("blk.0.attn_norm.weight")
        let first = file.withTensorData(norm) { raw in (0..<4).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) } }
        #expect(first == ref.attn_norm_0_first)
        // Every tensor is F32, Q4_1 or Q8_0: all computed.
        try file.requireComputableTypes()
        let embedding = try file.requireTensor("token_embd.weight")
        #expect(embedding.type == .q8_0 && embedding.dimensions == [576, 49152] && embedding.bytesPerRow == 576 / 32 * 34)
    }

    @Test("Given SmolLM2, when its header is checked as llama, then the figures are SmolLM2's and the output is tied to the embedding")
    func modelHeader() throws {
        let (file, _) = try Self.load()
        let h = try file.modelHeader()
        #expect(h.architecture == "llama" && h.blockCount == 30 && h.vocabularySize == 49152 && h.contextLength == 8192)
        #expect(h.embeddingLength == 576 && h.headCount == 9 && h.headCountKV == 3 && h.keyLength == 64 && h.valueLength == 64)
        #expect(h.feedForwardLength == 1536 && h.expertCount == 0 && h.expertUsedCount == 0)
        #expect(h[.ropeDimensions] == 64)
        #expect(h.specialTokens == ["bos": 1, "eos": 2, "unknown": 0, "padding": 2])
        #expect(file.tensor(named: "output.weight") == nil)
    }
}
