import HarkGGUF

/// A mixture-of-experts model large enough for a memory budget to bind, for the expert cache's
/// tests: tiny-qwen3moe's attention, norms and tokenizer with 8 random experts of width 1024 per layer
/// (each expert's gate, up and down slab 256 KB, 12 MB of experts in all), written to `path`.
public func writeWideMoE(to path: String) throws {
    let tiny = try GGUFFile(path: repositoryRoot + "/Tests/HarkLLMTests/Fixtures/tiny-qwen3moe.gguf")
    var writer = GGUFWriter()
    let experts = 8, width = 1024
    for key in tiny.metadata.keys {
        switch key {
        case "qwen3moe.expert_count": writer.add(key, .uint32(UInt32(experts)))
        case "qwen3moe.expert_feed_forward_length": writer.add(key, .uint32(UInt32(width)))
        default: writer.add(key, tiny.metadata[key]!)
        }
    }
    var random = SplitMix64(seed: 0x5EED)
    func floats(_ count: Int, scale: Float) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count * 4)
        bytes.withUnsafeMutableBytes { raw in
            let values = raw.bindMemory(to: Float.self)
            for i in 0..<count { values[i] = random.nextFloat() * scale }
        }
        return bytes
    }
    let embedding = 64
    for t in tiny.tensors {
        if t.name.hasSuffix("ffn_gate_inp.weight") {
            writer.addTensor(t.name, type: .f32, dimensions: [embedding, experts], data: floats(embedding * experts, scale: 1))
        } else if t.name.hasSuffix("ffn_gate_exps.weight") || t.name.hasSuffix("ffn_up_exps.weight") {
            writer.addTensor(t.name, type: .f32, dimensions: [embedding, width, experts], data: floats(embedding * width * experts, scale: 0.2))
        } else if t.name.hasSuffix("ffn_down_exps.weight") {
            writer.addTensor(t.name, type: .f32, dimensions: [width, embedding, experts], data: floats(embedding * width * experts, scale: 0.05))
        } else {
            writer.addTensor(t.name, type: t.type, dimensions: t.dimensions, data: Array(tiny.tensorData(t)))
        }
    }
    try writer.write(to: path)
}

