// Sgemm benchmark: reference vs fast on the wake-word shapes, GFLOP/s and ratio, single thread.
// Built by bench/kernels/run.sh together with Sources/HarkKernels/*.swift (no package target).
#if canImport(HarkKernels)
import HarkKernels  // when built as a package target against the library rather than by run.sh
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Shape { let name: String; let m: Int; let n: Int; let k: Int }

// The 20 Conv layers of openWakeWord 0.4.0 embedding_model.onnx as im2col GEMMs (M=Cout, K=Cin·kh·kw,
// N=Hout·Wout), in model order, from onnx shape inference on the model.
let embedding: [Shape] = [
    (24, 9, 2368), (24, 72, 2368), (24, 72, 2304), (48, 72, 576), (48, 144, 544), (48, 144, 544),
    (48, 144, 512), (72, 144, 256), (72, 216, 240), (72, 216, 240), (72, 216, 224), (96, 216, 56),
    (96, 288, 48), (96, 288, 48), (96, 288, 40), (96, 288, 20), (96, 288, 16), (96, 288, 16),
    (96, 288, 12), (96, 288, 1),
].enumerated().map { Shape(name: "conv\($0.offset)", m: $0.element.0, n: $0.element.2, k: $0.element.1) }

// The other models, as HarkWake calls Sgemm: melspectrogram.onnx's two Conv1d (257 filters of 512
// samples, stride 160; 8 frames per 80 ms chunk) and its MatMul to 32 mel bins; the heads' Gemm
// (transB, so weights × vector: m = outputs, n = 1); hey_mycroft's bidirectional LSTMs, one step
// (input and recurrent weights × vector, m = 4·hidden). Then the brief's row-vector forms (m = 1).
let others: [Shape] = [
    Shape(name: "mel-conv", m: 257, n: 8, k: 512),
    Shape(name: "mel-matmul", m: 8, n: 32, k: 257),
    Shape(name: "head-1536", m: 128, n: 1, k: 1536),
    Shape(name: "head-128", m: 128, n: 1, k: 128),
    Shape(name: "head-out", m: 1, n: 1, k: 128),
    Shape(name: "lstm1-W", m: 256, n: 1, k: 96),
    Shape(name: "lstm1-R", m: 256, n: 1, k: 64),
    Shape(name: "lstm2-W", m: 128, n: 1, k: 128),
    Shape(name: "lstm2-R", m: 128, n: 1, k: 32),
    Shape(name: "row-1536", m: 1, n: 128, k: 1536),
    Shape(name: "row-lstm", m: 1, n: 512, k: 128),
]

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)  // CPU time: the machine is shared
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Operands in [-1, 1]: a 64-bit LCG (its wrapping arithmetic is the algorithm).
struct Random {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    mutating func next() -> Float {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
    }
}

/// Best time per call of each body over `repeats` rounds of `calls` calls; the bodies take turns
/// round by round, so a busy spell on the (shared) machine hits them alike.
func timeBest(calls: Int, repeats: Int = 41, _ bodies: [() -> Void]) -> [Double] {
    var best = [Double](repeating: .infinity, count: bodies.count)
    for _ in 0..<repeats {
        for (index, body) in bodies.enumerated() {
            let t0 = now()
            for _ in 0..<calls { body() }
            best[index] = min(best[index], (now() - t0) / Double(calls))
        }
    }
    return best
}

struct Result { let fast: Double; let packed: Double; let reference: Double }

func measure(_ s: Shape) -> Result {
    var random = Random()
    func randomBuffer(_ count: Int) -> UnsafeMutablePointer<Float> {
        // 64-byte aligned, as the interpreter should allocate: see Sgemm.run on B's alignment.
        let p = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
        for i in 0..<count { p[i] = random.next() }
        return p
    }
    let a = randomBuffer(s.m * s.k), b = randomBuffer(s.k * s.n), bias = randomBuffer(s.m), c = randomBuffer(s.m * s.n)
    defer { a.deallocate(); b.deallocate(); bias.deallocate(); c.deallocate() }
    let flops = 2.0 * Double(s.m * s.n * s.k)
    let fastCalls = max(1, Int(1e7 / flops)), refCalls = max(1, Int(4e6 / flops))
    let packedA = PackedMatrix(rows: s.m, columns: s.k, a: a, lda: s.k)
    let times = timeBest(calls: fastCalls, [
        { Sgemm.run(m: s.m, n: s.n, k: s.k, a: a, lda: s.k, b: b, ldb: s.n, c: c, ldc: s.n, bias: bias, accumulate: false) },
        { Sgemm.run(packed: packedA, n: s.n, b: b, ldb: s.n, c: c, ldc: s.n, bias: bias, accumulate: false) },
    ])
    let reference = timeBest(calls: refCalls, repeats: 3, [
        { Sgemm.reference(m: s.m, n: s.n, k: s.k, a: a, lda: s.k, b: b, ldb: s.n, c: c, ldc: s.n, bias: bias, accumulate: false) },
    ])[0]
    return Result(fast: times[0], packed: times[1], reference: reference)
}

func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
func fmt(_ x: Double, _ digits: Int = 1) -> String {
    let p = pow(10.0, Double(digits)); return String((x * p).rounded() / p)
}

// Optional arguments: M K N triples to measure instead of the model shapes.
let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let custom = stride(from: 0, to: arguments.count - 2, by: 3).map {
    Shape(name: "custom", m: arguments[$0], n: arguments[$0 + 2], k: arguments[$0 + 1])
}

print("shape           M     K     N   ref GF/s  fast GF/s  packed GF/s  fast µs  packed µs")
var embeddingSeconds = 0.0, embeddingPacked = 0.0, embeddingFlops = 0.0
for s in custom.isEmpty ? embedding + others : custom {
    let r = measure(s)
    let flops = 2.0 * Double(s.m * s.n * s.k)
    if s.name.hasPrefix("conv") { embeddingSeconds += r.fast; embeddingPacked += r.packed; embeddingFlops += flops }
    print(pad(s.name, 12), pad("\(s.m)", 5), pad("\(s.k)", 5), pad("\(s.n)", 5),
          pad(fmt(flops / r.reference / 1e9), 10), pad(fmt(flops / r.fast / 1e9), 10),
          pad(fmt(flops / r.packed / 1e9), 12), pad(fmt(r.fast * 1e6, 2), 8), pad(fmt(r.packed * 1e6, 2), 10))
}
if custom.isEmpty {
print("embedding model, 20 conv GEMMs: \(fmt(embeddingFlops / 1e6, 2)) MFLOP in \(fmt(embeddingSeconds * 1e6)) µs"
      + " = \(fmt(embeddingFlops / embeddingSeconds / 1e9)) GFLOP/s; packed: \(fmt(embeddingPacked * 1e6)) µs"
      + " = \(fmt(embeddingFlops / embeddingPacked / 1e9)) GFLOP/s")
}
