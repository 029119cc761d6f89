import HarkKernels
import HarkTestSupport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

struct QuantMatrixTests {
    /// W (rows × k of `type`), X (n × k floats).
    static func operands(_ type: QuantType, rows: Int, k: Int, n: Int, seed: UInt64) -> (w: [UInt8], x: [Float]) {
        var rng = SplitMix64(seed: seed)
        var w: [UInt8] = []
        for _ in 0..<rows { w += randomRow(type, count: k, &rng) }
        return (w, randomActivations(count: n * k, &rng))
    }

    static func product(_ type: QuantType, _ w: [UInt8], _ x: [Float], rows: Int, k: Int, n: Int, pool: KernelThreadPool?) -> [Float] {
        var y = [Float](repeating: .nan, count: n * rows)
        w.withUnsafeBytes { wb in
            let m = QuantMatrix(type: type, rows: rows, columns: k, base: wb.baseAddress!)
            let a = QuantActivations(for: type, columns: k, capacity: n + 2)
            x.withUnsafeBufferPointer { a.quantize($0.baseAddress!, rows: n) }
            y.withUnsafeMutableBufferPointer {
                if let pool { m.multiply(a, into: $0.baseAddress!, pool: pool) } else { m.referenceMultiply(a, into: $0.baseAddress!) }
            }
        }
        return y
    }

    @Test("Given odd row counts and 1, 2 and 3 threads, when multiplied, then results are identical across thread counts and near the reference",
          arguments: [QuantType.q4_0, .q4_1, .q8_0, .q4_K, .q5_K, .q6_K, .f16, .bf16, .f32])
    func threadCountsAgree(_ type: QuantType) {
        let pools = [1, 2, 3].map { KernelThreadPool(threadCount: $0) }
        let k = 2 * max(32, type.blockLength)
        for (rows, n) in [(1, 1), (3, 1), (7, 2), (33, 1), (65, 5), (8, 4)] {
            let (w, x) = Self.operands(type, rows: rows, k: k, n: n, seed: UInt64(rows * 100 + n))
            let results = pools.map { Self.product(type, w, x, rows: rows, k: k, n: n, pool: $0) }
            #expect(results[0].allSatisfy { $0.isFinite }, "\(type) \(rows)×\(k), n \(n): unwritten or non-finite outputs")
            #expect(results[1].map(\.bitPattern) == results[0].map(\.bitPattern) && results[2].map(\.bitPattern) == results[0].map(\.bitPattern),
                    "\(type) \(rows)×\(k), n \(n): thread counts disagree")
            // The multi-row kernels give each row the single-row dot's float, bit for bit.
            let single = w.withUnsafeBytes { wb in
                let a = QuantActivations(for: type, columns: k, capacity: n)
                x.withUnsafeBufferPointer { a.quantize($0.baseAddress!, rows: n) }
                return (0..<(n * rows)).map { o in Quant.dot(type, wb.baseAddress! + (o % rows) * type.rowBytes(k), a.row(o / rows), count: k) }
            }
            #expect(results[0].map(\.bitPattern) == single.map(\.bitPattern), "\(type) \(rows)×\(k), n \(n): grouped rows differ from single-row dots")
            let reference = Self.product(type, w, x, rows: rows, k: k, n: n, pool: nil)
            for i in 0..<(rows * n) {
                #expect(abs(results[0][i] - reference[i]) <= 1e-4 * max(1, abs(reference[i])), "\(type) output \(i): \(results[0][i]) vs \(reference[i])")
            }
        }
    }

    @Test("Given Q4_0 weights at panel-sized and odd shapes, when multiplied on 1 and 2 threads, then every output is the scalar reference's float bit for bit")
    func q4_0EqualsReference() {
        // From 4 activation rows Q4_0 and Q4_K products take the packed panels where the build has
        // VNNI, else the four-row dot kernels; both keep the row kernels' per-block arithmetic, which
        // for Q4_0 is the reference's. With 1–3 activation rows (decoding) and VNNI, 16 weight rows
        // at a time take the matrix-vector kernel (Quant+Vector.swift), a range's rest the four-row
        // dots; 256 × 576 is large enough for the pool.
        let pools = [1, 2].map { KernelThreadPool(threadCount: $0) }
        for (rows, k, n) in [(1, 32, 1), (15, 96, 4), (16, 64, 5), (17, 576, 9), (33, 96, 3), (48, 160, 17), (100, 576, 6), (7, 32, 8),
                             (16, 32, 1), (35, 288, 1), (48, 160, 2), (256, 576, 1), (200, 576, 2)] {
            let (w, x) = Self.operands(.q4_0, rows: rows, k: k, n: n, seed: UInt64(rows * 1000 + k + n))
            let reference = Self.product(.q4_0, w, x, rows: rows, k: k, n: n, pool: nil)
            for pool in pools {
                let fast = Self.product(.q4_0, w, x, rows: rows, k: k, n: n, pool: pool)
                #expect(fast.map(\.bitPattern) == reference.map(\.bitPattern), "Q4_0 \(rows)×\(k), n \(n), \(pool.threadCount) threads")
            }
        }
    }

    @Test("Given products of several types, shapes and activation rows, when run on one dispatch of 1 and 2 threads, then each output is that product's alone bit for bit")
    func severalProductsOnOneDispatch() {
        let pools = [1, 2].map { KernelThreadPool(threadCount: $0) }
        // Q4_0 with 1 row (the matrix-vector kernel and a 4-row rest), Q8_0 and Q6_K at odd row
        // counts, Q4_0 with 2 rows, and one with 6 (the panels, where the build has them).
        let shapes: [(QuantType, Int, Int, Int)] = [(.q4_0, 200, 576, 1), (.q8_0, 35, 576, 1), (.q6_K, 50, 512, 1), (.q4_0, 37, 160, 2), (.q4_K, 20, 256, 6)]
        let operands = shapes.enumerated().map { Self.operands($1.0, rows: $1.1, k: $1.2, n: $1.3, seed: UInt64(77 + $0)) }
        for pool in pools {
            let alone = zip(shapes, operands).map { Self.product($0.0, $1.w, $1.x, rows: $0.1, k: $0.2, n: $0.3, pool: pool) }
            var outputs = shapes.map { [Float](repeating: .nan, count: $0.3 * $0.1) }
            let matrices = zip(shapes, operands).map { shape, o in
                let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: o.w.count, alignment: 64)
                bytes.copyBytes(from: o.w)
                let a = QuantActivations(for: shape.0, columns: shape.2, capacity: shape.3)
                o.x.withUnsafeBufferPointer { a.quantize($0.baseAddress!, rows: shape.3) }
                return (bytes, QuantMatrix(type: shape.0, rows: shape.1, columns: shape.2, base: UnsafeRawPointer(bytes.baseAddress!)), a)
            }
            let pointers = outputs.indices.map { i in UnsafeMutablePointer<Float>.allocate(capacity: outputs[i].count) }
            QuantMatrix.multiply(matrices.indices.map { (matrices[$0].1, matrices[$0].2, pointers[$0]) }, pool: pool)
            for i in outputs.indices {
                outputs[i] = Array(UnsafeBufferPointer(start: pointers[i], count: outputs[i].count))
                #expect(outputs[i].map(\.bitPattern) == alone[i].map(\.bitPattern), "\(shapes[i]), \(pool.threadCount) threads")
                pointers[i].deallocate()
                matrices[i].0.deallocate()
            }
        }
    }

    @Test("Given Q4_K weights at panel-sized and odd shapes, when multiplied on 1 and 2 threads, then every output is the single-row dot's float bit for bit and near the reference")
    func q4_KEqualsSingleRows() {
        let pools = [1, 2].map { KernelThreadPool(threadCount: $0) }
        // 1–2 activation rows (the four-row dots; 256 × 512 on the pool).
        for (rows, k, n) in [(15, 256, 4), (16, 512, 5), (17, 768, 9), (33, 256, 7), (48, 512, 17), (5, 256, 12),
                             (16, 256, 1), (35, 768, 2), (48, 512, 1), (256, 512, 1)] {
            let (w, x) = Self.operands(.q4_K, rows: rows, k: k, n: n, seed: UInt64(rows * 1000 + k + n))
            let single = w.withUnsafeBytes { wb in
                let a = QuantActivations(for: .q4_K, columns: k, capacity: n)
                x.withUnsafeBufferPointer { a.quantize($0.baseAddress!, rows: n) }
                return (0..<(n * rows)).map { o in Quant.dot(.q4_K, wb.baseAddress! + (o % rows) * QuantType.q4_K.rowBytes(k), a.row(o / rows), count: k) }
            }
            let reference = Self.product(.q4_K, w, x, rows: rows, k: k, n: n, pool: nil)
            for pool in pools {
                let fast = Self.product(.q4_K, w, x, rows: rows, k: k, n: n, pool: pool)
                #expect(fast.map(\.bitPattern) == single.map(\.bitPattern), "Q4_K \(rows)×\(k), n \(n), \(pool.threadCount) threads")
                let worst = zip(fast, reference).map { abs($0 - $1) / max(1, abs($1)) }.max()!
                #expect(worst <= 1e-4, "Q4_K \(rows)×\(k), n \(n): \(worst) from the reference")
            }
        }
    }

    @Test("Given activations quantized again into the same buffer, when a prompt product runs, then it uses the new rows' block sums",
          arguments: [QuantType.q4_0, .q4_K])
    func requantizedActivations(_ type: QuantType) {
        let rows = 20, k = 512, n = 6
        let (w, x1) = Self.operands(type, rows: rows, k: k, n: n, seed: 11)
        let x2 = x1.map { -2 * $0 + 0.25 }
        let pool = KernelThreadPool(threadCount: 2)
        w.withUnsafeBytes { wb in
            let m = QuantMatrix(type: type, rows: rows, columns: k, base: wb.baseAddress!)
            let a = QuantActivations(for: type, columns: k, capacity: n)
            var y = [Float](repeating: .nan, count: n * rows)
            for x in [x1, x2] {
                x.withUnsafeBufferPointer { a.quantize($0.baseAddress!, rows: n) }
                y.withUnsafeMutableBufferPointer { m.multiply(a, into: $0.baseAddress!, pool: pool) }
                let single = (0..<(n * rows)).map { o in Quant.dot(type, m.row(o % rows), a.row(o / rows), count: k) }
                #expect(y.map(\.bitPattern) == single.map(\.bitPattern), "\(type)")
            }
        }
    }

    @Test("Given a pool, when run many times in a row, then every chunk runs exactly once per operation")
    func manyOperations() {
        for (threads, spin) in [(3, 200_000), (2, 0), (4, 50)] {  // spin 0: workers sleep between operations
            let pool = KernelThreadPool(threadCount: threads, spinIterations: spin)
            for chunks in [1, 2, 7, 12] {
                let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: chunks)
                counts.initialize(repeating: 0)
                defer { counts.deallocate() }
                let operations = 1000
                for _ in 0..<operations { pool.run(chunks: chunks) { c in counts[c] += 1 } }  // each chunk writes only its own slot
                #expect(Array(counts) == [Int](repeating: operations, count: chunks), "\(threads) threads, spin \(spin), \(chunks) chunks")
            }
        }
    }

    @Test("Given a pool of 2, when an operation's chunks are slow, then the workers take part (chunks run on more than one thread)")
    func workersTakePart() {
        let pool = KernelThreadPool(threadCount: 2)
        let threads = Mutex<Set<UInt>>([])
        for _ in 0..<50 {
            pool.run(chunks: 8) { _ in
                threads.withLock { _ = $0.insert(UInt(pthread_self())) }
                usleep(200)
            }
        }
        #expect(threads.withLock { $0.count } == 2)
    }

    @Test("Given counts and granularities, when split across threads, then the ranges cover 0..<count once with aligned bounds")
    func forEachRangeCovers() {
        let pool = KernelThreadPool(threadCount: 3)
        for (count, granularity) in [(0, 16), (1, 16), (7, 1), (33, 16), (1000, 16), (49152, 16)] {
            let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(1, count))
            hits.initialize(repeating: 0)
            defer { hits.deallocate() }
            let starts = Mutex<[Int]>([])
            pool.forEachRange(count, granularity: granularity) { r in
                for i in r { hits[i] += 1 }
                starts.withLock { $0.append(r.lowerBound) }
            }
            #expect((0..<count).allSatisfy { hits[$0] == 1 }, "count \(count)")
            #expect(starts.withLock { $0.allSatisfy { $0 % granularity == 0 } })
        }
    }

    @Test("Given a matrix, when one row is dequantized, then it equals that row's dequantization")
    func dequantizeRow() {
        let (w, _) = Self.operands(.q4_K, rows: 3, k: 512, n: 1, seed: 3)
        var y = [Float](repeating: 0, count: 512)
        w.withUnsafeBytes { wb in
            let m = QuantMatrix(type: .q4_K, rows: 3, columns: 512, base: wb.baseAddress!)
            #expect(m.byteCount == 3 * 288)
            y.withUnsafeMutableBufferPointer { m.dequantizeRow(2, into: $0.baseAddress!) }
        }
        #expect(y == dequantized(.q4_K, Array(w[576...]), count: 512, reference: true))
    }
}
