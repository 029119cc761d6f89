// A matrix stored as IEEE float16 (the precision Whisper's weights ship in), multiplied by float32
// vectors: y = A · x. Decoding one token is a chain of such products, and their cost is reading the
// weights (tiny.en's output projection alone is 51 864 × 384): half the bytes of float32, and the
// same values, since the file holds them in float16.

import CIntrinsics
#if arch(x86_64) && HARK_X86_FMA
import _Builtin_intrinsics.intel
#endif

public struct HalfMatrix: Sendable {
    public let rows: Int
    public let columns: Int
    /// Row-major binary16 bit patterns.
    public let bits: [UInt16]

    public init(rows: Int, columns: Int, bits: [UInt16]) {
        precondition(rows >= 0 && columns >= 0 && bits.count == rows * columns,
                     "HalfMatrix: \(bits.count) values for \(rows) × \(columns)")
        self.rows = rows
        self.columns = columns
        self.bits = bits
    }

    /// IEEE 754 binary16 → binary32, exact for every finite value (and ±0); infinities and NaN, which
    /// weights do not hold, come out as large finite values (`multiply` on x86-64 keeps them, as F16C
    /// does). The half's exponent and mantissa are moved to a float's low bits and scaled by 2^112
    /// (the exponent bias difference), which turns subnormal halves into the right normal floats too.
    @inline(__always)
    public static func float(_ h: UInt16) -> Float {
        let magnitude = Float(bitPattern: UInt32(h & 0x7fff) << 13) * 0x1p112
        return Float(bitPattern: magnitude.bitPattern | UInt32(h & 0x8000) << 16)
    }

    /// The reference: y[i] = Σp A[i][p] · x[p] for i in `rowRange`.
    ///   x: [columns], y: [rows] (only `rowRange` written)
    public func referenceMultiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rowRange: Range<Int>) {
        for i in rowRange {
            var sum: Float = 0
            for p in 0..<columns { sum += Self.float(bits[i * columns + p]) * x[p] }
            y[i] = sum
        }
    }

    /// The fast version of `referenceMultiply`: four rows share each load of x, two accumulators per
    /// row, one register of halves widened per step (vcvtph2ps on x86-64: sixteen with AVX-512, eight
    /// with F16C; elsewhere eight by zero-extend, shift, scale by 2^112, sign).
    public func multiply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rowRange: Range<Int>) {
        precondition(rowRange.lowerBound >= 0 && rowRange.upperBound <= rows, "HalfMatrix.multiply: rows \(rowRange) of \(rows)")
        #if arch(x86_64) && HARK_X86_AVX512
        typealias V = SIMD16<Float>
        // AVX-512: sixteen halves per vcvtph2ps.
        @inline(__always) func widen(_ p: UnsafePointer<UInt16>) -> V {
            _mm512_cvtph_ps(_mm256_loadu_si256(UnsafeRawPointer(p).assumingMemoryBound(to: __m256i.self)))
        }
        #else
        typealias V = SIMD8<Float>
        @inline(__always) func widen(_ p: UnsafePointer<UInt16>) -> V {
            #if arch(x86_64) && HARK_X86_FMA
            // F16C (part of x86-64-v3): one vcvtph2ps for the seven integer steps below.
            return _mm256_cvtph_ps(_mm_loadu_si128(UnsafeRawPointer(p).assumingMemoryBound(to: __m128i.self)))
            #else
            let h = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<UInt16>.self)
            let wide = SIMD8<UInt32>(truncatingIfNeeded: h)
            // Same-size bit casts between lanes of UInt32 and Float.
            let magnitude = unsafeBitCast((wide & 0x7fff) &<< 13, to: V.self) * 0x1p112
            return unsafeBitCast(unsafeBitCast(magnitude, to: SIMD8<UInt32>.self) | ((wide & 0x8000) &<< 16), to: V.self)
            #endif
        }
        #endif
        let w = V.scalarCount
        let k = columns, vectorEnd = k - k % (2 * w)
        @inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        bits.withUnsafeBufferPointer { a in
            let a = a.baseAddress!
            var i = rowRange.lowerBound
            while i < rowRange.upperBound {
                let n = min(4, rowRange.upperBound - i)
                // Rows past the last real one repeat it and are not stored.
                let r0 = a + i * k, r1 = a + (i + min(1, n - 1)) * k, r2 = a + (i + min(2, n - 1)) * k, r3 = a + (i + min(3, n - 1)) * k
                var s0 = V(), s1 = V(), s2 = V(), s3 = V(), t0 = V(), t1 = V(), t2 = V(), t3 = V()
                var p = 0
                while p < vectorEnd {
                    // The rows 8 ahead, as the quantized products do (Quant+AVX2.swift): Whisper's
                    // 40 MB output projection is read from memory at every decoder step.
                    let ahead = r0 + 8 * k + p
                    hark_prefetch(ahead); hark_prefetch(ahead + k); hark_prefetch(ahead + 2 * k); hark_prefetch(ahead + 3 * k)
                    let x0 = load(x + p), x1 = load(x + p + w)
                    s0 = s0.fusedAdding(widen(r0 + p), x0); t0 = t0.fusedAdding(widen(r0 + p + w), x1)
                    s1 = s1.fusedAdding(widen(r1 + p), x0); t1 = t1.fusedAdding(widen(r1 + p + w), x1)
                    s2 = s2.fusedAdding(widen(r2 + p), x0); t2 = t2.fusedAdding(widen(r2 + p + w), x1)
                    s3 = s3.fusedAdding(widen(r3 + p), x0); t3 = t3.fusedAdding(widen(r3 + p + w), x1)
                    p += 2 * w
                }
                var sums = SIMD4<Float>((s0 + t0).sum(), (s1 + t1).sum(), (s2 + t2).sum(), (s3 + t3).sum())
                while p < k {
                    sums += SIMD4(Self.float(r0[p]), Self.float(r1[p]), Self.float(r2[p]), Self.float(r3[p])) * x[p]
                    p += 1
                }
                for r in 0..<n { y[i + r] = sums[r] }
                i += n
            }
        }
    }
}
