import HarkLLM
import Testing

/// `evaluateHidden` + `logit(row:token:)`, which the constrained stage-2 decoder uses to compute only
/// the logits of the tokens its grammar allows, against the logits `evaluate` writes.
@Suite struct HiddenLogitsTests {
    /// Given SmolLM2 and a prompt longer than one batch, when it is evaluated with every row's logits
    /// and again keeping the rows after the output norm, then every token's logit at each kept row
    /// (the last batch's) is the same float, bit for bit, at 1 and 2 threads.
    @Test(arguments: [1, 2])
    func givenAPrompt_whenOnlyChosenLogitsAreComputed_thenTheyAreEvaluatesBitForBit(threads: Int) throws {
        let model = try LanguageModel(path: smolLM2Path, threads: threads, contextLength: 128, batchCapacity: 8)
        let t = model.transformer
        let tokens = model.tokenizer.encode("Turn off the kitchen light and dim the bedroom lamp to forty percent.", addSpecial: false, parseSpecial: false)
        #expect(tokens.count > 8 && tokens.count % 8 != 0, "\(tokens.count) tokens: the test wants a partial last batch")
        let vocabulary = t.hyper.vocabulary
        var logits = [Float](repeating: .nan, count: tokens.count * vocabulary)
        try logits.withUnsafeMutableBufferPointer { try t.evaluate(tokens, logits: $0.baseAddress!, allLogits: true) }
        t.reset()
        let rows = try t.evaluateHidden(tokens)
        #expect(rows == tokens.count % 8)
        var compared = 0
        for r in 0..<rows {
            let position = tokens.count - rows + r
            for id in stride(from: 0, to: vocabulary, by: 7) {
                let expected = logits[position * vocabulary + id]
                let got = t.logit(row: r, token: Int32(id))
                #expect(got.bitPattern == expected.bitPattern, "row \(r), token \(id): \(got) against \(expected)")
                if got.bitPattern != expected.bitPattern { return }
                compared += 1
            }
        }
        #expect(compared == rows * ((vocabulary + 6) / 7))
        #expect(t.position == tokens.count)
    }
}
