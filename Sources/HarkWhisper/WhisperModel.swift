import HarkKernels

/// Whisper's weights (OpenAI's `whisper/model.py`), read from a CTranslate2 `WhisperSpec` model:
///
///   encoder: conv1 (80 → d, k 3, pad 1) → GELU → conv2 (d → d, k 3, stride 2, pad 1) → GELU
///            → + sinusoidal positions → L × [x += SelfAttn(LN(x)); x += FFN(LN(x))] → LN
///   decoder: token embedding + learned positions → L × [x += CausalSelfAttn(LN(x));
///            x += CrossAttn(LN(x), encoder); x += FFN(LN(x))] → LN → logits = x · embeddingᵀ
///
/// Attention has `heads` heads of 64; FFN is Linear(d → 4d) → GELU → Linear(4d → d). CTranslate2 fuses
/// the self-attention projections into one [3d × d] `linear_0` (query, key, value; the key has no bias
/// in Whisper and a zero one here) and the cross-attention key/value into a [2d × d] `linear_1`.
/// tiny.en: d = 384, 6 heads, 4 + 4 layers, 1500 audio positions, 448 text positions, 51 864 tokens.
public struct WhisperModel: Sendable {
    public let width: Int
    public let heads: Int
    public let audioPositions: Int
    public let textPositions: Int
    public let vocabularySize: Int
    let conv1: Linear
    let conv2: Linear
    let encoderPositions: [Float]
    let encoderLayers: [EncoderLayer]
    let encoderNorm: LayerNorm
    /// [vocabulary × d]: token embeddings, and the output projection (tied), in float16.
    let embedding: HalfMatrix
    /// The output projection in int8 under the int8 compute type (the embeddings stay float16).
    let projection8: Int8Matrix?
    let decoderPositions: [Float]
    let decoderLayers: [DecoderLayer]
    let decoderNorm: LayerNorm
    public let vocabulary: WhisperVocabulary
    public let computeType: ComputeType

    /// How the dense layers compute: `float32` (the encoder's products and the cross-attention keys
    /// and values in float32, the decoder's per-token products from the file's float16), or as
    /// CTranslate2's `int8` compute type does for all of them, the convolutions and the output
    /// projection included (weights per output row and activations per row quantized to int8, int32
    /// sums). Attention is float32 either way.
    public enum ComputeType: String, Sendable, CaseIterable {
        case float32
        case int8
    }

    struct EncoderLayer: Sendable {
        let attentionNorm: LayerNorm
        let qkv: Linear
        let attentionOut: Linear
        let ffnNorm: LayerNorm
        let ffn1: Linear
        let ffn2: Linear
    }

    /// One token at a time: matrix × vector (float16, or int8), except the cross-attention keys and values,
    /// computed once per utterance over every encoder position.
    struct DecoderLayer: Sendable {
        let selfNorm: LayerNorm
        let selfQKV: HalfLinear
        let selfOut: HalfLinear
        let crossNorm: LayerNorm
        let crossQuery: HalfLinear
        let crossKV: Linear
        let crossOut: HalfLinear
        let ffnNorm: LayerNorm
        let ffn1: HalfLinear
        let ffn2: HalfLinear
    }

    /// Loads `model.bin`, `config.json` and `vocabulary.txt` from `directory` (CTranslate2's layout).
    public init(directory: String, computeType: ComputeType = .float32) throws(WhisperError) {
        let model = try CTranslate2Model(path: directory + "/model.bin")
        guard model.specName == "WhisperSpec" else {
            throw WhisperError(.unsupportedModel, "\(model.fileName): a CTranslate2 '\(model.specName)', not a WhisperSpec model")
        }
        try self.init(model, computeType: computeType,
                      vocabulary: { size throws(WhisperError) in try WhisperVocabulary(directory: directory, size: size) })
    }

    init(_ model: CTranslate2Model, computeType: ComputeType = .float32,
         vocabulary: (Int) throws(WhisperError) -> WhisperVocabulary) throws(WhisperError) {
        self.computeType = computeType
        let file = model.fileName
        let embeddingShape = try model.variable("decoder/embeddings/weight").shape
        guard embeddingShape.count == 2, embeddingShape[0] > 0, (64...4096).contains(embeddingShape[1]), embeddingShape[1] % 64 == 0 else {
            throw WhisperError(.unsupportedModel, "\(file): decoder/embeddings/weight has shape \(embeddingShape), expected [vocabulary, width] with width a multiple of 64")
        }
        let (vocab, d) = (embeddingShape[0], embeddingShape[1])
        let heads = try model.integer("encoder/num_heads")
        guard heads * 64 == d, try model.integer("decoder/num_heads") == heads else {
            throw WhisperError(.unsupportedModel, "\(file): \(heads) heads for width \(d); Whisper's heads are 64 wide")
        }
        for (flag, expected) in [("decoder/pre_norm", 1), ("decoder/alibi", 0), ("decoder/scale_embeddings", 0), ("decoder/activation", 3)] {
            if model.variables[flag] != nil, try model.integer(flag) != expected {
                throw WhisperError(.unsupportedModel, "\(file): \(flag) is \(try model.integer(flag)), Whisper's is \(expected)")
            }
        }
        func count(_ prefix: String) -> Int {
            var n = 0
            while model.variables["\(prefix)/layer_\(n)/ffn/linear_0/weight"] != nil { n += 1 }
            return n
        }
        let encoderDepth = count("encoder"), decoderDepth = count("decoder")
        guard encoderDepth > 0, decoderDepth > 0 else {
            throw WhisperError(.unsupportedModel, "\(file): no encoder or decoder layers")
        }
        let audioShape = try model.variable("encoder/position_encodings/encodings").shape
        let textShape = try model.variable("decoder/position_encodings/encodings").shape
        guard audioShape.count == 2, audioShape[1] == d, textShape.count == 2, textShape[1] == d, audioShape[0] > 0, textShape[0] > 2 else {
            throw WhisperError(.unsupportedModel, "\(file): position encodings \(audioShape) and \(textShape) do not fit width \(d)")
        }
        let mels = LogMel.bins

        // Convolutions as dense layers over im2col rows: weight [out, in, 3] is [out × in·3] row-major.
        func conv(_ prefix: String, inputs: Int) throws(WhisperError) -> Linear {
            try Linear(model, prefix, inputs: inputs * 3, outputs: d, storedShape: [d, inputs, 3], computeType: computeType)
        }
        conv1 = try conv("encoder/conv1", inputs: mels)
        conv2 = try conv("encoder/conv2", inputs: d)
        encoderPositions = try model.floats("encoder/position_encodings/encodings")
        var encoderLayers: [EncoderLayer] = []
        for i in 0..<encoderDepth {
            let p = "encoder/layer_\(i)"
            encoderLayers.append(EncoderLayer(
                attentionNorm: try LayerNorm(model, p + "/self_attention/layer_norm", width: d),
                qkv: try Linear(model, p + "/self_attention/linear_0", inputs: d, outputs: 3 * d, computeType: computeType),
                attentionOut: try Linear(model, p + "/self_attention/linear_1", inputs: d, outputs: d, computeType: computeType),
                ffnNorm: try LayerNorm(model, p + "/ffn/layer_norm", width: d),
                ffn1: try Linear(model, p + "/ffn/linear_0", inputs: d, outputs: 4 * d, computeType: computeType),
                ffn2: try Linear(model, p + "/ffn/linear_1", inputs: 4 * d, outputs: d, computeType: computeType)))
        }
        self.encoderLayers = encoderLayers
        encoderNorm = try LayerNorm(model, "encoder/layer_norm", width: d)
        embedding = HalfMatrix(rows: vocab, columns: d, bits: try model.halves("decoder/embeddings/weight", shape: [vocab, d]))
        projection8 = computeType == .int8
            ? try model.floats("decoder/embeddings/weight", shape: [vocab, d]).withUnsafeBufferPointer { Int8Matrix(weights: $0.baseAddress!, outputs: vocab, inputs: d) }
            : nil
        decoderPositions = try model.floats("decoder/position_encodings/encodings")
        var decoderLayers: [DecoderLayer] = []
        for i in 0..<decoderDepth {
            let p = "decoder/layer_\(i)"
            decoderLayers.append(DecoderLayer(
                selfNorm: try LayerNorm(model, p + "/self_attention/layer_norm", width: d),
                selfQKV: try HalfLinear(model, p + "/self_attention/linear_0", inputs: d, outputs: 3 * d, computeType: computeType),
                selfOut: try HalfLinear(model, p + "/self_attention/linear_1", inputs: d, outputs: d, computeType: computeType),
                crossNorm: try LayerNorm(model, p + "/attention/layer_norm", width: d),
                crossQuery: try HalfLinear(model, p + "/attention/linear_0", inputs: d, outputs: d, computeType: computeType),
                crossKV: try Linear(model, p + "/attention/linear_1", inputs: d, outputs: 2 * d, computeType: computeType),
                crossOut: try HalfLinear(model, p + "/attention/linear_2", inputs: d, outputs: d, computeType: computeType),
                ffnNorm: try LayerNorm(model, p + "/ffn/layer_norm", width: d),
                ffn1: try HalfLinear(model, p + "/ffn/linear_0", inputs: d, outputs: 4 * d, computeType: computeType),
                ffn2: try HalfLinear(model, p + "/ffn/linear_1", inputs: 4 * d, outputs: d, computeType: computeType)))
        }
        self.decoderLayers = decoderLayers
        decoderNorm = try LayerNorm(model, "decoder/layer_norm", width: d)
        if let projection = model.variables["decoder/projection/weight"], projection.range != (try model.variable("decoder/embeddings/weight")).range {
            throw WhisperError(.unsupportedModel, "\(file): decoder/projection/weight is not tied to the embeddings, as Whisper's is")
        }
        self.width = d
        self.heads = heads
        self.audioPositions = audioShape[0]
        self.textPositions = textShape[0]
        self.vocabularySize = vocab
        self.vocabulary = try vocabulary(vocab)
    }
}
