@testable import HarkWhisper
import Testing

/// The model.bin reader on small files written here: the layout it documents, and every way a file
/// can lie about itself answered with a one-line error naming the file and what is wrong.
struct CTranslate2ModelTests {
    /// A model.bin writer for tests (the layout in CTranslate2Model's comment).
    struct Writer {
        var bytes: [UInt8] = []
        mutating func u8(_ v: UInt8) { bytes.append(v) }
        mutating func u16(_ v: UInt16) { bytes += [UInt8(v & 0xff), UInt8(v >> 8)] }
        mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8((v >> (8 * UInt32(i))) & 0xff)) } }
        mutating func string(_ s: String) { u16(UInt16(s.utf8.count + 1)); bytes += Array(s.utf8) + [0] }
        mutating func variable(_ name: String, shape: [UInt32], type: UInt8, data: [UInt8]) {
            string(name); u8(UInt8(shape.count)); for d in shape { u32(d) }; u8(type); u32(UInt32(data.count)); bytes += data
        }
        static func header(variables: UInt32) -> Writer {
            var w = Writer()
            w.u32(6); w.string("WhisperSpec"); w.u32(3); w.u32(variables)
            return w
        }
    }

    static func halves(_ values: [UInt16]) -> [UInt8] { values.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] } }

    static func good() -> [UInt8] {
        var w = Writer.header(variables: 2)
        // 1.0, -2.0, 0.5, 65504 (largest half), a subnormal (2^-24), -0
        w.variable("a/weight", shape: [2, 3], type: 4, data: halves([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000]))
        w.variable("a/num_heads", shape: [], type: 2, data: [6, 0])
        w.u32(1); w.string("b/weight"); w.string("a/weight")
        return w.bytes
    }

    @Test("Given a well-formed model.bin, when read, then shapes, float16 values, scalars and aliases come out as written")
    func readsLayout() throws {
        let model = try CTranslate2Model(bytes: Self.good(), fileName: "t.bin")
        #expect(model.binaryVersion == 6 && model.specName == "WhisperSpec" && model.specRevision == 3)
        #expect(try model.variable("a/weight").shape == [2, 3])
        #expect(try model.floats("a/weight") == [1, -2, 0.5, 65504, 0x1p-24, -0.0])
        #expect(try model.floats("b/weight") == model.floats("a/weight"))
        #expect(try model.integer("a/num_heads") == 6)
    }

    @Test("Given float16 bit patterns, when converted, then infinities, NaN, subnormals and normals are exact")
    func halfConversion() {
        #expect(CTranslate2Model.half(0x7c00) == .infinity)
        #expect(CTranslate2Model.half(0xfc00) == -.infinity)
        #expect(CTranslate2Model.half(0x7e00).isNaN)
        #expect(CTranslate2Model.half(0x03ff) == Float(0x3ff) * 0x1p-24)
        #expect(CTranslate2Model.half(0x3555) == Float(0x1.554p-2))
        for bits in stride(from: UInt16(0), to: 0x7c00, by: 97) {
            // Every finite half is a float; converting back through Float's own Float16-free math.
            let f = CTranslate2Model.half(bits)
            #expect(f >= 0 && f.isFinite)
        }
    }

    /// Each case: a broken file and words its error must contain.
    static let broken: [(String, [UInt8], String)] = {
        var cases: [(String, [UInt8], String)] = []
        let good = CTranslate2ModelTests.good()
        cases.append(("truncated in the values", Array(good.prefix(60)), "past the end of the file"))
        cases.append(("empty file", [], "past the end of the file"))
        cases.append(("trailing bytes", good + [0, 0, 0], "after the last alias"))
        var version = good
        version[0] = 99
        cases.append(("unknown binary version", version, "binary version 99"))
        var w = Writer.header(variables: 1)
        w.variable("x", shape: [2, 2], type: 4, data: [0, 0, 0, 0, 0, 0])
        w.u32(0)
        cases.append(("byte count not the shape's", w.bytes, "needs 8"))
        w = Writer.header(variables: 1)
        w.variable("x", shape: [1], type: 9, data: [0])
        w.u32(0)
        cases.append(("unknown data type", w.bytes, "data type 9"))
        w = Writer.header(variables: 1)
        w.variable("x", shape: [1, 1, 1, 1, 1], type: 1, data: [0])
        w.u32(0)
        cases.append(("rank too high", w.bytes, "rank 5"))
        w = Writer.header(variables: 1)
        w.variable("x", shape: [0xffff_ffff, 0xffff_ffff], type: 0, data: [])
        w.u32(0)
        cases.append(("dimensions overflow", w.bytes, "too large"))
        w = Writer.header(variables: 2)
        w.variable("x", shape: [1], type: 1, data: [0])
        w.variable("x", shape: [1], type: 1, data: [0])
        w.u32(0)
        cases.append(("duplicate name", w.bytes, "appears twice"))
        w = Writer.header(variables: 1)
        w.variable("x", shape: [1], type: 1, data: [0])
        w.u32(1); w.string("y"); w.string("nowhere")
        cases.append(("alias to nothing", w.bytes, "not in the file"))
        w = Writer.header(variables: 0xffff_fff0)
        cases.append(("absurd variable count", w.bytes, "cannot fit"))
        w = Writer()
        w.u32(6); w.u16(5); w.bytes += Array("Whis".utf8) + [65]
        cases.append(("name without NUL", w.bytes, "not NUL-terminated"))
        w = Writer()
        w.u32(6); w.u16(3); w.bytes += [0x1b, 0x5b, 0]
        cases.append(("control characters in a name", w.bytes, "not printable ASCII"))
        return cases
    }()

    @Test("Given a broken model.bin, when read, then a one-line corruptModel or unsupportedModel error names the file and the fault", arguments: 0..<13)
    func rejectsBroken(index: Int) {
        let (label, bytes, words) = Self.broken[index]
        do {
            _ = try CTranslate2Model(bytes: bytes, fileName: "broken.bin")
            Issue.record("\(label): accepted")
        } catch {
            #expect(error.message.hasPrefix("broken.bin: "), "\(label): \(error.message)")
            #expect(error.message.contains(words), "\(label): \(error.message)")
            #expect(!error.message.contains("\n"))
            #expect(error.code == .corruptModel || error.code == .unsupportedModel)
        }
    }

    @Test("Given a float variable asked for as integer weights or a missing name, when read, then the error names it")
    func wrongUse() throws {
        let model = try CTranslate2Model(bytes: Self.good(), fileName: "t.bin")
        #expect(throws: WhisperError.self) { try model.floats("a/num_heads") }
        #expect(throws: WhisperError.self) { try model.variable("a/weight", shape: [3, 2]) }
        do {
            _ = try model.variable("decoder/embeddings/weight")
            Issue.record("missing variable accepted")
        } catch {
            #expect(error.message.contains("no variable 'decoder/embeddings/weight'"))
        }
    }
}
