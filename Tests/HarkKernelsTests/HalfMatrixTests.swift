import HarkKernels
import HarkTestSupport
import Testing

struct HalfMatrixTests {
    @Test("Given float16 bit patterns, when widened, then normals, subnormals, zeros and signs are exact")
    func widening() {
        #expect(HalfMatrix.float(0x3c00) == 1)
        #expect(HalfMatrix.float(0xc000) == -2)
        #expect(HalfMatrix.float(0x7bff) == 65504)
        #expect(HalfMatrix.float(0x0001) == 0x1p-24)
        #expect(HalfMatrix.float(0x83ff) == -Float(0x3ff) * 0x1p-24)
        #expect(HalfMatrix.float(0x0400) == 0x1p-14)
        #expect(HalfMatrix.float(0x3555) == 0x1.554p-2)
        #expect(HalfMatrix.float(0x8000) == 0 && HalfMatrix.float(0x8000).sign == .minus)
    }

    @Test("Given random float16 matrices of odd sizes, when multiplied by a vector, then the fast kernel matches the reference", arguments: [
        (1, 1), (3, 15), (4, 16), (5, 17), (9, 33), (13, 384), (7, 1536),
    ])
    func matchesReference(rows: Int, columns: Int) {
        var rng = SplitMix64(seed: UInt64(rows * 1000 + columns))
        // Finite halves of magnitude below 4: sign, mantissa, exponent field 0...16. (The mask kept the
        // exponent's top bit too, which made infinities and NaN that the integer widening hid.)
        let bits = (0..<(rows * columns)).map { _ in UInt16(truncatingIfNeeded: rng.next()) & 0x83ff | UInt16(rng.next() % 17) << 10 }
        let matrix = HalfMatrix(rows: rows, columns: columns, bits: bits)
        let x = (0..<columns).map { _ in rng.nextFloat() }
        var fast = [Float](repeating: .nan, count: rows + 2)
        var reference = [Float](repeating: .nan, count: rows + 2)
        x.withUnsafeBufferPointer { x in
            fast.withUnsafeMutableBufferPointer { matrix.multiply(x.baseAddress!, into: $0.baseAddress! + 1, rowRange: 0..<rows) }
            reference.withUnsafeMutableBufferPointer { matrix.referenceMultiply(x.baseAddress!, into: $0.baseAddress! + 1, rowRange: 0..<rows) }
        }
        #expect(fast[0].isNaN && fast[rows + 1].isNaN, "wrote outside its rows")
        for i in 1...rows {
            let scale = max(1, abs(reference[i]))
            #expect(abs(fast[i] - reference[i]) <= 1e-4 * scale * Float(columns).squareRoot(), "row \(i - 1): \(fast[i]) vs \(reference[i])")
        }
        // A sub-range writes only its rows.
        if rows > 2 {
            var part = [Float](repeating: .nan, count: rows)
            x.withUnsafeBufferPointer { x in part.withUnsafeMutableBufferPointer { matrix.multiply(x.baseAddress!, into: $0.baseAddress!, rowRange: 1..<(rows - 1)) } }
            #expect(part[0].isNaN && part[rows - 1].isNaN && !part[1].isNaN)
        }
    }
}
