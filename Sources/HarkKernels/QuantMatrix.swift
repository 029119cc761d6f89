// Matrix products with quantized weights, parallelised over weight rows on a KernelThreadPool:
//   matrix-vector  y[rows]     = W[rows × columns] · x[columns]        (decoding one token)
//   matrix-matrix  Y[n × rows] = X[n × columns] · Wᵀ                   (a prompt of n tokens)
// X is quantized once into a QuantActivations buffer (the format W's type wants), then each thread
// takes a contiguous range of W's rows and dots each of them with every row of X while it is in cache.

/// A weight matrix whose bytes someone else owns and keeps alive and unchanged while it is used,
/// typically a tensor in a memory-mapped model file: `rows` rows of `columns` values of `type`, row
/// after row with no padding.
public struct QuantMatrix: @unchecked Sendable {
    public let type: QuantType
    public let rows: Int
    public let columns: Int
    public let rowBytes: Int
    public let base: UnsafeRawPointer

    /// - Precondition: `columns` is a whole number of `type`'s blocks; `base` holds `rows · type.rowBytes(columns)` bytes.
    public init(type: QuantType, rows: Int, columns: Int, base: UnsafeRawPointer) {
        precondition(rows >= 0 && columns > 0, "QuantMatrix: \(rows) × \(columns)")
        self.type = type
        self.rows = rows
        self.columns = columns
        self.rowBytes = type.rowBytes(columns)
        self.base = base
    }

    /// The byte count of the whole matrix.
    public var byteCount: Int { rows * rowBytes }

    @inline(__always) public func row(_ i: Int) -> UnsafeRawPointer { base + i * rowBytes }

    /// y[0..<columns] = row i as floats (an embedding lookup).
    public func dequantizeRow(_ i: Int, into y: UnsafeMutablePointer<Float>) {
        precondition(i >= 0 && i < rows, "QuantMatrix.dequantizeRow: row \(i) of \(rows)")
        Quant.dequantize(type, row(i), count: columns, into: y)
    }

    /// Y[j][i] = Σp W[i][p] · X[j][p] for every row j of `x` (its `count` rows) and i in 0..<rows, on
    /// `pool`. Y is `x.count × rows` floats, row-major (`x.count == 1`: a matrix-vector product).
    public func multiply(_ x: QuantActivations, into y: UnsafeMutablePointer<Float>, pool: KernelThreadPool) {
        Self.multiply([(self, x, y)], pool: pool)
    }

    /// Several products (each `matrix.multiply(x, into: y)`), the row-by-row ones on one dispatch of
    /// the pool: decoding a token runs q, k and v (or an FFN's gate and up) as one parallel step
    /// instead of three, each of which woke the pool's threads and waited for the last of them.
    /// Prompt products that take the packed panels run one after another.
    public static func multiply(_ products: [(matrix: QuantMatrix, x: QuantActivations, y: UnsafeMutablePointer<Float>)],
                                pool: KernelThreadPool) {
        var parts: [(units: Int, rows: Int, work: (Range<Int>) -> Void)] = []
        var work = 0
        for (w, x, y) in products {
            precondition(x.format == w.type.activationFormat && x.columns == w.columns,
                         "QuantMatrix.multiply: \(w.type) weights of \(w.columns) columns need \(w.type.activationFormat) activations of \(w.columns), not \(x.format) of \(x.columns)")
            #if arch(x86_64) && HARK_X86_VNNI
            if Panels.multiply(w, x, into: y, pool: pool) { continue }
            #endif
            parts.append(((w.rows + 15) / 16, w.rows, w.rowWork(x, into: y)))
            work += w.rows * w.columns * x.count
        }
        // A small product (an expert's matrix for one token) runs on the calling thread: waking the
        // pool and waiting for it costs more than the other threads save.
        if work < serialWork {
            for part in parts { part.work(0..<part.rows) }
            return
        }
        // Units of 16 rows of one matrix, so threads' output ranges do not share a cache line of y
        // when x is one row; a range of units runs each matrix's share of it.
        let units = parts.reduce(0) { $0 + $1.units }
        pool.forEachRange(units) { range in
            var first = 0
            for part in parts {
                let lo = max(range.lowerBound, first), hi = min(range.upperBound, first + part.units)
                if lo < hi { part.work(16 * (lo - first)..<min(part.rows, 16 * (hi - first))) }
                first += part.units
            }
        }
    }

    /// Computes Y's columns `range` (the weight rows in it) for every row of `x`.
    private func rowWork(_ x: QuantActivations, into y: UnsafeMutablePointer<Float>) -> (Range<Int>) -> Void {
        let n = x.count, rows = rows, type = type, k = columns, rowBytes = rowBytes
        let row = { (i: Int) in base + i * rowBytes }
        let body = { (range: Range<Int>) in
            var i = range.lowerBound
            while i < range.upperBound {
                let group = min(4, range.upperBound - i)  // 4 rows at a time share each activation load
                var j = 0
                // Fours, then pairs, of activation rows share each weight block's unpacking, where a
                // kernel does that.
                while group == 4 && j + 4 <= n && Quant.dotRows4x4(type, row(i), rowBytes: rowBytes, (x.row(j), x.row(j + 1), x.row(j + 2), x.row(j + 3)),
                                                                   count: k, into: (y + j * rows + i, y + (j + 1) * rows + i, y + (j + 2) * rows + i, y + (j + 3) * rows + i)) {
                    j += 4
                }
                while group == 4 && j + 2 <= n && Quant.dotRows4x2(type, row(i), rowBytes: rowBytes, x.row(j), x.row(j + 1), count: k,
                                                                   into: y + j * rows + i, y + (j + 1) * rows + i) {
                    j += 2
                }
                while j < n {
                    Quant.dotRows(type, row(i), rowBytes: rowBytes, rows: group, x.row(j), count: k, into: y + j * rows + i, stride: 1)
                    j += 1
                }
                i += group
            }
        }
        #if arch(x86_64) && HARK_X86_VNNI
        // Q4_0 with one to three activation rows (decoding): 16 weight rows at a time, each activation
        // row in turn; a range's last rows short of 16 take the four-row kernels.
        if type == .q4_0 && rows >= VectorKernels.rows {
            let nb = k / type.blockLength, totals = x.blockTotals(), totalsRowBytes = x.blockTotalsBytes * nb
            return { range in
                var i = range.lowerBound
                while i + VectorKernels.rows <= range.upperBound {
                    for j in 0..<n {
                        VectorKernels.q4_0(row(i), rowBytes: rowBytes, blocks: nb, x.row(j), totals + j * totalsRowBytes, into: y + j * rows + i)
                    }
                    i += VectorKernels.rows
                }
                if i < range.upperBound { body(i..<range.upperBound) }
            }
        }
        #endif
        return body
    }

    /// Multiply-adds below which `multiply` does not use the pool.
    static let serialWork = 1 << 17

    /// The reference of `multiply`, on the calling thread: the scalar dot of each pair of rows.
    public func referenceMultiply(_ x: QuantActivations, into y: UnsafeMutablePointer<Float>) {
        precondition(x.format == type.activationFormat && x.columns == columns)
        for j in 0..<x.count {
            for i in 0..<rows { y[j * rows + i] = Quant.referenceDot(type, row(i), x.row(j), count: columns) }
        }
    }
}

/// Up to `capacity` activation rows of `columns` values, quantized for products with one weight
/// type. Allocated once (per model and batch size) and refilled per product by its one owner (not
/// Sendable: it is a mutable buffer; products only read it, on the pool's threads, while they run).
public final class QuantActivations {
    public let format: ActivationFormat
    public let columns: Int
    public let capacity: Int
    public let rowBytes: Int
    /// Rows filled by the last `quantize`.
    public private(set) var count = 0
    private let storage: UnsafeMutableRawPointer
    /// `blockTotals`' buffer (allocated on first use) and whether it holds the current rows'.
    private var totals: UnsafeMutableRawPointer?
    private var totalsValid = false

    public init(format: ActivationFormat, columns: Int, capacity: Int = 1) {
        precondition(capacity >= 1, "QuantActivations: capacity \(capacity)")
        self.format = format
        self.columns = columns
        self.capacity = capacity
        self.rowBytes = format.rowBytes(columns)
        storage = .allocate(byteCount: max(1, capacity * rowBytes), alignment: 64)
    }

    /// For products with `type` weights.
    public convenience init(for type: QuantType, columns: Int, capacity: Int = 1) {
        self.init(format: type.activationFormat, columns: columns, capacity: capacity)
    }

    deinit {
        storage.deallocate()
        totals?.deallocate()
    }

    /// Quantizes X[n × columns] (row-major floats) into rows 0..<n.
    public func quantize(_ x: UnsafePointer<Float>, rows n: Int = 1) {
        precondition(n >= 1 && n <= capacity, "QuantActivations.quantize: \(n) rows, capacity \(capacity)")
        for j in 0..<n { Quant.quantizeActivations(format, x + j * columns, count: columns, into: storage + j * rowBytes) }
        count = n
        totalsValid = false
    }

    /// As `quantize`, with the scalar reference (for tests and the reference product).
    public func referenceQuantize(_ x: UnsafePointer<Float>, rows n: Int = 1) {
        precondition(n >= 1 && n <= capacity, "QuantActivations.quantize: \(n) rows, capacity \(capacity)")
        for j in 0..<n { Quant.referenceQuantizeActivations(format, x + j * columns, count: columns, into: storage + j * rowBytes) }
        count = n
        totalsValid = false
    }

    /// Bytes of `blockTotals` a block: Q8_0's Σ q and d, Q8_K's 8 sub-block sums.
    var blockTotalsBytes: Int { format == .q8_0 ? 8 : 16 }

    /// What the prompt panels (Quant+Panels.swift) and the Q4_0 matrix-vector kernel
    /// (Quant+Vector.swift) read besides the rows, computed on first use after each `quantize`: for
    /// Q8_0, per row and block the Int32 Σ q and the Float d (8 bytes at 8 · (j · blocks + b)); for
    /// Q8_K, per row and block the sums of its 8 sub-blocks of 32 as Int16 (16 bytes at
    /// 16 · (j · blocks + b)).
    func blockTotals() -> UnsafeRawPointer {
        precondition(format == .q8_0 || format == .q8_K, "QuantActivations.blockTotals: \(format)")
        let nb = columns / format.blockLength, stride = blockTotalsBytes
        let t = totals ?? .allocate(byteCount: max(1, capacity * nb * stride), alignment: 64)
        totals = t
        if !totalsValid {
            for j in 0..<count {
                for b in 0..<nb {
                    let block = UnsafeRawPointer(storage + j * rowBytes + b * format.blockBytes), o = stride * (j * nb + b)
                    if format == .q8_0 {
                        t.storeBytes(of: Quant.sumQ8(block + 2), toByteOffset: o, as: Int32.self)
                        t.storeBytes(of: block.half(0), toByteOffset: o + 4, as: Float.self)
                    } else {
                        for s in 0..<8 {  // |Σ| ≤ 32 · 127
                            let pair = Int32(block.loadUnaligned(fromByteOffset: 260 + 4 * s, as: Int16.self))
                                + Int32(block.loadUnaligned(fromByteOffset: 262 + 4 * s, as: Int16.self))
                            t.storeBytes(of: Int16(pair), toByteOffset: o + 2 * s, as: Int16.self)
                        }
                    }
                }
            }
            totalsValid = true
        }
        return UnsafeRawPointer(t)
    }

    @inline(__always) public func row(_ j: Int) -> UnsafeRawPointer { UnsafeRawPointer(storage + j * rowBytes) }
}
