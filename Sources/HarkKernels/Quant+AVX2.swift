// The dot products of quantized rows with AVX2 (x86-64-v3), through clang's intrinsics: Swift's SIMD
// types have no unsigned×signed byte multiply-add, and their integer widenings lower to calls rather
// than vpmovsx/vpmaddwd, so the integer core is written with the instructions ggml uses
// (vpmaddubsw, vpmaddwd, vpshufb). The lane structure is ggml's AVX2 one (ggml-cpu/arch/x86/quants.c):
// per block, 8 int32 lane sums → float, fused into 8 float accumulators, summed at the end; the lane
// integers and the float operations are the same by construction, so each row's result should be the
// float ggml's x86 vec_dot gives (llama.cpp's path for the types it does not repack into interleaved
// rows); no test compares with ggml itself yet (tests hold these to Quant+Reference.swift). Q4_0 and
// Q4_K are the exceptions: they take one float step per block from exact integer block sums (Q4_0's is
// the scalar reference's arithmetic; see BlockKernel), so that their prompt products can take the
// packed panels of Quant+Panels.swift and still give every row the single-row float.

#if arch(x86_64) && HARK_X86_FMA
import _Builtin_intrinsics.intel
import CIntrinsics

/// One type's dot product as ggml's AVX2 loop: an accumulator, a step over one block (x's `xBytes`
/// and y's `yBytes`), a final reduction. `dot4` runs four weight rows against the same
/// activations: independent accumulators the core overlaps (a single row's loop waits on its one
/// fused multiply-add chain), the activation loads shared. Each row's arithmetic is unchanged, so its
/// result is bit for bit the single-row one.
///
/// Both loops also prefetch the weight rows 8 ahead (the group after the next), one 64-byte line for
/// each 64 bytes a step reads across its four rows. Decoding a token reads every weight once, from
/// memory, and without the prefetches the loop stalled on those loads: single-threaded SmolLM2
/// decoding ran at about 6 GB/s of weights here, where a plain streaming read reaches 27 GB/s, and
/// went from 63 to about 123 tokens/s with them. A prefetch never faults, so those past the last row
/// (or into another thread's rows) cost only the bandwidth.
protocol Kernel {
    associatedtype Accumulator
    static var xBytes: Int { get }
    static var yBytes: Int { get }
    static var zero: Accumulator { get }
    static func step(_ acc: inout Accumulator, _ bx: UnsafeRawPointer, _ by: UnsafeRawPointer)
    static func finish(_ acc: Accumulator) -> Float
}

extension Kernel {
    @inline(__always) static func dot(_ x: UnsafeRawPointer, _ y: UnsafeRawPointer, _ nb: Int) -> Float {
        var a = zero
        for i in 0..<nb { step(&a, x + xBytes * i, y + yBytes * i) }
        return finish(a)
    }

    @inline(__always) static func prefetchGroup(_ ahead: UnsafeRawPointer, _ i: Int) { AVX2.prefetchGroup(ahead, i, xBytes) }

    @inline(__always) static func dot4(_ x: UnsafeRawPointer, _ rowBytes: Int, _ y: UnsafeRawPointer, _ nb: Int) -> SIMD4<Float> {
        var a0 = zero, a1 = zero, a2 = zero, a3 = zero
        let ahead = x + 8 * rowBytes
        for i in 0..<nb {
            let by = y + yBytes * i, bx = x + xBytes * i
            prefetchGroup(ahead, i)
            step(&a0, bx, by)
            step(&a1, bx + rowBytes, by)
            step(&a2, bx + 2 * rowBytes, by)
            step(&a3, bx + 3 * rowBytes, by)
        }
        return SIMD4(finish(a0), finish(a1), finish(a2), finish(a3))
    }

    /// `dot4` against two activation rows at once (prompt products): each weight block is loaded and
    /// unpacked once for both (the compiler merges the two steps' identical loads and unpacking).
    /// Eight accumulators, of one register and at most a second (Q4_K's minimums).
    @inline(__always) static func dot4x2(_ x: UnsafeRawPointer, _ rowBytes: Int, _ y0: UnsafeRawPointer, _ y1: UnsafeRawPointer,
                                         _ nb: Int) -> (SIMD4<Float>, SIMD4<Float>) {
        var a0 = zero, a1 = zero, a2 = zero, a3 = zero, b0 = zero, b1 = zero, b2 = zero, b3 = zero
        let ahead = x + 8 * rowBytes
        for i in 0..<nb {
            let c0 = y0 + yBytes * i, c1 = y1 + yBytes * i, bx = x + xBytes * i
            prefetchGroup(ahead, i)
            step(&a0, bx, c0); step(&b0, bx, c1)
            step(&a1, bx + rowBytes, c0); step(&b1, bx + rowBytes, c1)
            step(&a2, bx + 2 * rowBytes, c0); step(&b2, bx + 2 * rowBytes, c1)
            step(&a3, bx + 3 * rowBytes, c0); step(&b3, bx + 3 * rowBytes, c1)
        }
        return (SIMD4(finish(a0), finish(a1), finish(a2), finish(a3)), SIMD4(finish(b0), finish(b1), finish(b2), finish(b3)))
    }

    /// `dot4` against four activation rows at once: each weight block unpacked once for four.
    /// Sixteen one-register accumulators (the 32-value types), which x86-64-v4's 32 vector registers
    /// hold beside the unpacking.
    @inline(__always) static func dot4x4(_ x: UnsafeRawPointer, _ rowBytes: Int, _ y: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                                         _ nb: Int) -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
        var a0 = zero, a1 = zero, a2 = zero, a3 = zero, b0 = zero, b1 = zero, b2 = zero, b3 = zero
        var c0 = zero, c1 = zero, c2 = zero, c3 = zero, d0 = zero, d1 = zero, d2 = zero, d3 = zero
        let ahead = x + 8 * rowBytes
        for i in 0..<nb {
            let e0 = y.0 + yBytes * i, e1 = y.1 + yBytes * i, e2 = y.2 + yBytes * i, e3 = y.3 + yBytes * i, bx = x + xBytes * i
            prefetchGroup(ahead, i)
            step(&a0, bx, e0); step(&b0, bx, e1); step(&c0, bx, e2); step(&d0, bx, e3)
            let x1 = bx + rowBytes, x2 = bx + 2 * rowBytes, x3 = bx + 3 * rowBytes
            step(&a1, x1, e0); step(&b1, x1, e1); step(&c1, x1, e2); step(&d1, x1, e3)
            step(&a2, x2, e0); step(&b2, x2, e1); step(&c2, x2, e2); step(&d2, x2, e3)
            step(&a3, x3, e0); step(&b3, x3, e1); step(&c3, x3, e2); step(&d3, x3, e3)
        }
        return (SIMD4(finish(a0), finish(a1), finish(a2), finish(a3)), SIMD4(finish(b0), finish(b1), finish(b2), finish(b3)),
                SIMD4(finish(c0), finish(c1), finish(c2), finish(c3)), SIMD4(finish(d0), finish(d1), finish(d2), finish(d3)))
    }
}

/// A type whose kernels take one float step per block from the block's exact integer sums (Q4_0,
/// Q4_K): four rows' blocks against one activation block (`step4`, `scales4` read once for as many
/// activation rows as share them); the four-row products are built from those.
protocol BlockKernel {
    associatedtype Scales
    static var xBytes: Int { get }
    static var yBytes: Int { get }
    static func scales4(_ bx: UnsafeRawPointer, _ rowBytes: Int) -> Scales
    static func step4(_ acc: inout __m128, _ bx: UnsafeRawPointer, _ rowBytes: Int, _ scales: Scales, _ by: UnsafeRawPointer)
}

extension BlockKernel {
    @inline(__always) static func dot4(_ x: UnsafeRawPointer, _ rowBytes: Int, _ y: UnsafeRawPointer, _ nb: Int) -> SIMD4<Float> {
        var acc = _mm_setzero_ps()
        let ahead = x + 8 * rowBytes
        for i in 0..<nb {
            let bx = x + xBytes * i
            AVX2.prefetchGroup(ahead, i, xBytes)
            step4(&acc, bx, rowBytes, scales4(bx, rowBytes), y + yBytes * i)
        }
        return acc
    }

    @inline(__always) static func dot4x2(_ x: UnsafeRawPointer, _ rowBytes: Int, _ y0: UnsafeRawPointer, _ y1: UnsafeRawPointer,
                                         _ nb: Int) -> (SIMD4<Float>, SIMD4<Float>) {
        var a0 = _mm_setzero_ps(), a1 = _mm_setzero_ps()
        let ahead = x + 8 * rowBytes
        for i in 0..<nb {
            let bx = x + xBytes * i
            AVX2.prefetchGroup(ahead, i, xBytes)
            let scales = scales4(bx, rowBytes)
            step4(&a0, bx, rowBytes, scales, y0 + yBytes * i); step4(&a1, bx, rowBytes, scales, y1 + yBytes * i)
        }
        return (a0, a1)
    }

    @inline(__always) static func dot4x4(_ x: UnsafeRawPointer, _ rowBytes: Int, _ y: (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer),
                                         _ nb: Int) -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
        var a0 = _mm_setzero_ps(), a1 = _mm_setzero_ps(), a2 = _mm_setzero_ps(), a3 = _mm_setzero_ps()
        let ahead = x + 8 * rowBytes
        for i in 0..<nb {
            let bx = x + xBytes * i
            AVX2.prefetchGroup(ahead, i, xBytes)
            let scales = scales4(bx, rowBytes)
            step4(&a0, bx, rowBytes, scales, y.0 + yBytes * i); step4(&a1, bx, rowBytes, scales, y.1 + yBytes * i)
            step4(&a2, bx, rowBytes, scales, y.2 + yBytes * i); step4(&a3, bx, rowBytes, scales, y.3 + yBytes * i)
        }
        return (a0, a1, a2, a3)
    }
}

enum AVX2 {
    /// Block `i`'s share (blocks of `xBytes`) of the four-row group at `ahead` (8 rows past the current
    /// group's first): one prefetch a 64-byte line.
    @inline(__always) static func prefetchGroup(_ ahead: UnsafeRawPointer, _ i: Int, _ xBytes: Int) {
        let p = ahead + 4 * xBytes * i
        var o = 0
        while o < 4 * xBytes { hark_prefetch(p + o); o += 64 }
    }

    /// The sum of 8 int32 lanes.
    @inline(__always) static func total(_ p: __m256i) -> Int32 {
        unsafeBitCast(_mm_add_epi32(p.lowHalf, p.highHalf), to: SIMD4<Int32>.self).wrappedSum()
    }

    /// The sums of four vectors' 8 int32 lanes, as 4 lanes (vphaddd).
    @inline(__always) static func totals(_ p0: __m256i, _ p1: __m256i, _ p2: __m256i, _ p3: __m256i) -> __m128i {
        let h = _mm256_hadd_epi32(_mm256_hadd_epi32(p0, p1), _mm256_hadd_epi32(p2, p3))
        return _mm_add_epi32(h.lowHalf, h.highHalf)
    }

    /// The float16 at `p + offset` as a float in all 8 lanes: vpbroadcastw + vcvtph2ps. (The scalar
    /// `Float(Float16(bitPattern:))` loads with vpinsrw into whatever register LLVM picks, often the
    /// accumulator, which chains each block's scale to the previous block's sum: Q6_K dot products
    /// went 66 → 27 ns a row of 512 when only that was changed.)
    @inline(__always) static func halves(_ p: UnsafeRawPointer, _ offset: Int) -> __m256 {
        _mm256_cvtph_ps(_mm_set1_epi16(Int16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
    }

    /// The two float16 at `p + offset` as floats in lanes 0 and 1: a zero-extending 32-bit load (vmovd),
    /// so no false dependency. (Lane 0 of `halves` as a scalar compiles back to vpinsrw.)
    @inline(__always) static func halfPair(_ p: UnsafeRawPointer, _ offset: Int) -> __m128 {
        _mm_cvtph_ps(_mm_cvtsi32_si128(p.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
    }

    /// −x, exactly (the sign bit flipped).
    @inline(__always) static func negate(_ x: __m128) -> __m128 { _mm_xor_ps(x, _mm_set1_ps(-0.0)) }

    @inline(__always) static func load128(_ p: UnsafeRawPointer) -> __m128i { _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)) }
    @inline(__always) static func load256(_ p: UnsafeRawPointer) -> __m256i { _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self)) }

    /// 32 nibbles from 16 bytes: low nibbles in bytes 0–15, high nibbles in 16–31.
    @inline(__always) static func nibbles(_ p: UnsafeRawPointer) -> __m256i {
        let raw = load128(p)
        return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0xF))
    }

    /// 8 float lanes, each the sum of 4 adjacent products of unsigned bytes `u` and signed bytes `s`
    /// (pairs may not exceed ±32767: true of every caller, whose |u·s| ≤ 63·127).
    @inline(__always) static func sumPairsUS(_ u: __m256i, _ s: __m256i) -> __m256 {
        _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)))
    }

    /// As `sumPairsUS` for two signed operands: |x| times y with x's sign.
    @inline(__always) static func sumPairsSS(_ x: __m256i, _ y: __m256i) -> __m256 {
        sumPairsUS(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
    }

    @inline(__always) static func hsum(_ x: __m256) -> Float {
        var r = _mm_add_ps(x.highHalf, x.lowHalf)
        r = _mm_add_ps(r, _mm_movehl_ps(r, r))
        r = _mm_add_ss(r, _mm_movehdup_ps(r))
        return _mm_cvtss_f32(r)
    }

    /// The 8 scales and 8 mins of a q4_K/q5_K block as bytes 0–7 and 8–15 (ggml's utmp shuffle).
    @inline(__always) static func scalesAndMins(_ p: UnsafeRawPointer) -> __m128i {
        let u0 = p.loadUnaligned(as: UInt32.self), u1 = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let u2 = p.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        let k1: UInt32 = 0x3f3f_3f3f, k2: UInt32 = 0x0f0f_0f0f, k3: UInt32 = 0x0303_0303
        let t3 = ((u2 >> 4) & k2) | (((u1 >> 6) & k3) << 4)
        let t2 = u1 & k1
        let t1 = (u2 & k2) | (((u0 >> 6) & k3) << 4)
        let t0 = u0 & k1
        return _mm_set_epi32(Int32(bitPattern: t3), Int32(bitPattern: t2), Int32(bitPattern: t1), Int32(bitPattern: t0))
    }

    /// A vpshufb control that broadcasts 16-bit lane `i` of each 128-bit half.
    @inline(__always) static func broadcastLane16(_ i: Int) -> __m256i {
        _mm256_set1_epi16(Int16(2 * i) | Int16(2 * i + 1) << 8)
    }

    // MARK: Dot products (x: weight row, y: activations, nb: blocks)

    struct AccumulatorAndSum { var acc: __m256; var sum: Float }
    struct AccumulatorAndMins { var acc: __m256; var mins: __m128 }

    enum Q8_0: Kernel {
        static let xBytes = 34, yBytes = 34
        static var zero: __m256 { _mm256_setzero_ps() }
        @inline(__always) static func step(_ acc: inout __m256, _ bx: UnsafeRawPointer, _ by: UnsafeRawPointer) {
            let d = _mm256_mul_ps(halves(bx, 0), halves(by, 0))
            acc = _mm256_fmadd_ps(d, sumPairsSS(load256(bx + 2), load256(by + 2)), acc)
        }
        @inline(__always) static func finish(_ acc: __m256) -> Float { hsum(acc) }
    }

    /// Q4_0 in the scalar reference's arithmetic (ggml's dot of q4_0 with q8_0): each block's integer
    /// sum Σ (q − 8)·y exact, then sum += (Float(sum) · x.d) · y.d in block order, so every kernel here
    /// (one row, four rows against one, two or four activation rows, and the prompt panels of
    /// Quant+Panels.swift) gives the reference's float bit for bit, and a row's result never depends
    /// on how many rows it was computed with. (This is also the arithmetic of ggml's repacked q4_0
    /// kernels, llama.cpp's x86 path for Q4_0: integer block sums, one float step per block.)
    ///
    /// Per block and row the integers are 8 lane sums (vpmaddubsw + vpmaddwd, or one vpdpbusd with
    /// VNNI) of unsigned nibbles times y, started from or less the lanes of 8·y (computed once per
    /// activation block however many rows share it); four rows' lanes are then added across into
    /// one 4-lane vector (vphaddd), converted, and scaled once for the four.
    enum Q4_0: BlockKernel {
        static let xBytes = 18, yBytes = 34

        /// −8·y summed in 8 lanes of 4 (the lanes the nibble products are summed in).
        @inline(__always) static func offset(_ qy: __m256i) -> __m256i {
            #if HARK_X86_VNNI
            _mm256_sub_epi32(_mm256_setzero_si256(), hark_dpbusd256(_mm256_setzero_si256(), _mm256_set1_epi8(8), qy))
            #else
            _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), qy), _mm256_set1_epi16(1)))
            #endif
        }

        /// 8 int32 lanes summing to Σ (q − 8)·y for the block at `bx` and activations `qy`.
        @inline(__always) static func lanes(_ bx: UnsafeRawPointer, _ qy: __m256i, _ offset: __m256i) -> __m256i {
            #if HARK_X86_VNNI
            hark_dpbusd256(offset, nibbles(bx + 2), qy)
            #else
            _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(nibbles(bx + 2), qy), _mm256_set1_epi16(1)), offset)
            #endif
        }

        /// The scales of four rows' blocks, `rowBytes` apart.
        @inline(__always) static func scales4(_ bx: UnsafeRawPointer, _ rowBytes: Int) -> __m128 {
            @inline(__always) func h(_ r: Int) -> Int16 { bx.loadUnaligned(fromByteOffset: r * rowBytes, as: Int16.self) }
            return _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, h(3), h(2), h(1), h(0)))
        }

        /// acc + (Float(totals) · dx) · dy, lane by lane (two roundings, as the reference).
        @inline(__always) static func add(_ acc: __m128, _ totals: __m128i, _ dx: __m128, _ by: UnsafeRawPointer) -> __m128 {
            let dy = _mm_cvtph_ps(_mm_set1_epi16(by.loadUnaligned(as: Int16.self)))
            return _mm_add_ps(acc, _mm_mul_ps(_mm_mul_ps(_mm_cvtepi32_ps(totals), dx), dy))
        }

        @inline(__always) static func dot(_ x: UnsafeRawPointer, _ y: UnsafeRawPointer, _ nb: Int) -> Float {
            var sum: Float = 0
            for i in 0..<nb {
                let bx = x + xBytes * i, by = y + yBytes * i
                let qy = load256(by + 2)
                let p = lanes(bx, qy, offset(qy))
                sum += Float(total(p)) * bx.half(0) * by.half(0)
            }
            return sum
        }

        /// One block of four rows (at `bx`, scales `dx`) against the activation block at `by`.
        @inline(__always) static func step4(_ acc: inout __m128, _ bx: UnsafeRawPointer, _ rowBytes: Int, _ dx: __m128, _ by: UnsafeRawPointer) {
            let qy = load256(by + 2), o = offset(qy)
            let t = totals(lanes(bx, qy, o), lanes(bx + rowBytes, qy, o), lanes(bx + 2 * rowBytes, qy, o), lanes(bx + 3 * rowBytes, qy, o))
            acc = add(acc, t, dx, by)
        }
    }

    enum Q4_1: Kernel {
        static let xBytes = 20, yBytes = 36
        static var zero: AccumulatorAndSum { AccumulatorAndSum(acc: _mm256_setzero_ps(), sum: 0) }
        @inline(__always) static func step(_ a: inout AccumulatorAndSum, _ bx: UnsafeRawPointer, _ by: UnsafeRawPointer) {
            // x's (d, m) and y's (d, s) are adjacent float16 pairs: one 32-bit load and conversion
            // each, one multiply gives (dx·dy, m·s).
            let products = _mm_mul_ps(halfPair(bx, 0), halfPair(by, 0))
            a.sum += _mm_cvtss_f32(_mm_movehdup_ps(products))
            let d = _mm256_broadcastss_ps(products)
            a.acc = _mm256_fmadd_ps(d, sumPairsUS(nibbles(bx + 4), load256(by + 4)), a.acc)
        }
        @inline(__always) static func finish(_ a: AccumulatorAndSum) -> Float { hsum(a.acc) + a.sum }
    }

    /// Q4_K with one float step per block: the block's integers exact (Σ over its 8 sub-blocks of
    /// scale · Σ q·y, and Σ min · Σ y from y's sums; ggml's AVX2 integer core), then
    /// sum += (x.d·y.d) · Float(Σ scale·q·y) − (x.dmin·y.d) · Float(Σ min·y) in block order. Every
    /// kernel here and the prompt panels of Quant+Panels.swift compute that, so a row's float never
    /// depends on how many rows it was computed with; it differs from the scalar reference (ggml's 8
    /// float lanes per block) by roundings only.
    enum Q4_K: BlockKernel {
        static let xBytes = 144, yBytes = 292

        /// 8 int32 lanes summing to Σ scale·q·y and 4 summing to Σ min·y, for the block pair.
        @inline(__always) static func integers(_ bx: UnsafeRawPointer, _ by: UnsafeRawPointer) -> (__m256i, __m128i) {
            let m4 = _mm256_set1_epi8(0xF)
            let mins_and_scales = _mm256_cvtepu8_epi16(scalesAndMins(bx + 4))
            let q8sums = load256(by + 260)
            let q8s = _mm_hadd_epi16(q8sums.lowHalf, q8sums.highHalf)
            let mins = _mm_madd_epi16(mins_and_scales.highHalf, q8s)
            let sc128 = mins_and_scales.lowHalf
            let scales = _mm256_set_m128i(sc128, sc128)
            var sumi = _mm256_setzero_si256()
            for j in 0..<4 {
                let scaleL = _mm256_shuffle_epi8(scales, broadcastLane16(2 * j))
                let scaleH = _mm256_shuffle_epi8(scales, broadcastLane16(2 * j + 1))
                let bits = load256(bx + 16 + 32 * j)
                let q4l = _mm256_and_si256(bits, m4), q4h = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4)
                let p16l = _mm256_madd_epi16(scaleL, _mm256_maddubs_epi16(q4l, load256(by + 4 + 64 * j)))
                let p16h = _mm256_madd_epi16(scaleH, _mm256_maddubs_epi16(q4h, load256(by + 36 + 64 * j)))
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p16l, p16h))
            }
            return (sumi, mins)
        }

        @inline(__always) static func dot(_ x: UnsafeRawPointer, _ y: UnsafeRawPointer, _ nb: Int) -> Float {
            var sum: Float = 0
            for i in 0..<nb {
                let bx = x + xBytes * i, by = y + yBytes * i
                let (p, m) = integers(bx, by)
                let s = total(p)
                let mins = unsafeBitCast(m, to: SIMD4<Int32>.self).wrappedSum()
                let dy = by.loadUnaligned(as: Float.self)
                sum = sum + ((bx.half(0) * dy) * Float(s) - (bx.half(2) * dy) * Float(mins))
            }
            return sum
        }

        /// One block of four rows (at `bx`; `scales` their d and dmin) against the activation block at `by`.
        @inline(__always) static func step4(_ acc: inout __m128, _ bx: UnsafeRawPointer, _ rowBytes: Int, _ scales: (__m128, __m128),
                                            _ by: UnsafeRawPointer) {
            let (d, dmin) = scales
            let (p0, m0) = integers(bx, by), (p1, m1) = integers(bx + rowBytes, by)
            let (p2, m2) = integers(bx + 2 * rowBytes, by), (p3, m3) = integers(bx + 3 * rowBytes, by)
            let s = totals(p0, p1, p2, p3)
            let mins = _mm_hadd_epi32(_mm_hadd_epi32(m0, m1), _mm_hadd_epi32(m2, m3))
            let dy = _mm_set1_ps(by.loadUnaligned(as: Float.self))
            acc = _mm_add_ps(acc, _mm_sub_ps(_mm_mul_ps(_mm_mul_ps(d, dy), _mm_cvtepi32_ps(s)),
                                             _mm_mul_ps(_mm_mul_ps(dmin, dy), _mm_cvtepi32_ps(mins))))
        }

        /// The d and dmin of four rows' blocks, `rowBytes` apart.
        @inline(__always) static func scales4(_ bx: UnsafeRawPointer, _ rowBytes: Int) -> (__m128, __m128) {
            @inline(__always) func h(_ r: Int, _ o: Int) -> Int16 { bx.loadUnaligned(fromByteOffset: r * rowBytes + o, as: Int16.self) }
            return (_mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, h(3, 0), h(2, 0), h(1, 0), h(0, 0))),
                    _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, h(3, 2), h(2, 2), h(1, 2), h(0, 2))))
        }
    }

    enum Q5_K: Kernel {
        static let xBytes = 176, yBytes = 292
        static var zero: AccumulatorAndSum { AccumulatorAndSum(acc: _mm256_setzero_ps(), sum: 0) }
        @inline(__always) static func step(_ a: inout AccumulatorAndSum, _ bx: UnsafeRawPointer, _ by: UnsafeRawPointer) {
            let m4 = _mm256_set1_epi8(0xF), mzero = _mm_setzero_si128()
            let scales2 = _mm_mul_ps(_mm_set1_ps(by.loadUnaligned(as: Float.self)), halfPair(bx, 0))
            let d = _mm256_broadcastss_ps(scales2), dmin = -_mm_cvtss_f32(_mm_movehdup_ps(scales2))
            let mins_and_scales = _mm256_cvtepu8_epi16(scalesAndMins(bx + 4))
            let q8sums = load256(by + 260)
            let q8s = _mm_hadd_epi16(q8sums.lowHalf, q8sums.highHalf)
            let prod = _mm_madd_epi16(mins_and_scales.highHalf, q8s)
            let hsumM = _mm_hadd_epi32(_mm_hadd_epi32(prod, mzero), mzero)
            a.sum += dmin * Float(_mm_cvtsi128_si32(hsumM))
            let sc128 = mins_and_scales.lowHalf
            let scales = _mm256_set_m128i(sc128, sc128)
            let hbits = load256(bx + 16)
            var sumi = _mm256_setzero_si256()
            for j in 0..<4 {
                let scale0 = _mm256_shuffle_epi8(scales, broadcastLane16(2 * j))
                let scale1 = _mm256_shuffle_epi8(scales, broadcastLane16(2 * j + 1))
                let bits = load256(bx + 48 + 32 * j)
                // The fifth bits (bit 2j, 2j + 1 of each qh byte) moved to bit 4.
                let h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(hbits, _mm_cvtsi32_si128(Int32(2 * j))), _mm256_set1_epi8(1)), 4)
                let h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(hbits, _mm_cvtsi32_si128(Int32(2 * j + 1))), _mm256_set1_epi8(1)), 4)
                let q5_0 = _mm256_add_epi8(_mm256_and_si256(bits, m4), h0)
                let q5_1 = _mm256_add_epi8(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), h1)
                let p0 = _mm256_madd_epi16(scale0, _mm256_maddubs_epi16(q5_0, load256(by + 4 + 64 * j)))
                let p1 = _mm256_madd_epi16(scale1, _mm256_maddubs_epi16(q5_1, load256(by + 36 + 64 * j)))
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1))
            }
            a.acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), a.acc)
        }
        @inline(__always) static func finish(_ a: AccumulatorAndSum) -> Float { hsum(a.acc) + a.sum }
    }

    enum Q6_K: Kernel {
        static let xBytes = 210, yBytes = 292
        static var zero: __m256 { _mm256_setzero_ps() }
        @inline(__always) static func step(_ acc: inout __m256, _ bx: UnsafeRawPointer, _ by: UnsafeRawPointer) {
            let m3 = _mm256_set1_epi8(3), m15 = _mm256_set1_epi8(15)
            // x.d is the block's last two bytes: load the pair before it (scales 14, 15 and d), use lane 1.
            let d = _mm256_broadcastss_ps(_mm_mul_ps(_mm_set1_ps(by.loadUnaligned(as: Float.self)), _mm_movehdup_ps(halfPair(bx, 206))))
            let q8sums = load256(by + 260)
            let scales = load128(bx + 192)
            let q8sclsub = _mm256_slli_epi32(_mm256_madd_epi16(q8sums, _mm256_cvtepi8_epi16(scales)), 5)
            var sumi = _mm256_setzero_si256()
            for j in 0..<2 {
                let bits1 = load256(bx + 64 * j), bits2 = load256(bx + 64 * j + 32), bitsH = load256(bx + 128 + 32 * j)
                let h0 = _mm256_slli_epi16(_mm256_and_si256(bitsH, m3), 4)
                let h1 = _mm256_slli_epi16(_mm256_and_si256(bitsH, _mm256_set1_epi8(12)), 2)
                let h2 = _mm256_and_si256(bitsH, _mm256_set1_epi8(48))
                let h3 = _mm256_srli_epi16(_mm256_and_si256(bitsH, _mm256_set1_epi8(-64)), 2)
                let q0 = _mm256_or_si256(_mm256_and_si256(bits1, m15), h0)
                let q1 = _mm256_or_si256(_mm256_and_si256(bits2, m15), h1)
                let q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits1, 4), m15), h2)
                let q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits2, 4), m15), h3)
                // Scales 8j + 2s and 8j + 2s + 1 for the two halves of quarter s.
                @inline(__always) func scale(_ s: Int) -> __m256i {
                    // Byte patterns of small indices (< 16): the multiplications cannot overflow.
                    let pick = _mm_set_epi64x(Int64(0x0101_0101_0101_0101) &* Int64(8 * j + 2 * s + 1),
                                              Int64(0x0101_0101_0101_0101) &* Int64(8 * j + 2 * s))
                    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, pick))
                }
                let q8 = by + 4 + 128 * j
                let p0 = _mm256_madd_epi16(scale(0), _mm256_maddubs_epi16(q0, load256(q8)))
                let p1 = _mm256_madd_epi16(scale(1), _mm256_maddubs_epi16(q1, load256(q8 + 32)))
                let p2 = _mm256_madd_epi16(scale(2), _mm256_maddubs_epi16(q2, load256(q8 + 64)))
                let p3 = _mm256_madd_epi16(scale(3), _mm256_maddubs_epi16(q3, load256(q8 + 96)))
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p0, p1))
                sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p2, p3))
            }
            sumi = _mm256_sub_epi32(sumi, q8sclsub)
            acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi), acc)
        }
        @inline(__always) static func finish(_ acc: __m256) -> Float { hsum(acc) }
    }

    /// f16 weights · f16 activations, widened by F16C, four accumulators of 8.
    static func dotF16(_ x: UnsafeRawPointer, _ y: UnsafeRawPointer, _ k: Int) -> Float {
        var s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0
        var i = 0
        while i + 32 <= k {
            s0 = _mm256_fmadd_ps(_mm256_cvtph_ps(load128(x + 2 * i)), _mm256_cvtph_ps(load128(y + 2 * i)), s0)
            s1 = _mm256_fmadd_ps(_mm256_cvtph_ps(load128(x + 2 * i + 16)), _mm256_cvtph_ps(load128(y + 2 * i + 16)), s1)
            s2 = _mm256_fmadd_ps(_mm256_cvtph_ps(load128(x + 2 * i + 32)), _mm256_cvtph_ps(load128(y + 2 * i + 32)), s2)
            s3 = _mm256_fmadd_ps(_mm256_cvtph_ps(load128(x + 2 * i + 48)), _mm256_cvtph_ps(load128(y + 2 * i + 48)), s3)
            i += 32
        }
        var sum = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)))
        while i < k { sum += x.half(2 * i) * y.half(2 * i); i += 1 }
        return sum
    }

    /// bf16 · bf16: each widened to float by a 16-bit shift, four accumulators of 8.
    static func dotBF16(_ x: UnsafeRawPointer, _ y: UnsafeRawPointer, _ k: Int) -> Float {
        @inline(__always) func widen(_ p: UnsafeRawPointer) -> __m256 {
            _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(p)), 16))
        }
        var s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0
        var i = 0
        while i + 32 <= k {
            s0 = _mm256_fmadd_ps(widen(x + 2 * i), widen(y + 2 * i), s0)
            s1 = _mm256_fmadd_ps(widen(x + 2 * i + 16), widen(y + 2 * i + 16), s1)
            s2 = _mm256_fmadd_ps(widen(x + 2 * i + 32), widen(y + 2 * i + 32), s2)
            s3 = _mm256_fmadd_ps(widen(x + 2 * i + 48), widen(y + 2 * i + 48), s3)
            i += 32
        }
        var sum = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)))
        while i < k {
            sum += bf16ToFloat(x.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) * bf16ToFloat(y.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            i += 1
        }
        return sum
    }
}
#endif
