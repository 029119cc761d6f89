// A constant left operand (a layer's weights) packed once at model load for Sgemm.run(packed:).
//
// Layout: the m rows are cut into panels of `panelRows` rows (3 vectors of Sgemm.Wide: 48 on
// AVX-512, 24 on AVX2, 12 on NEON / baseline x86-64); the last panel is padded with zero rows.
// Panel q is Aᵀ of its rows, k-major:
//   values[q·panelRows·k + p·panelRows + r] = A[q·panelRows + r][p]      (0 if q·panelRows + r >= m)
// so for each p a panel holds its rows' A[·][p] side by side. When C has few columns (the small
// late convs, mel frames, matrix × vector in the heads and LSTM gates) a column tile loads a panel's
// 3 vectors for each p and broadcasts B[p][j]: no lanes are wasted on a narrow C and no horizontal
// sums are needed. When C has many columns, `run`'s 6-row tiles on the row-major A are as fast, so
// the matrix keeps that too (weights are small: twice 1.3 MB for the embedding model).

public struct PackedMatrix: Sendable {
    /// m: rows of A and of C.
    public let rows: Int
    /// k: columns of A, rows of B.
    public let columns: Int
    /// Rows per panel, a multiple of 6 (the tile height) and of the vector width.
    static let panelRows = 3 * Sgemm.Wide.scalarCount

    /// The panels described above, from `panelOffset(_:)` on: the array has 16 floats to spare, so
    /// that the panels can start on a 64-byte boundary wherever the array's storage lies.
    let panels: [Float]
    /// A itself, row-major with leading dimension `columns`.
    let rowMajor: [Float]

    /// Packs A[rows × columns], row-major with leading dimension lda (>= columns).
    public init(rows: Int, columns: Int, a: UnsafePointer<Float>, lda: Int) {
        precondition(rows >= 0 && columns >= 0 && lda >= columns,
                     "PackedMatrix: bad shape rows=\(rows) columns=\(columns) lda=\(lda)")
        let height = Self.panelRows
        let panels = (rows + height - 1) / height
        // Both non-empty, so that their base addresses exist when k = 0.
        var packed = [Float](repeating: 0, count: panels * height * columns + Self.alignmentSlack)
        var rowMajor = [Float](repeating: 0, count: max(rows * columns, 1))
        packed.withUnsafeMutableBufferPointer { packed in
            let start = packed.baseAddress! + Self.panelOffset(packed.baseAddress!)
            for i in 0..<rows {
                for p in 0..<columns {
                    start[(i / height) * height * columns + p * height + i % height] = a[i * lda + p]
                }
            }
        }
        for i in 0..<rows {
            for p in 0..<columns { rowMajor[i * columns + p] = a[i * lda + p] }
        }
        self.rows = rows
        self.columns = columns
        self.panels = packed
        self.rowMajor = rowMajor
    }

    /// Floats allocated past the panels, so that they can start on a 64-byte boundary.
    static let alignmentSlack = 16

    /// How many floats into storage at `base` the panels start: at the first 64-byte boundary.
    /// Panel loads that straddle cache lines measured up to 1.7× slower (96×288×1 on AVX-512: 32
    /// against 55 GFLOP/s).
    @inline(__always)
    static func panelOffset(_ base: UnsafeRawPointer) -> Int {
        // Float storage is 4-byte aligned, so the distance to the boundary is whole floats.
        let misalignment = Int(bitPattern: base) % 64
        return misalignment == 0 ? 0 : (64 - misalignment) / 4
    }

    /// Packs A[rows × columns] given as a row-major array.
    public init(rows: Int, columns: Int, _ a: [Float]) {
        precondition(a.count == rows * columns, "PackedMatrix: \(a.count) values for \(rows) × \(columns)")
        let source = a.isEmpty ? [0] : a  // a base address even for an empty matrix
        self = source.withUnsafeBufferPointer { PackedMatrix(rows: rows, columns: columns, a: $0.baseAddress!, lda: columns) }
    }
}
