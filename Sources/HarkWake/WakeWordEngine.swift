/// openWakeWord's streaming detector, run on Hark's ONNX runtime.
///
/// It reproduces openwakeword 0.4.0's `Model.predict` fed 1280-sample (80 ms) chunks, step for step
/// (openwakeword/utils.py `AudioFeatures._streaming_features`, model.py `predict`):
///   1. the melspectrogram model runs on the newest 1280 + 480 samples (just 1280 for the very first
///      chunk), giving 8 (first: 5) frames of 32 mel bins, transformed as x/10 + 2; the frame buffer starts
///      as 76 rows of ones;
///   2. the embedding model runs on the newest 76 frames, giving one 96-value embedding per chunk; the
///      embedding buffer starts full of the embedding of silence (10 s of zeros);
///   3. each head runs on its newest N embeddings (N = 16 for the shipped heads) and gives a score;
///      the first 5 scores are forced to 0 while the buffers fill.
///
/// Cheap gating: when the voice-activity gate says there is nothing to hear and no head is still
/// interested, a chunk costs no model work. When speech starts again, the skipped chunks that still
/// matter are computed first (pre-roll: mel frames for the last `melBackfill` chunks, embeddings for the
/// last N − 1), so every score afterwards is the score openWakeWord would have given.
public final class WakeWordEngine {
    public static let chunkSamples = 1280
    public static let sampleRate = 16_000
    static let melContext = 480
    static let melBins = 32
    static let melWindow = 76
    static let embeddingWidth = 96
    static let warmupChunks = 5
    static let framesPerChunk = 8

    public struct Head {
        public let name: String
        public let threshold: Float
        let plan: OnnxPlan
        let window: Int
    }

    public private(set) var heads: [Head]
    /// Scores of the last processed chunk, one per head (0 while gated).
    public private(set) var scores: [Float]
    /// Chunks processed so far.
    public private(set) var chunkIndex = 0
    /// Chunks on which the models ran (for accounting and tests).
    public private(set) var chunksComputed = 0
    /// Embeddings the embedding model computed so far (the pre-roll computes several on one chunk).
    public private(set) var embeddingsComputed = 0
    /// Whether consecutive chunks compute only the embedding model's newest rows (see `OnnxPlan.runIncremental`).
    public var embeddingSlides: Bool { embedding.supportsIncremental }
    /// A head whose last score is at least this keeps the models running after the gate closes.
    public var holdScore: Float = 0.001
    /// The heads score every `stride`-th chunk (1: every chunk, as openWakeWord does). The chunks
    /// between are only buffered; at the next scored chunk the pre-roll computes their mel frames and
    /// embeddings exactly, so every score is the one openWakeWord gives at that chunk and only the
    /// heads' runs are saved (and a detection comes up to `stride − 1` chunks later). The power
    /// governor's lever; at most 4, well inside the pre-roll.
    public var stride = 1 {
        didSet { precondition((1...4).contains(stride), "stride is 1–4") }
    }
    /// Which heads are scored; an inactive head's score stays 0 (the power governor's
    /// `fewer_wake_words` lever). All active by default.
    public var activeHeads: [Bool]
    /// Whether the chunks the gate kept from the models count as silence when it reopens: their
    /// embeddings are taken as the embedding of silence (what openWakeWord's buffer starts full of)
    /// instead of being computed by the pre-roll, so a reopening costs the mel frames and the one
    /// embedding of the chunk itself instead of up to N of each. Only the chunks after the last gated
    /// one are computed exactly, so scores are openWakeWord's on speech that follows more speech and
    /// approximate right after a quiet gap (where the gap's true embeddings are those of the room's
    /// noise floor). The power governor's `silent_gaps` lever; off by default.
    public var gapsAsSilence = false

    /// The melspectrogram on the first chunk alone (1280 samples); released once it can no longer be needed.
    private var melFirst: OnnxPlan?
    private let mel: OnnxPlan
    private let embedding: OnnxPlan
    private let raw: SlidingRows
    private let melRows: SlidingRows
    private let features: SlidingRows
    private let featureBackfill: Int
    private let melBackfill: Int
    private let scratch: UnsafeMutablePointer<Float>
    /// The embedding of silence (10 s of zeros).
    private let silence: UnsafeMutablePointer<Float>
    /// Whether each of the last chunks was kept from the models by the gate (chunk j at j % count).
    private var gated: [Bool]
    /// Chunks whose frames one embedding reads (its 76 frames end with the last 4 of chunk j − 9).
    static let embeddingChunks = 10
    private var lastMelChunk = -1
    private var lastFeatureChunk = -1
    /// The chunk whose window the embedding plan last ran on (its buffers hold that window's rows).
    private var embeddedChunk = -2

    /// Loads the shared models from `directory` (melspectrogram.onnx, embedding_model.onnx) and the heads.
    public init(directory: String, heads specs: [(name: String, path: String, threshold: Float)]) throws(WakeError) {
        let melModel = try OnnxModel(path: "\(directory)/melspectrogram.onnx")
        let melFirst = try melModel.plan(inputShape: [1, Self.chunkSamples])
        self.melFirst = melFirst
        mel = try melModel.plan(inputShape: [1, Self.chunkSamples + Self.melContext])
        // The window slides 8 frames per chunk: the embedding model can then compute only its newest rows.
        embedding = try OnnxModel(path: "\(directory)/embedding_model.onnx")
            .plan(inputShape: [1, Self.melWindow, Self.melBins, 1], slidingAxis: 1, slidingStep: Self.framesPerChunk)
        guard embedding.output().values.count == Self.embeddingWidth else {
            throw WakeError(.unsupportedModel, "embedding_model.onnx: output has \(embedding.output().values.count) values, expected \(Self.embeddingWidth)")
        }
        for plan in [melFirst, mel] where plan.output().shape.last != Self.melBins {
            throw WakeError(.unsupportedModel, "melspectrogram.onnx: output \(describe(plan.output().shape)) does not end in \(Self.melBins) mel bins")
        }
        var heads: [Head] = []
        for spec in specs {
            let model = try OnnxModel(path: spec.path)
            // openWakeWord heads take [1, N, 96] embeddings and give [1, 1] (one class).
            guard model.inputShape.count == 3, let window = model.inputShape[1], window > 0, window <= 120,
                  model.inputShape[2] == Self.embeddingWidth else {
                throw WakeError(.unsupportedModel, "\(model.fileName): input \(model.inputShape.map { $0.map(String.init) ?? "?" }) is not [batch, N, 96]: not an openWakeWord head")
            }
            let plan = try model.plan(inputShape: [1, window, Self.embeddingWidth])
            guard plan.output().values.count == 1 else {
                throw WakeError(.unsupportedModel, "\(model.fileName): gives \(plan.output().values.count) scores; Hark takes heads with one score")
            }
            heads.append(Head(name: spec.name, threshold: spec.threshold, plan: plan, window: window))
        }
        guard !heads.isEmpty else { throw WakeError(.invalidArgument, "no wake word configured") }
        self.heads = heads
        scores = Array(repeating: 0, count: heads.count)
        activeHeads = Array(repeating: true, count: heads.count)
        let window = heads.map(\.window).max()!
        featureBackfill = window - 1
        // Embedding j reads frames of chunks j-9 (its last 4 frames) … j; one more for chunk 0's 5 frames.
        melBackfill = featureBackfill + 10
        raw = SlidingRows(width: 1, capacity: (melBackfill + 1) * Self.chunkSamples + Self.melContext)
        melRows = SlidingRows(width: Self.melBins, capacity: Self.melWindow + (melBackfill + 1) * 8)
        features = SlidingRows(width: Self.embeddingWidth, capacity: window + 1)
        scratch = .allocate(capacity: max(Self.chunkSamples, mel.output().values.count))
        silence = .allocate(capacity: Self.embeddingWidth)
        gated = Array(repeating: false, count: featureBackfill + 1)
        try start()
    }

    deinit {
        scratch.deallocate()
        silence.deallocate()
    }

    /// Fills the buffers as openWakeWord starts them: frames of ones, embeddings of silence.
    private func start() throws(WakeError) {
        let ones = [Float](repeating: 1, count: Self.melBins)
        ones.withUnsafeBufferPointer { melRows.append(repeating: $0.baseAddress!, rows: Self.melWindow) }
        // The embedding of 10 s of zeros: every frame of silence is the same, so one window of them.
        let input = mel.inputBuffer
        input.update(repeating: 0)
        mel.run()
        let frame = Array(mel.output().values.prefix(Self.melBins)).map { $0 / 10 + 2 }
        let window = embedding.inputBuffer
        for row in 0..<Self.melWindow {
            for bin in 0..<Self.melBins { window[row * Self.melBins + bin] = frame[bin] }
        }
        embedding.run()
        silence.update(from: embedding.output().values.baseAddress!, count: Self.embeddingWidth)
        features.append(repeating: silence, rows: features.capacity)
    }

    /// Processes one chunk of `chunkSamples` samples. `speech` is the voice-activity gate's verdict;
    /// pass `true` to run the models on every chunk as openWakeWord does.
    /// Returns the heads that crossed their threshold on this chunk (the caller applies refractory periods).
    @discardableResult
    public func process(_ chunk: UnsafeBufferPointer<Int16>, speech: Bool = true) -> [Int] {
        precondition(chunk.count == Self.chunkSamples, "a chunk is \(Self.chunkSamples) samples")
        for k in 0..<Self.chunkSamples { scratch[k] = Float(chunk[k]) }
        raw.append(scratch, rows: Self.chunkSamples)
        let c = chunkIndex
        chunkIndex += 1
        let interested = scores.contains { $0 >= holdScore }
        gated[c % gated.count] = !(speech || interested)
        guard speech || interested else {
            for k in scores.indices { scores[k] = 0 }
            return []
        }
        // Between scored chunks the scores stand; the next scored chunk computes this one's features.
        if stride > 1, c % stride != 0 { return [] }
        chunksComputed += 1
        // Pre-roll: frames and embeddings of skipped chunks that the scores from here on depend on.
        var first = max(lastFeatureChunk + 1, c - featureBackfill)
        var melFrom = max(lastMelChunk + 1, c - melBackfill)
        if gapsAsSilence, let gap = (first..<c).last(where: { gated[$0 % gated.count] }) {
            for _ in first...gap { features.append(silence, rows: 1) }
            first = gap + 1
            melFrom = max(lastMelChunk + 1, first - Self.embeddingChunks)
        }
        for j in melFrom...c { appendFrames(chunk: j, current: c) }
        melFirst = nil
        for j in first...c { appendEmbedding(chunk: j, current: c) }
        var crossed: [Int] = []
        for (k, head) in heads.enumerated() {
            guard activeHeads[k] else {
                scores[k] = 0
                continue
            }
            let input = head.plan.inputBuffer
            input.baseAddress!.update(from: features.rows(last: head.window), count: head.window * Self.embeddingWidth)
            head.plan.run()
            scores[k] = c < Self.warmupChunks ? 0 : head.plan.output().values[0]
            if scores[k] >= head.threshold { crossed.append(k) }
        }
        return crossed
    }

    /// Mel frames for chunk `j` (which ended `current − j` chunks ago) from the raw samples.
    private func appendFrames(chunk j: Int, current c: Int) {
        let plan = j == 0 ? melFirst! : mel
        let count = plan.inputCount
        let end = (c - j) * Self.chunkSamples
        plan.inputBuffer.baseAddress!.update(from: raw.rows(last: count, endingBefore: end), count: count)
        plan.run()
        let out = plan.output().values
        for k in 0..<out.count { scratch[k] = out[k] / 10 + 2 }
        melRows.append(scratch, rows: out.count / Self.melBins)
        lastMelChunk = j
    }

    /// The embedding of the 76 frames that ended with chunk `j`.
    private func appendEmbedding(chunk j: Int, current c: Int) {
        let framesBack = (c - j) * Self.framesPerChunk
        embedding.inputBuffer.baseAddress!.update(from: melRows.rows(last: Self.melWindow, endingBefore: framesBack),
                                                 count: Self.melWindow * Self.melBins)
        // Chunk j's window is chunk j−1's moved by 8 frames (chunk 0 follows the start-up window).
        if embeddedChunk == j - 1, j > 0 {
            embedding.runIncremental()
        } else {
            embedding.run()
        }
        embeddedChunk = j
        embeddingsComputed += 1
        features.append(embedding.output().values.baseAddress!, rows: 1)
        lastFeatureChunk = j
    }
}
