import Foundation
@testable import HarkGGUF
import HarkTestSupport
import Testing

/// What gguf-py 0.19.0 wrote and read back (tools/make_tiny_gguf.py → Fixtures/tiny_reference.json).
struct TinyReference: Decodable {
    struct Tensor: Decodable {
        let name: String
        let type: UInt32
        let dims: [Int]
        let elements: Int
        let bytes: Int
        let offset: Int
        let head: String
        let tail: String
        let fnv1a64: String
    }
    struct File: Decodable {
        let version: UInt32
        let alignment: Int
        let data_offset: Int
        let size: Int
        let keys: [String]
        let tensors: [Tensor]
    }
    let gguf_version: String
    let files: [String: File]
    let ggml_types: [String: [Int]]

    static func load() throws -> TinyReference {
        let data = try Data(readBytes(Paths.fixtures + "/tiny_reference.json"))
        return try JSONDecoder().decode(TinyReference.self, from: data)
    }
}

/// Checks `file` against what gguf-py read from the same bytes: header, keys in order, and every
/// tensor's name, type, dims, size, absolute offset and data.
func expectMatches(_ file: GGUFFile, _ reference: TinyReference.Tensor..., all: [TinyReference.Tensor]) {
    #expect(file.tensors.count == all.count)
    for (tensor, ref) in zip(file.tensors, all) {
        #expect(tensor.name == ref.name)
        #expect(tensor.type.rawValue == ref.type, "\(tensor.name)")
        #expect(tensor.dimensions == ref.dims, "\(tensor.name)")
        #expect(tensor.elementCount == ref.elements && tensor.byteCount == ref.bytes, "\(tensor.name)")
        #expect(tensor.offset == ref.offset, "\(tensor.name)")
        let data = file.tensorData(tensor)
        #expect(hex(data.prefix(16)) == ref.head && hex(data.suffix(16)) == ref.tail, "\(tensor.name)")
        #expect(fnv1a64(data) == ref.fnv1a64, "\(tensor.name)")
    }
}

@Suite struct GGUFReaderTests {
    @Test("Given gguf-py's tiny llama, when read, then header, keys and every tensor match gguf-py's reading")
    func tinyLlamaMatchesGGUFPy() throws {
        let reference = try TinyReference.load()
        let ref = try #require(reference.files["tiny-llama.gguf"])
        let file = try GGUFFile(path: Paths.tinyLlama)
        #expect(file.version == ref.version && file.alignment == ref.alignment && file.dataOffset == ref.data_offset)
        #expect(file.fileSize == ref.size)
        #expect(file.metadata.keys == ref.keys)
        expectMatches(file, all: ref.tensors)
        #expect(file.tensors.map(\.index) == Array(0..<file.tensors.count))
        // Tensor data is a view into the mapping, not a copy, at 32-byte multiples in memory too
        // (the mapping is page-aligned).
        for t in file.tensors {
            #expect(file.tensorData(t).baseAddress == file.storage.base + t.offset)
            #expect(Int(bitPattern: file.tensorData(t).baseAddress!) % 32 == 0)
        }
    }

    @Test("Given gguf-py's tiny qwen3moe with general.alignment 64, when read, then the alignment and offsets follow it")
    func customAlignment() throws {
        let reference = try TinyReference.load()
        let ref = try #require(reference.files["tiny-qwen3moe.gguf"])
        let file = try GGUFFile(path: Paths.tinyQwen3MoE)
        #expect(file.alignment == 64 && ref.alignment == 64)
        #expect(file.dataOffset == ref.data_offset && file.dataOffset % 64 == 0)
        #expect(file.tensors.allSatisfy { $0.relativeOffset % 64 == 0 })
        expectMatches(file, all: ref.tensors)
        let experts = try file.requireTensor("blk.0.ffn_down_exps.weight")
        #expect(experts.dimensions == [4, 8, 4] && experts.type == .f16 && experts.rowLength == 4 && experts.rowCount == 32)
        #expect(experts.bytesPerRow == 8)
    }

    @Test("Given the tiny llama's metadata, when read with typed accessors, then every GGUF value type comes back as written")
    func everyValueType() throws {
        let m = try GGUFFile(path: Paths.tinyLlama).metadata
        #expect(m["hark.test.u8"] == .uint8(200) && m["hark.test.i8"] == .int8(-100))
        #expect(m["hark.test.u16"] == .uint16(60000) && m["hark.test.i16"] == .int16(-30000))
        #expect(m["hark.test.u32"] == .uint32(4_000_000_000) && m["hark.test.i32"] == .int32(-2_000_000_000))
        #expect(m["hark.test.u64"] == .uint64(18_000_000_000_000_000_000) && m["hark.test.i64"] == .int64(-9_000_000_000_000_000_000))
        #expect(try m.float("hark.test.f32") == 1.5 && m.float("hark.test.f64") == -2.25e300)
        #expect(try m.bool("hark.test.bool") == true)
        #expect(try m.string("hark.test.string") == "héllo, wörld")
        #expect(try m.array("hark.test.array.uint8") == .uint8([0, 255]))
        #expect(try m.array("hark.test.array.int8") == .int8([-128, 127]))
        #expect(try m.array("hark.test.array.uint16") == .uint16([0, 65535]))
        #expect(try m.array("hark.test.array.int16") == .int16([-32768, 32767]))
        #expect(try m.array("hark.test.array.uint32") == .uint32([0, .max]))
        #expect(try m.array("hark.test.array.int32") == .int32([.min, .max]))
        #expect(try m.array("hark.test.array.uint64") == .uint64([0, .max]))
        #expect(try m.array("hark.test.array.int64") == .int64([.min, .max]))
        #expect(try m.array("hark.test.array.float32") == .float32([0.5, -1]))
        #expect(try m.array("hark.test.array.float64") == .float64([0.1, 1e-300]))
        #expect(try m.array("hark.test.array.bool") == .bool([true, false, true]))
        #expect(try m.array("hark.test.nested.ints") == .array([.int32([1, 2]), .int32([3]), .int32([-4, 5, 6])]))
        #expect(try m.array("hark.test.nested.strings") == .array([.string(["x"]), .string(["y", "z"])]))
        // Tokenizer arrays through the typed accessors.
        let tokens = try m.strings("tokenizer.ggml.tokens")
        #expect(tokens.count == 16 && tokens[8] == "é" && tokens[14] == "日本" && tokens[3] == "<|im_start|>")
        #expect(try m.floats("tokenizer.ggml.scores") == (0..<16).map { -Float($0) })
        #expect(try m.integers("tokenizer.ggml.token_type", as: UInt8.self) == [3, 3, 3, 4, 4] + Array(repeating: 1, count: 10) + [6])
        #expect(try m.strings("tokenizer.ggml.merges") == ["a b", "Ġ t", "Ġt urn"])
        #expect(try m.architecture() == "llama" && m.string("general.name") == "hark tiny llama")
    }

    @Test("Given gguf-py's type table, when compared, then every ggml type id, block size and block bytes match, and no id is missing")
    func typeTableMatchesGGUFPy() throws {
        let reference = try TinyReference.load()
        #expect(reference.gguf_version == "0.19.0")
        #expect(reference.ggml_types.count == GGMLType.allCases.count)
        for (name, entry) in reference.ggml_types {
            let type = try #require(GGMLType(rawValue: UInt32(entry[0])), "ggml type \(name) (\(entry[0])) is unknown to HarkGGUF")
            #expect(type.description == name)
            #expect(type.blockSize == entry[1] && type.bytesPerBlock == entry[2], "\(name)")
        }
        // Removed ids are not types.
        for removed: UInt32 in [4, 5, 31, 32, 33, 36, 37, 38, 42, 1000] { #expect(GGMLType(rawValue: removed) == nil) }
        #expect(GGMLType.computed.map(\.description) == ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K"])
        #expect(!GGMLType.iq2_XXS.isComputed && GGMLType.q4_K.isComputed && !GGMLType.q8_1.isComputed)
    }

    @Test("Given the block structs, when measured, then size and stride equal ggml's bytes per block (ggml's static_asserts)")
    func blockLayouts() {
        func pin<B>(_: B.Type, _ type: GGMLType) {
            #expect(MemoryLayout<B>.size == type.bytesPerBlock, "\(type)")
            #expect(MemoryLayout<B>.stride == type.bytesPerBlock, "\(type)")
            #expect(32 % MemoryLayout<B>.alignment == 0, "\(type)")
        }
        pin(GGMLBlock.Q4_0.self, .q4_0)
        pin(GGMLBlock.Q4_1.self, .q4_1)
        pin(GGMLBlock.Q8_0.self, .q8_0)
        pin(GGMLBlock.Q4_K.self, .q4_K)
        pin(GGMLBlock.Q5_K.self, .q5_K)
        pin(GGMLBlock.Q6_K.self, .q6_K)
        pin(GGMLBlock.Q8_K.self, .q8_K)
        #expect([GGMLType.q4_0, .q4_1, .q8_0].allSatisfy { $0.blockSize == 32 })
        #expect([GGMLType.q4_K, .q5_K, .q6_K, .q8_K].allSatisfy { $0.blockSize == 256 })
        #expect(MemoryLayout<GGMLBlock.Q6_K>.offset(of: \.d) == 208)
        #expect(MemoryLayout<GGMLBlock.Q4_K>.offset(of: \.qs) == 16)
    }

    @Test("Given a Q8_0 tensor written by gguf-py, when viewed as blocks, then the scales are the half-precision maxima gguf-py stored")
    func blocksOverTensorData() throws {
        let file = try GGUFFile(path: Paths.tinyLlama)
        let tensor = try file.requireTensor("blk.0.attn_v.weight")
        #expect(tensor.type == .q8_0 && tensor.dimensions == [32, 16])
        file.withTensorData(tensor) { raw in
            let blocks = raw.assumingMemoryBound(to: GGMLBlock.Q8_0.self)
            #expect(blocks.count == 16)
            for block in blocks {
                // Q8_0 stores d = max|x| / 127 and q = round(x / d): some |q| is 127.
                var peak = 0
                for j in 0..<32 { peak = max(peak, abs(Int(block.qs[j]))) }
                #expect(peak == 127)
                #expect(Float(Float16(bitPattern: block.d)) > 0)
            }
        }
    }

    @Test("Given a file written by GGUFWriter, when read, then metadata, tensors and data round-trip, in versions 2 and 3, at alignments 32 and 256")
    func writerRoundTrip() throws {
        for (version, alignment) in [(UInt32(3), 32), (2, 32), (3, 256)] {
            var w = GGUFWriter(version: version, alignment: alignment)
            w.add("general.architecture", .string("hark-test"))
            w.add("a.nested", .array(.array([.array([.uint8([1])]), .array([])])))
            w.add("empty", .string(""))
            let q4k = (0..<2 * 144).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            w.addTensor("k", type: .q4_K, dimensions: [256, 2], data: q4k)
            w.addTensor("v", type: .iq2_XXS, dimensions: [256], data: [UInt8](repeating: 9, count: 66))
            w.addTensor("w", type: .f32, dimensions: [1, 2, 3, 4], data: [UInt8](repeating: 1, count: 96))
            let file = try GGUFFile(bytes: w.bytes(), name: "round-trip.gguf")
            #expect(file.version == version && file.alignment == alignment)
            #expect(file.metadata["a.nested"] == .array(.array([.array([.uint8([1])]), .array([])])))
            #expect(try file.metadata.string("empty") == "")
            #expect(file.metadata.contains("general.alignment") == (alignment != 32))
            #expect(file.tensors.map(\.name) == ["k", "v", "w"])
            #expect(Array(file.tensorData(file.tensors[0])) == q4k)
            #expect(file.tensors[1].byteCount == 66 && file.tensors[2].dimensions == [1, 2, 3, 4] && file.tensors[2].paddedDimensions == [1, 2, 3, 4])
            #expect(file.tensors.allSatisfy { $0.offset % alignment == 0 })
            // IQ2_XXS is read but Hark does not compute it: a clear refusal names the tensor.
            expectError(.unsupported, "tensor 'v' is IQ2_XXS", "Hark does not compute") { try file.requireComputableTypes() }
        }
    }

    @Test("Given a path that does not exist, a directory and an empty file, when opened, then a clear error and no crash")
    func unreadablePaths() throws {
        expectError(.fileUnreadable, "/nonexistent/model.gguf", "open failed", "make models") { _ = try GGUFFile(path: "/nonexistent/model.gguf") }
        let dir = makeTemporaryDirectory("hark-gguf")
        expectError(.fileUnreadable, dir, "not a regular file") { _ = try GGUFFile(path: dir) }
        writeFile(dir + "/empty.gguf", "")
        expectError(.corrupt, "empty.gguf", "empty") { _ = try GGUFFile(path: dir + "/empty.gguf") }
        writeFile(dir + "/text.gguf", "hello, this is not a model")
        expectError(.corrupt, "text.gguf", "not a GGUF file") { _ = try GGUFFile(path: dir + "/text.gguf") }
        // A written file reads back through the mapping.
        var w = GGUFWriter()
        w.add("general.architecture", .string("x"))
        try w.write(to: dir + "/ok.gguf")
        #expect(try GGUFFile(path: dir + "/ok.gguf").metadata.keys == ["general.architecture"])
    }

    @Test("Given a GGUFFile, when used from several tasks, then it is Sendable and reads the same bytes")
    func sendable() async throws {
        let file = try GGUFFile(path: Paths.tinyLlama)
        let hashes = await withTaskGroup(of: String.self) { group in
            for _ in 0..<4 { group.addTask { fnv1a64(file.tensorData(file.tensors[1])) } }
            return await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(Set(hashes).count == 1)
    }
}
