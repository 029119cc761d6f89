// Float16 vectors against float ones, for attention over the float16 KV cache: a query·key dot
// product and a value accumulated with a weight. Scalar Swift does each element as a conversion and
// a dependent add (the sum cannot be reordered), 64 chained adds per key; these keep 8-lane partial
// sums (vcvtph2ps + FMA with AVX2), which changes only the order of the additions.

#if arch(x86_64) && HARK_X86_FMA
import _Builtin_intrinsics.intel
#endif

public enum HalfVector {
    /// Σ a[i]·b[i] over `count` elements of two float16 vectors, in ggml's order (ggml_vec_dot_f16 on
    /// AVX2, llama.cpp's Q·K without flash attention): 4 accumulators of 8 lanes over blocks of 32
    /// (fused multiply-adds), combined 0+2, 1+3, then 0+1, the lanes summed as it does (low half +
    /// high half, then pairwise), the rest added one by one in double.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float16>, _ b: UnsafePointer<Float16>, count: Int) -> Float {
        let blocks = count & ~31
        var sum: Double = 0
        #if arch(x86_64) && HARK_X86_FMA
        if blocks > 0 { sum = Double(reduce(blockSums(a, b, blocks))) }
        #else
        if blocks > 0 {
            var lanes = [SIMD8<Float>](repeating: SIMD8(), count: 4)
            var i = 0
            while i < blocks {
                for j in 0..<4 {
                    for lane in 0..<8 {
                        lanes[j][lane] += Float(a[i + 8 * j + lane]) * Float(b[i + 8 * j + lane])
                    }
                }
                i += 32
            }
            sum = Double(reduce((lanes[0] + lanes[2]) + (lanes[1] + lanes[3])))
        }
        #endif
        for i in blocks..<count { sum += Double(Float(a[i]) * Float(b[i])) }
        return Float(sum)
    }

    /// ggml's sum of 8 lanes (GGML_F32x8_REDUCE's last step): low half + high half, then
    /// (l0 + l1) + (l2 + l3).
    @inline(__always)
    public static func reduce(_ x: SIMD8<Float>) -> Float {

        let t = x.lowHalf + x.highHalf
        return (t[0] + t[1]) + (t[2] + t[3])
    }

    /// scores[r] = dot(rows + r·stride, b) for r in 0..<n: one query against n keys `stride` apart.
    /// (A loop here, where `dot` inlines, rather than a call per key from another module.) When
    /// `count` is a multiple of 32 (no element left over, as with 64 or 128), four keys at a time end with one shared
    /// reduction: each key's low + high half as `reduce` adds them, then two horizontal adds, which
    /// give (t0 + t1) + (t2 + t3) for all four at once: the same sums as `dot`'s.
    public static func dots(_ rows: UnsafePointer<Float16>, stride: Int, _ n: Int, _ b: UnsafePointer<Float16>, count: Int,
                            into scores: UnsafeMutablePointer<Float>) {
        var r = 0
        #if arch(x86_64) && HARK_X86_FMA
        if count & 31 == 0 {
            @inline(__always) func halves(_ a: UnsafePointer<Float16>) -> SIMD4<Float> {
                let x = blockSums(a, b, count)
                return x.lowHalf + x.highHalf
            }
            while r + 4 <= n {
                let row = rows + r * stride
                let first = _mm_hadd_ps(halves(row), halves(row + stride))
                let second = _mm_hadd_ps(halves(row + 2 * stride), halves(row + 3 * stride))
                _mm_storeu_ps(scores + r, _mm_hadd_ps(first, second))
                r += 4
            }
        }
        #endif
        while r < n {
            scores[r] = dot(rows + r * stride, b, count: count)
            r += 1
        }
    }

    /// out[d] for d in 0..<count from attention's 32 interleaved partial sums (`count` apart): lane l of
    /// accumulator j holds positions ≡ 8j + l (mod 32), combined 0+2, 1+3, then 0+1, and the 8 lanes
    /// summed as `reduce` does; vectors over d, so each out[d] gets exactly the scalar order.
    public static func combinePartials(_ partial: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>) {
        @inline(__always) func lane(_ l: Int, _ d: Int) -> SIMD8<Float> {
            @inline(__always) func at(_ k: Int) -> SIMD8<Float> {
                UnsafeRawPointer(partial + k * count + d).loadUnaligned(as: SIMD8<Float>.self)
            }
            return (at(l) + at(16 + l)) + (at(8 + l) + at(24 + l))
        }
        var d = 0
        while d + 8 <= count {
            // reduce: t = lanes 0..3 + lanes 4..7, then (t0 + t1) + (t2 + t3).
            let t0 = lane(0, d) + lane(4, d), t1 = lane(1, d) + lane(5, d)
            let t2 = lane(2, d) + lane(6, d), t3 = lane(3, d) + lane(7, d)
            UnsafeMutableRawPointer(out + d).storeBytes(of: (t0 + t1) + (t2 + t3), as: SIMD8<Float>.self)
            d += 8
        }
        while d < count {
            var lanes = SIMD8<Float>()
            for l in 0..<8 {
                lanes[l] = (partial[l * count + d] + partial[(16 + l) * count + d]) + (partial[(8 + l) * count + d] + partial[(24 + l) * count + d])
            }
            out[d] = reduce(lanes)
            d += 1
        }
    }

    /// For r in 0..<n: partial[(first + r) mod 32] += Float(Float16(weights[r])) · row r (rows
    /// `stride` apart, `count` values; the partial sums `count` apart): attention's value sums over
    /// 32 interleaved accumulators, a loop here for the same reason as `dots`.
    public static func accumulate(_ partial: UnsafeMutablePointer<Float>, first: Int, weights: UnsafePointer<Float>,
                                  _ rows: UnsafePointer<Float16>, stride: Int, _ n: Int, count: Int) {
        for r in 0..<n {
            accumulate(partial + ((first + r) & 31) * count, weight: Float(Float16(weights[r])), rows + r * stride, count: count)
        }
    }

    /// out[i] += weight · v[i] over `count` elements (v float16).
    @inline(__always)
    public static func accumulate(_ out: UnsafeMutablePointer<Float>, weight: Float, _ v: UnsafePointer<Float16>, count: Int) {
        var i = 0
        #if arch(x86_64) && HARK_X86_FMA
        let w = _mm256_set1_ps(weight)
        while i + 8 <= count {
            let o = UnsafeMutableRawPointer(out + i).assumingMemoryBound(to: Float.self)
            _mm256_storeu_ps(o, _mm256_fmadd_ps(w, load8(v + i), _mm256_loadu_ps(o)))
            i += 8
        }
        #endif
        while i < count {
            out[i] += weight * Float(v[i])
            i += 1
        }
    }

    #if arch(x86_64) && HARK_X86_FMA
    /// ggml_vec_dot_f16's lanes over the first `blocks` elements (a multiple of 32): 4 accumulators of
    /// 8 lanes (fused multiply-adds), combined 0+2, 1+3, then 0+1; `reduce` (or `dots`' shared form of
    /// it) finishes the sum.
    @inline(__always) static func blockSums(_ a: UnsafePointer<Float16>, _ b: UnsafePointer<Float16>, _ blocks: Int) -> SIMD8<Float> {
        var acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps()
        var i = 0
        while i < blocks {
            acc0 = _mm256_fmadd_ps(load8(a + i), load8(b + i), acc0)
            acc1 = _mm256_fmadd_ps(load8(a + i + 8), load8(b + i + 8), acc1)
            acc2 = _mm256_fmadd_ps(load8(a + i + 16), load8(b + i + 16), acc2)
            acc3 = _mm256_fmadd_ps(load8(a + i + 24), load8(b + i + 24), acc3)
            i += 32
        }
        return _mm256_add_ps(_mm256_add_ps(acc0, acc2), _mm256_add_ps(acc1, acc3))
    }

    @inline(__always) static func load8(_ p: UnsafePointer<Float16>) -> __m256 {
        _mm256_cvtph_ps(_mm_loadu_si128(UnsafeRawPointer(p).assumingMemoryBound(to: __m128i.self)))
    }
    #endif
}
