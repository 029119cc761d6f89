// Quantized matrix-vector benchmark: y = W · x for the stage-2 engine's shapes (SmolLM2-135M: 576 ×
// 1536 FFN, 49152 × 576 output; K-quant rows must be multiples of 256, so they run the 576 × 1536
// and 49152 × 512 shapes), per weight type, at 1 and 2 threads (or those given). Prints GB/s
// of weight bytes, GFLOP/s (2 · rows · columns per product) and the ratio to a read-bandwidth ceiling
// measured in the same run over the same bytes (an AVX2/SIMD sum of every 64-bit word: no product can
// read its weights faster). Wall-clock time, best of several rounds: a matrix product is one call that
// the pool splits, so CPU time would hide the threads. Built by bench/quant/run.sh.
#if canImport(HarkKernels)
import HarkKernels
#endif
#if canImport(Glibc)
import Glibc
#endif

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

struct Random {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407  // an LCG: wrapping is the algorithm
        return state >> 11
    }
    mutating func float() -> Float { Float(Int64(next() % 2001) - 1000) / 1000 }
}

/// Random weights of `type` with finite small float16 scales.
func randomMatrix(_ type: QuantType, rows: Int, columns: Int, _ rng: inout Random) -> UnsafeMutableRawPointer {
    let bytes = rows * type.rowBytes(columns)
    let p = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    for i in 0..<bytes { p.storeBytes(of: UInt8(truncatingIfNeeded: rng.next()), toByteOffset: i, as: UInt8.self) }
    let half = { (offset: Int, v: Float) in p.storeBytes(of: floatToHalf(v), toByteOffset: offset, as: UInt16.self) }
    for b in 0..<(bytes / type.blockBytes) {
        let o = b * type.blockBytes
        switch type {
        case .f32: p.storeBytes(of: rng.float(), toByteOffset: o, as: Float.self)
        case .f16: half(o, rng.float())
        case .bf16: p.storeBytes(of: floatToBF16(rng.float()), toByteOffset: o, as: UInt16.self)
        case .q8_0, .q4_0: half(o, 0.01 * rng.float())
        case .q4_1, .q4_K, .q5_K: half(o, 0.01 * rng.float()); half(o + 2, 0.01 * rng.float())
        case .q6_K: half(o + 208, 0.001 * rng.float())
        }
    }
    return p
}

/// Best seconds per call of `body` over rounds of `calls` calls.
func best(calls: Int, rounds: Int = 15, _ body: () -> Void) -> Double {
    var bestTime = Double.infinity
    for _ in 0..<rounds {
        let t0 = now()
        for _ in 0..<calls { body() }
        bestTime = min(bestTime, (now() - t0) / Double(calls))
    }
    return bestTime
}

/// Reads every byte of `p` on the pool's threads (an 8-lane sum of 64-bit words); the ceiling for a product.
func readAll(_ p: UnsafeRawPointer, _ bytes: Int, _ pool: KernelThreadPool, _ sink: UnsafeMutablePointer<UInt64>) {
    let chunks = bytes / 64
    pool.forEachRange(chunks, granularity: 16) { r in
        var acc = SIMD8<UInt64>()
        for c in r { acc &+= p.loadUnaligned(fromByteOffset: 64 * c, as: SIMD8<UInt64>.self) }  // a checksum: wrapping is fine
        sink[r.lowerBound % 8] = acc.wrappedSum()
    }
}

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let threadCounts = arguments.isEmpty ? [1, 2] : arguments
let shapes = [(name: "ffn 1536×576", rows: 1536, columns: 576), (name: "ffn-down 576×1536", rows: 576, columns: 1536),
              (name: "output 49152×576", rows: 49152, columns: 576), (name: "output 49152×512", rows: 49152, columns: 512)]
let types: [QuantType] = [.q4_0, .q4_1, .q4_K, .q8_0, .q5_K, .q6_K, .f16]
var rng = Random()
let sink = UnsafeMutablePointer<UInt64>.allocate(capacity: 8)
for threads in threadCounts where threads > 1 {
    let pool = KernelThreadPool(threadCount: threads)
    let seconds = best(calls: 20_000) { pool.run(chunks: threads) { _ in } }
    print("pool of \(threads) threads: an operation of \(threads) empty chunks costs \(Double(Int(seconds * 1e8)) / 100) µs (wall, best round)")
}
print("matrix-vector y = W·x, wall time, best of 15 rounds; ceiling = reading the same bytes on the same threads")
print("shape               type   threads   µs/call    GB/s  GFLOP/s  ceiling GB/s  ratio")
for threads in threadCounts {
    let pool = KernelThreadPool(threadCount: threads)
    for shape in shapes {
        let x = (0..<shape.columns).map { _ in rng.float() }
        for type in types where shape.columns % type.blockLength == 0 {  // K-quants need rows of 256s
            let weights = randomMatrix(type, rows: shape.rows, columns: shape.columns, &rng)
            defer { weights.deallocate() }
            let matrix = QuantMatrix(type: type, rows: shape.rows, columns: shape.columns, base: weights)
            let activations = QuantActivations(for: type, columns: shape.columns)
            var y = [Float](repeating: 0, count: shape.rows)
            let bytes = matrix.byteCount
            let calls = max(3, 20_000_000 / bytes)
            let seconds = y.withUnsafeMutableBufferPointer { y in
                x.withUnsafeBufferPointer { x in
                    best(calls: calls) {
                        activations.quantize(x.baseAddress!)
                        matrix.multiply(activations, into: y.baseAddress!, pool: pool)
                    }
                }
            }
            let ceiling = best(calls: calls) { readAll(weights, bytes, pool, sink) }
            let gbs = Double(bytes) / seconds / 1e9, ceilingGBs = Double(bytes) / ceiling / 1e9
            let gflops = 2 * Double(shape.rows * shape.columns) / seconds / 1e9
            func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
            func right(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
            func f(_ v: Double, _ digits: Int) -> String {
                let scale = Double([1, 10, 100, 1000][digits])
                return String(Double((v * scale).rounded()) / scale)
            }
            print(right(shape.name, 20) + right(type.description, 6)
                  + pad("\(threads)", 8) + pad(f(seconds * 1e6, 1), 10) + pad(f(gbs, 1), 8) + pad(f(gflops, 1), 9)
                  + pad(f(ceilingGBs, 1), 14) + pad(f(gbs / ceilingGBs, 2), 7))
        }
    }
}

// Prompt products: Y[n × rows] = X[n × columns] · Wᵀ, n = 64 tokens (activation quantization included).
print("\nmatrix-matrix Y = X·Wᵀ, n = 64 rows of X, wall time, best of 15 rounds")
print("shape               type   threads   µs/call  GFLOP/s  µs per token")
for threads in threadCounts {
    let pool = KernelThreadPool(threadCount: threads)
    for shape in shapes.prefix(2) {
        let n = 64
        let x = (0..<(n * shape.columns)).map { _ in rng.float() }
        for type in [QuantType.q4_0, .q4_1, .q8_0, .q4_K, .q6_K] where shape.columns % type.blockLength == 0 {
            let weights = randomMatrix(type, rows: shape.rows, columns: shape.columns, &rng)
            defer { weights.deallocate() }
            let matrix = QuantMatrix(type: type, rows: shape.rows, columns: shape.columns, base: weights)
            let activations = QuantActivations(for: type, columns: shape.columns, capacity: n)
            var y = [Float](repeating: 0, count: n * shape.rows)
            let seconds = y.withUnsafeMutableBufferPointer { y in
                x.withUnsafeBufferPointer { x in
                    best(calls: 3) {
                        activations.quantize(x.baseAddress!, rows: n)
                        matrix.multiply(activations, into: y.baseAddress!, pool: pool)
                    }
                }
            }
            let gflops = 2 * Double(n * shape.rows * shape.columns) / seconds / 1e9
            func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
            func right(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
            func f(_ v: Double) -> String { String(Double((v * 10).rounded()) / 10) }
            print(right(shape.name, 20) + right(type.description, 6) + pad("\(threads)", 8) + pad(f(seconds * 1e6), 10)
                  + pad(f(gflops), 9) + pad(f(seconds * 1e6 / Double(n)), 14))
        }
    }
}
