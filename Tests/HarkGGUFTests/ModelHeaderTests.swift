@testable import HarkGGUF
import Testing

/// The header's semantic checks: figures against each other and against the tensors present.
@Suite struct ModelHeaderTests {
    @Test("Given gguf-py's tiny llama and tiny qwen3moe, when checked, then their figures come out and every tensor is accounted for")
    func fixturesPass() throws {
        let llama = try GGUFFile(path: Paths.tinyLlama).modelHeader()
        #expect(llama.architecture == "llama" && llama.blockCount == 2 && llama.vocabularySize == 16 && llama.contextLength == 128)
        #expect(llama.embeddingLength == 32 && llama.headCount == 4 && llama.headCountKV == 2 && llama.keyLength == 8 && llama.feedForwardLength == 32)
        #expect(llama.specialTokens == ["bos": 1, "eos": 2, "unknown": 0])
        let moe = try GGUFFile(path: Paths.tinyQwen3MoE).modelHeader()
        #expect(moe.architecture == "qwen3moe" && moe.expertCount == 4 && moe.expertUsedCount == 2 && moe[.expertFeedForward] == 4)
        #expect(moe.keyLength == 4 && moe.headCountKV == 1)
    }

    @Test("Given each known architecture built from its own spec (dense and experts, shared experts), when checked, then it passes")
    func everyArchitecture() throws {
        var cases: [TinyModel] = [TinyModel("llama")]
        var mixtral = TinyModel("llama"); mixtral.experts = 4; mixtral.expertsUsed = 2; cases.append(mixtral)
        var qwen2 = TinyModel("qwen2moe"); qwen2.experts = 4; qwen2.expertsUsed = 2; qwen2.expertFeedForward = 4; cases.append(qwen2)
        var qwen3 = TinyModel("qwen3moe"); qwen3.experts = 8; qwen3.expertsUsed = 2; cases.append(qwen3)
        var olmoe = TinyModel("olmoe"); olmoe.kvHeads = 2; olmoe.experts = 4; olmoe.expertsUsed = 1; cases.append(olmoe)
        var granite = TinyModel("granitemoe"); granite.experts = 4; granite.expertsUsed = 2; cases.append(granite)
        var graniteShared = granite; graniteShared.sharedFeedForward = 8; cases.append(graniteShared)
        for model in cases {
            let header = try model.file().modelHeader()
            #expect(header.architecture == model.architecture && header.expertCount == model.experts && header.blockCount == 2)
        }
        // qwen2moe's shared expert defaults to feed_forward_length; qwen3moe's experts to ff / used.
        #expect(try cases[2].file().modelHeader()[.sharedExpertFeedForward] == 16)
        #expect(try cases[3].file().modelHeader()[.expertFeedForward] == 8)
        #expect(Set(GGUFArchitectureSpec.known.keys) == ["llama", "qwen2moe", "qwen3moe", "olmoe", "granitemoe"])
    }

    @Test("Given block_count that disagrees with the blk.N tensors (a layer past it, a layer missing, absurdly large), when checked, then the layer and the count are named")
    func blockCount() {
        var m = TinyModel("llama")
        m.extra = [("blk.2.attn_norm.weight", [8])]
        expectError(.inconsistentModel, "tensor 'blk.2.attn_norm.weight' is for layer 2, but llama.block_count is 2") { _ = try m.file().modelHeader() }
        m = TinyModel("llama")
        m.metadata = [("llama.block_count", .uint32(3))]
        expectError(.missingTensor, "tensor 'blk.2.attn_norm.weight' is missing") { _ = try m.file().modelHeader() }
        m.metadata = [("llama.block_count", .uint64(1 << 40))]
        expectError(.inconsistentModel, "llama.block_count is 1099511627776 but the file has only 20 tensors") { _ = try m.file().modelHeader() }
        m.metadata = [("llama.block_count", .uint32(0))]
        expectError(.inconsistentModel, "llama.block_count is 0, must be at least 1") { _ = try m.file().modelHeader() }
        m.metadata = [("llama.block_count", .string("2"))]
        expectError(.wrongType, "'llama.block_count' holds string") { _ = try m.file().modelHeader() }
    }

    @Test("Given heads that do not divide, when checked, then the figures are named")
    func heads() {
        var m = TinyModel("llama")
        m.kvHeads = 3
        m.heads = 4
        expectError(.inconsistentModel, "head_count_kv is 3, which does not divide head_count 4") { _ = try m.file().modelHeader() }
        m = TinyModel("llama")
        m.metadata = [("llama.attention.head_count", .uint32(3))]
        expectError(.inconsistentModel, "embedding_length 8 is not a multiple of head_count 3") { _ = try m.file().modelHeader() }
        m.metadata = [("llama.attention.head_count", .array(.uint32([2, 2])))]
        expectError(.wrongType, "'llama.attention.head_count' holds array of 2 uint32") { _ = try m.file().modelHeader() }
        m.metadata = [("llama.rope.dimension_count", .uint32(6))]
        expectError(.inconsistentModel, "rope.dimension_count is 6, must be even and at most the key length 4") { _ = try m.file().modelHeader() }
    }

    @Test("Given expert figures that disagree (used > count, used without experts, experts in a dense-only spec, none in an MoE), when checked, then each is named")
    func experts() {
        var m = TinyModel("llama")
        m.experts = 4
        m.expertsUsed = 5
        expectError(.inconsistentModel, "expert_used_count is 5, must be between 1 and expert_count 4") { _ = try m.file().modelHeader() }
        m.expertsUsed = 0
        expectError(.inconsistentModel, "expert_used_count is 0") { _ = try m.file().modelHeader() }
        m = TinyModel("llama")
        m.metadata = [("llama.expert_used_count", .uint32(2))]
        expectError(.inconsistentModel, "expert_used_count is 2 but the model has no experts") { _ = try m.file().modelHeader() }
        m = TinyModel("olmoe")
        m.experts = 4
        m.expertsUsed = 1
        m.metadata = [("olmoe.expert_count", .uint32(0))]
        expectError(.inconsistentModel, "olmoe.expert_count is missing or 0, but olmoe models are mixtures of experts") { _ = try m.file().modelHeader() }
        var dense = GGUFArchitectureSpec.llama
        dense.experts = .none
        m = TinyModel("llama")
        m.experts = 2
        m.expertsUsed = 1
        expectError(.inconsistentModel, "expert_count is 2, but llama models have no experts") { _ = try m.file().modelHeader(spec: dense) }
        // An expert tensor whose third dimension is not expert_count.
        m.shapes = ["blk.1.ffn_down_exps.weight": [16, 8, 3]]
        expectError(.inconsistentModel, "tensor 'blk.1.ffn_down_exps.weight' has shape [16, 8, 3], expected [16, 8, 2] ([expertFeedForward, embedding, experts])") {
            _ = try m.file().modelHeader()
        }
    }

    @Test("Given a vocabulary that disagrees (vocab_size, scores, token_type, token_embd's ne1, special ids outside), when checked, then each is named")
    func vocabulary() {
        var m = TinyModel("llama")
        m.metadata = [("llama.vocab_size", .uint32(7))]
        expectError(.inconsistentModel, "llama.vocab_size is 7 but tokenizer.ggml.tokens has 6 tokens") { _ = try m.file().modelHeader() }
        m.metadata = [("tokenizer.ggml.scores", .array(.float32([0, 1])))]
        expectError(.inconsistentModel, "tokenizer.ggml.scores has 2 entries for 6 tokens") { _ = try m.file().modelHeader() }
        m.metadata = [("tokenizer.ggml.token_type", .array(.int32([1, 1, 1])))]
        expectError(.inconsistentModel, "tokenizer.ggml.token_type has 3 entries for 6 tokens") { _ = try m.file().modelHeader() }
        m.metadata = [("tokenizer.ggml.eos_token_id", .uint32(6))]
        expectError(.inconsistentModel, "tokenizer.ggml.eos_token_id is 6, outside the vocabulary of 6 tokens") { _ = try m.file().modelHeader() }
        m.metadata = [("tokenizer.ggml.padding_token_id", .int32(-1))]
        expectError(.inconsistentModel, "tokenizer.ggml.padding_token_id is -1") { _ = try m.file().modelHeader() }
        m.metadata = [("tokenizer.ggml.tokens", .array(.string([])))]
        expectError(.inconsistentModel, "tokenizer.ggml.tokens is empty") { _ = try m.file().modelHeader() }
        m = TinyModel("llama")
        m.shapes = ["token_embd.weight": [8, 5]]
        expectError(.inconsistentModel, "tensor 'token_embd.weight' has shape [8, 5], expected [8, 6] ([embedding, vocabulary])") { _ = try m.file().modelHeader() }
        m = TinyModel("llama")
        m.metadata = [("tokenizer.ggml.tokens", .array(.int32([1, 2])))]
        expectError(.wrongType, "'tokenizer.ggml.tokens'", "array of strings") { _ = try m.file().modelHeader() }
    }

    @Test("Given tensors that do not fit the figures (a projection's width, a norm's length, an unlisted tensor, a missing one, a missing figure), when checked, then each is named with its shape")
    func shapes() {
        var m = TinyModel("llama")
        m.shapes = ["blk.0.attn_k.weight": [8, 8]]
        expectError(.inconsistentModel, "tensor 'blk.0.attn_k.weight' has shape [8, 8], expected [8, 4] ([embedding, kvHeads×keyLength])") { _ = try m.file().modelHeader() }
        m.shapes = ["output_norm.weight": [8, 1, 1]]
        #expect(throws: Never.self) { _ = try m.file().modelHeader() }  // trailing 1s are ggml's padding
        m.shapes = ["output_norm.weight": [4, 2]]
        expectError(.inconsistentModel, "tensor 'output_norm.weight' has shape [4, 2], expected [8]") { _ = try m.file().modelHeader() }
        m = TinyModel("llama")
        m.extra = [("blk.0.surprise.weight", [8])]
        expectError(.inconsistentModel, "tensor 'blk.0.surprise.weight' is not part of a llama model") { _ = try m.file().modelHeader() }
        var lenient = GGUFArchitectureSpec.llama
        lenient.allowsUnlistedTensors = true
        #expect(throws: Never.self) { _ = try m.file().modelHeader(spec: lenient) }
        m = TinyModel("llama")
        m.skip = ["blk.1.ffn_up.weight"]
        expectError(.missingTensor, "tensor 'blk.1.ffn_up.weight' is missing") { _ = try m.file().modelHeader() }
        // Experts in a dense llama are unlisted.
        m = TinyModel("llama")
        m.extra = [("blk.0.ffn_gate_inp.weight", [8, 4])]
        expectError(.inconsistentModel, "'blk.0.ffn_gate_inp.weight' is not part of a llama model") { _ = try m.file().modelHeader() }
        // A figure the shapes need is absent.
        m = TinyModel("llama")
        m.metadata = [("llama.feed_forward_length", .uint32(0))]
        expectError(.missingKey, "llama.feed_forward_length is missing or 0, but tensor 'blk.0.ffn_gate.weight' needs it") { _ = try m.file().modelHeader() }
        // The tied output projection may be present with the embedding's shape.
        m = TinyModel("llama")
        m.extra = [("output.weight", [8, 6])]
        #expect(throws: Never.self) { _ = try m.file().modelHeader() }
    }

    @Test("Given an unknown architecture or a spec for another one, when checked, then unsupported names both")
    func architectureMismatch() {
        var w = GGUFWriter()
        w.add("general.architecture", .string("mamba"))
        expectError(.unsupported, "architecture 'mamba' is not one Hark reads (granitemoe, llama, olmoe, qwen2moe, qwen3moe)") {
            _ = try GGUFFile(bytes: w.bytes(), name: "m.gguf").modelHeader()
        }
        expectError(.unsupported, "the model is 'llama', checked as 'olmoe'") {
            _ = try TinyModel("llama").file().modelHeader(spec: .olmoe)
        }
        expectError(.missingKey, "'general.architecture'") { _ = try GGUFFile(bytes: GGUFWriter().bytes(), name: "e.gguf").modelHeader() }
    }

    @Test("Given layer names, when parsed, then only canonical blk.N prefixes count")
    func layerNames() {
        #expect(GGUFModelHeader.layer(of: "blk.0.attn_q.weight") == 0)
        #expect(GGUFModelHeader.layer(of: "blk.29.ffn_up.weight") == 29)
        #expect(GGUFModelHeader.layer(of: "blk.01.x") == nil && GGUFModelHeader.layer(of: "blk.x") == nil)
        #expect(GGUFModelHeader.layer(of: "token_embd.weight") == nil && GGUFModelHeader.layer(of: "blk.") == nil)
        #expect(GGUFModelHeader.layer(of: "blk.9999999999.x") == nil)
        #expect(GGUFTensorRule("blk.{i}.ffn_up.weight", [.embedding]).name(layer: 12) == "blk.12.ffn_up.weight")
    }
}
