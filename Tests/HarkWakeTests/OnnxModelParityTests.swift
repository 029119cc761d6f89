import Foundation
import Testing
@testable import HarkWake

/// Given the real openWakeWord models and inputs/outputs captured from onnxruntime
/// (tools/capture_onnx_fixtures.py), when Hark's ONNX runtime runs the same inputs,
/// then every output value matches within a tolerance.
@Suite struct OnnxModelParityTests {
    let fixture: [String: Any]

    init() throws {
        fixture = try loadJSON(Repo.fixture("onnx-models.json"))
    }

    private func run(_ model: String, section: [String: Any], inputKey: String = "input") throws -> [Float] {
        let plan = try OnnxModel(path: Repo.model(model)).plan(inputShape: section.ints("input_shape"))
        return try plan(section.floats(inputKey))
    }

    @Test func melspectrogramMatchesOnnxruntime() throws {
        let section = fixture.dict("melspectrogram")
        let expected = section.floats("output")
        let got = try run("melspectrogram", section: section)
        #expect(got.count == expected.count)
        // Log-mel values in dB (tens); onnxruntime sums the 512-tap STFT convolution in another order.
        let worst = maxDifference(got, expected)
        #expect(worst < 2e-3, "largest difference \(worst) dB")
    }

    @Test func embeddingMatchesOnnxruntime() throws {
        let section = fixture.dict("embedding")
        let expected = section.floats("output")
        let got = try run("embedding_model", section: section)
        #expect(got.count == 96 && expected.count == 96)
        let worst = maxDifference(got, expected)
        #expect(worst < 1e-3, "largest difference \(worst)")
    }

    @Test(arguments: ["hey_jarvis_v0.1", "alexa_v0.1", "hey_mycroft_v0.1", "hey_marvin_v0.1"])
    func headMatchesOnnxruntime(name: String) throws {
        let heads = fixture.dict("heads")
        let expected = heads.dict("outputs").dict(name)
        let plan = try OnnxModel(path: Repo.model(name)).plan(inputShape: heads.ints("input_shape"))
        for case_ in ["high", "low"] {
            let got = try plan(heads.floats("\(case_)_input"))
            let want = expected.floats(case_)
            #expect(got.count == want.count)
            #expect(abs(got[0] - want[0]) < 1e-4, "\(name) \(case_): \(got[0]) vs \(want[0])")
        }
    }

    @Test func jarvisVerifierBranchRunsAboveHalf() throws {
        // Given the window where onnxruntime scores hey_jarvis above 0.5, the If node takes the verifier branch.
        let heads = fixture.dict("heads")
        let want = heads.dict("outputs").dict("hey_jarvis_v0.1").floats("high")[0]
        #expect(want > 0.5)
        let plan = try OnnxModel(path: Repo.model("hey_jarvis_v0.1")).plan(inputShape: heads.ints("input_shape"))
        let got = try plan(heads.floats("high_input"))[0]
        #expect(got > 0.5 && abs(got - want) < 1e-4)
    }
}

func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
    var worst: Float = 0
    for (x, y) in zip(a, b) { worst = max(worst, abs(x - y)) }
    return worst
}
