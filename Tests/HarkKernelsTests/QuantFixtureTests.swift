import Foundation
import HarkKernels
import HarkTestSupport
import Testing

/// gguf-py's quantizations and dequantizations (tools/capture_quant_fixtures.py).
struct QuantFixtureCase: Sendable, CustomTestStringConvertible {
    let type: QuantType
    let count: Int
    let input: [Float]
    let bytes: [UInt8]
    let dequantized: [Float]
    var testDescription: String { "\(type)" }

    static let all: [QuantFixtureCase] = {
        let path = repositoryRoot + "/Tests/HarkKernelsTests/Fixtures/quant_fixtures.json"
        guard let data = FileManager.default.contents(atPath: path),
              let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = doc["cases"] as? [[String: Any]] else { fatalError("cannot read \(path): run tools/capture_quant_fixtures.py") }
        return cases.map { c in
            QuantFixtureCase(type: QuantType(rawValue: c["type"] as! String)!, count: c["count"] as! Int,
                             input: hexFloats(c["input"] as! String), bytes: hexBytes(c["bytes"] as! String),
                             dequantized: hexFloats(c["dequantized"] as! String))
        }
    }()
}

struct QuantFixtureTests {
    @Test("Given the fixture file, then it holds a case for each of the nine types")
    func coverage() {
        #expect(Set(QuantFixtureCase.all.map(\.type)) == Set(QuantType.allCases.filter { $0 != .f32 }))
    }

    @Test("Given gguf-py's blocks, when dequantized by the reference and the fast version, then both give gguf-py's floats bit for bit",
          arguments: QuantFixtureCase.all)
    func dequantizeMatchesGGUF(_ c: QuantFixtureCase) {
        #expect(c.bytes.count == c.type.rowBytes(c.count) && c.dequantized.count == c.count)
        for reference in [true, false] {
            let y = dequantized(c.type, c.bytes, count: c.count, reference: reference)
            let mismatches = (0..<c.count).filter { y[$0].bitPattern != c.dequantized[$0].bitPattern && !(y[$0] == 0 && c.dequantized[$0] == 0) }
            #expect(mismatches.isEmpty, "\(c.type) \(reference ? "reference" : "fast"): \(mismatches.count) values differ, first at \(mismatches.first ?? -1): \(mismatches.first.map { "\(y[$0]) vs \(c.dequantized[$0])" } ?? "")")
        }
    }

    @Test("Given gguf-py's Q8_0, F16 and BF16 quantization of floats, then ggml's reference rounding gives the same bytes")
    func activationQuantizationMatchesGGUF() {
        let formats: [QuantType: ActivationFormat] = [.q8_0: .q8_0, .f16: .f16, .bf16: .bf16]
        let cases = QuantFixtureCase.all.filter { formats[$0.type] != nil }
        #expect(cases.count == 3)
        for c in cases {
            let mine = quantizedActivations(formats[c.type]!, c.input, reference: true, rounding: .ggmlReference)
            #expect(mine == c.bytes, "\(c.type): reference quantization differs from gguf-py")
            if c.type != .q8_0 {  // the float formats have one rounding; the fast path must agree too
                #expect(quantizedActivations(formats[c.type]!, c.input, reference: false) == c.bytes, "\(c.type) fast")
            }
        }
    }
}
