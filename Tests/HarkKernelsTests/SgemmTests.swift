import Testing
import HarkTestSupport
import HarkKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Sgemm.run, and Sgemm.run(packed:) on the same A packed, against Sgemm.reference. Every matrix lives in `GuardedFloats`, so a kernel that reads or
/// writes past the end of A, B, C or bias crashes the test, and C's padding between rows is checked
/// to be untouched.
@Suite struct SgemmTests {
    /// The sizes the tiles meet at their edges: 1, primes, and one either side of the vector widths.
    static let edgeSizes = [1, 2, 3, 5, 7, 13, 17, 31, 33]

    @Test("Given odd m, n, k, when run computes C = A·B, then it matches the reference",
          arguments: edgeSizes, edgeSizes)
    func oddSizes(m: Int, n: Int) {
        for k in Self.edgeSizes {
            check(Problem(m: m, n: n, k: k, bias: false, accumulate: false))
            check(Problem(m: m, n: n, k: k, bias: true, accumulate: false))
            check(Problem(m: m, n: n, k: k, bias: false, accumulate: true))
            check(Problem(m: m, n: n, k: k, bias: true, accumulate: true))
        }
    }

    @Test("Given leading dimensions larger than the rows, when run, then it reads and writes only the rows",
          arguments: edgeSizes)
    func strides(k: Int) {
        for (m, n) in [(1, 1), (5, 3), (7, 13), (13, 17), (6, 33), (31, 64), (2, 100)] {
            for pad in [(1, 0, 0), (0, 3, 0), (0, 0, 5), (7, 2, 1)] {
                check(Problem(m: m, n: n, k: k, lda: k + pad.0, ldb: n + pad.1, ldc: n + pad.2,
                                  bias: true, accumulate: pad.0 % 2 == 1))
            }
        }
    }

    @Test("Given long k and m leaving 1 to 11 rows past blocks of six or twelve, when run, then it matches",
          arguments: [13, 17, 19, 23, 24, 31])
    func longK(m: Int) {
        for (n, k) in [(40, 200), (33, 193), (16, 192), (12, 257), (64, 300)] {
            check(Problem(m: m, n: n, k: k, ldc: n + 2, bias: true, accumulate: true))
        }
        check(Problem(m: m, n: 70, k: 191, bias: false, accumulate: false))
    }

    @Test("Given B on and off 64-byte boundaries (off: copied window by window on AVX-512), when run, then it matches")
    func alignmentOfB() {
        // B ends at a page boundary, so it starts 64-byte aligned exactly when its size is a multiple of 64 bytes.
        for (m, n, k, ldb) in [(13, 64, 10, 64), (13, 64, 10, 65), (7, 100, 31, 256), (48, 256, 144, 256),
                               (12, 70, 9, 512), (25, 40, 33, 48), (25, 40, 33, 41)] {
            check(Problem(m: m, n: n, k: k, ldb: ldb, ldc: n + 1, bias: true, accumulate: true))
            check(Problem(m: m, n: n, k: k, ldb: ldb, bias: false, accumulate: false))
        }
    }

    @Test("Given widths around every tile width, when run, then each column is computed once",
          arguments: [4, 6, 8, 9, 11, 15, 16, 20, 24, 25, 32, 40, 47, 48, 56, 63, 64, 65, 96, 127, 128, 129, 200])
    func columnWindows(n: Int) {
        for m in [1, 4, 6, 7, 12] {
            // accumulate: a column stored twice by overlapping windows would be added twice.
            check(Problem(m: m, n: n, k: 19, ldc: n + 3, bias: true, accumulate: true))
            check(Problem(m: m, n: n, k: 8, bias: false, accumulate: false))
        }
    }

    @Test("Given m around the packed panel heights, when run on narrow C, then it matches the reference",
          arguments: [1, 5, 11, 12, 13, 23, 24, 25, 47, 48, 49, 95, 97])
    func packedPanels(m: Int) {
        for n in [1, 2, 3, 4, 5, 8, 12, 16, 20, 31] {
            check(Problem(m: m, n: n, k: 37, ldc: n + 1, bias: true, accumulate: n % 2 == 0))
        }
        // A matrix times a contiguous vector, as the LSTM gates and Gemm heads call it.
        check(Problem(m: m, n: 1, k: 64, bias: true, accumulate: true))
    }

    @Test("Given k = 0, when run, then C is bias (plus old C when accumulating)")
    func emptyK() {
        check(Problem(m: 7, n: 9, k: 0, bias: true, accumulate: false))
        check(Problem(m: 7, n: 9, k: 0, bias: true, accumulate: true))
        check(Problem(m: 1, n: 70, k: 0, bias: false, accumulate: false))
    }

    /// Every GEMM the wake-word models run: the 20 embedding convs (im2col), mel, heads, LSTM gates.
    static let wakeShapes: [(m: Int, k: Int, n: Int)] = [
        (24, 9, 2368), (24, 72, 2368), (24, 72, 2304), (48, 72, 576), (48, 144, 544), (48, 144, 512),
        (72, 144, 256), (72, 216, 240), (72, 216, 224), (96, 216, 56), (96, 288, 48), (96, 288, 40),
        (96, 288, 20), (96, 288, 16), (96, 288, 12), (96, 288, 1),
        (257, 512, 8), (514, 512, 8), (1, 1536, 128), (1, 128, 128), (1, 96, 256), (1, 128, 512),
        (96, 288, 2), (1, 96, 384),
    ]

    @Test("Given the shapes of the wake-word models, when run, then it matches the reference",
          arguments: wakeShapes)
    func modelShapes(shape: (m: Int, k: Int, n: Int)) {
        check(Problem(m: shape.m, n: shape.n, k: shape.k, bias: true, accumulate: false))
        check(Problem(m: shape.m, n: shape.n, k: shape.k, bias: false, accumulate: true))
    }

    @Test("Given a result off by one product, when compared, then the tolerance rejects it")
    func toleranceCanFail() {
        // The check below must not be so loose that a kernel dropping a term of the sum would pass.
        let problem = Problem(m: 5, n: 9, k: 31, bias: true, accumulate: false)
        let (got, want, bound) = problem.results { o in
            Sgemm.run(m: o.m, n: o.n, k: o.k - 1, a: o.a, lda: o.lda, b: o.b, ldb: o.ldb, c: o.c, ldc: o.ldc,
                      bias: o.bias, accumulate: false)
        }
        let worst = zip(zip(got, want), bound).map { abs($0.0 - $0.1) / $1 }.max() ?? 0
        #expect(worst > 1, "dropping the last k term should exceed the tolerance, got \(worst) of it")
    }

    // MARK: - Helpers

    func check(_ problem: Problem, sourceLocation: SourceLocation = #_sourceLocation) {
        compare(problem, "run", sourceLocation) { o in
            Sgemm.run(m: o.m, n: o.n, k: o.k, a: o.a, lda: o.lda, b: o.b, ldb: o.ldb, c: o.c, ldc: o.ldc,
                      bias: o.bias, accumulate: o.accumulate)
        }
        let packed = PackedMatrix(rows: problem.m, columns: problem.k, a: problem.a.pointer, lda: problem.lda)
        compare(problem, "run(packed:)", sourceLocation) { o in
            Sgemm.run(packed: packed, n: o.n, b: o.b, ldb: o.ldb, c: o.c, ldc: o.ldc, bias: o.bias, accumulate: o.accumulate)
        }
    }

    func compare(_ problem: Problem, _ name: String, _ sourceLocation: SourceLocation,
                 _ compute: (Problem.Operands) -> Void) {
        let (got, want, bound) = problem.results(compute)
        for index in got.indices {
            let error = abs(got[index] - want[index])
            // A NaN (a lane never written, garbage read) fails here too: the comparison is false.
            guard error <= bound[index] else {
                let place = "C element \(index) (row \(index / problem.n), column \(index % problem.n))"
                let values = "is \(got[index]), reference \(want[index]), error \(error) > bound \(bound[index])"
                Issue.record("\(name), \(problem): \(place) \(values)", sourceLocation: sourceLocation)
                return
            }
        }
        #expect(problem.paddingUntouched, "\(name), \(problem): wrote C between rows (columns n..<ldc)",
                sourceLocation: sourceLocation)
    }
}

/// One GEMM with random operands, its C initialised to random values (read when accumulating) and the
/// padding of each C row set to a sentinel.
final class Problem: CustomStringConvertible {
    let m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int, useBias: Bool, accumulate: Bool
    let a: GuardedFloats, b: GuardedFloats, bias: GuardedFloats, c: GuardedFloats
    let initialC: [Float]
    static let sentinel: Float = 1234.5

    init(m: Int, n: Int, k: Int, lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil, bias: Bool, accumulate: Bool) {
        self.m = m; self.n = n; self.k = k
        self.lda = lda ?? k; self.ldb = ldb ?? n; self.ldc = ldc ?? n
        self.useBias = bias; self.accumulate = accumulate
        var rng = SplitMix64(seed: UInt64(m * 1_000_003 + n * 1009 + k * 7 + (bias ? 1 : 0) + (accumulate ? 2 : 0)))
        // Last rows are only as long as they need to be, so the guard page starts right after them.
        a = GuardedFloats(count: m == 0 ? 0 : (m - 1) * self.lda + k) { _ in rng.nextFloat() }
        b = GuardedFloats(count: k == 0 ? 0 : (k - 1) * self.ldb + n) { _ in rng.nextFloat() }
        self.bias = GuardedFloats(count: m) { _ in rng.nextFloat() }
        let ldcValue = self.ldc
        c = GuardedFloats(count: (m - 1) * ldcValue + n) { index in
            index % ldcValue < n ? rng.nextFloat() : Problem.sentinel
        }
        initialC = Array(c.buffer)
    }

    var description: String {
        "m=\(m) n=\(n) k=\(k) lda=\(lda) ldb=\(ldb) ldc=\(ldc) bias=\(useBias) accumulate=\(accumulate)"
    }

    struct Operands {
        let m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int
        let a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>
        let bias: UnsafePointer<Float>?, accumulate: Bool
    }

    /// Runs `compute` on C, then the reference on a copy; returns both m×n results and, per element,
    /// the error bound: 2·(k + 2)·ε·(Σp |A[i][p]·B[p][j]| + |bias[i]| + |old C|), twice the textbook
    /// bound for a recursive sum, since the two sides sum in different orders.
    func results(_ compute: (Operands) -> Void) -> (got: [Float], want: [Float], bound: [Float]) {
        let operands = Operands(m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, a: a.pointer, b: b.pointer,
                                c: c.pointer, bias: useBias ? bias.pointer : nil, accumulate: accumulate)
        _ = c.buffer.update(fromContentsOf: initialC)
        compute(operands)
        let got = compact(c.buffer)
        finalC = Array(c.buffer)

        var expected = initialC
        expected.withUnsafeMutableBufferPointer { e in
            Sgemm.reference(m: m, n: n, k: k, a: a.pointer, lda: lda, b: b.pointer, ldb: ldb,
                            c: e.baseAddress!, ldc: ldc, bias: useBias ? bias.pointer : nil, accumulate: accumulate)
        }
        let want = compact(expected[...])

        var bound = [Float]()
        for i in 0..<m {
            for j in 0..<n {
                var scale = 0.0
                for p in 0..<k { scale += Double(abs(a.pointer[i * lda + p] * b.pointer[p * ldb + j])) }
                if useBias { scale += Double(abs(bias.pointer[i])) }
                if accumulate { scale += Double(abs(initialC[i * ldc + j])) }
                bound.append(Float(2 * Double(k + 2) * Double(Float.ulpOfOne) * scale))
            }
        }
        return (got, want, bound)
    }

    private var finalC: [Float] = []

    /// Whether the columns n..<ldc of every C row still hold the sentinel after `results`.
    var paddingUntouched: Bool {
        finalC.indices.allSatisfy { $0 % ldc < n || finalC[$0] == Problem.sentinel }
    }

    private func compact<C: Collection<Float>>(_ full: C) -> [Float] where C.Index == Int {
        var out = [Float]()
        for i in 0..<m { for j in 0..<n { out.append(full[full.startIndex + i * ldc + j]) } }
        return out
    }
}

/// `count` floats placed so that the last one ends right before an unreadable page.
final class GuardedFloats {
    let pointer: UnsafeMutablePointer<Float>
    private let mapping: UnsafeMutableRawPointer
    private let mappedBytes: Int
    let count: Int

    init(count: Int, _ value: (Int) -> Float) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let bytes = count * MemoryLayout<Float>.stride
        let dataPages = (bytes + page - 1) / page
        mappedBytes = (dataPages + 1) * page
        guard let raw = mmap(nil, mappedBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != MAP_FAILED else { fatalError("mmap of \(mappedBytes) bytes failed") }
        mapping = raw
        let guardPage = raw + dataPages * page
        precondition(mprotect(guardPage, page, PROT_NONE) == 0, "mprotect failed")
        pointer = (guardPage - bytes).bindMemory(to: Float.self, capacity: max(count, 1))
        self.count = count
        for index in 0..<count { pointer[index] = value(index) }
    }

    var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    deinit { munmap(mapping, mappedBytes) }
}

