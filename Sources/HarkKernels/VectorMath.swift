// exp and erf over whole vectors, and the row operations built on them (softmax, GELU).
//
// libm's expf and erff are scalar calls: in Whisper's encoder, 54 million exponentials per 30 s window
// (softmax over 1 500 × 1 500 scores, 6 heads, 4 layers) and 9 million error functions (GELU) took a
// quarter of the time (perf, 1 thread). These evaluate `Lane` (one register of the target) at a time.
//
// exp: Cody–Waite range reduction x = n·ln 2 + r (|r| ≤ ln 2 / 2, ln 2 split in two so n·ln 2 is
// exact), Cephes' degree-6 polynomial for e^r, and 2^n built in the exponent bits. Within 2 ulp of
// expf over [−87.3, 88.3]; below that it returns e^−87.3 ≈ 1.2e−38 (the smallest normal float)
// rather than a subnormal or 0, and above it e^88.3.
// erf: the odd rational approximation p(x)/q(x) of degree 13/8 on [−4, 4] (the one Eigen and XLA use
// for float); |error| < 2e−7 against erf. Beyond ±4, erf is ±1 in float.

public enum VectorMath {
    /// One register of floats: AVX-512 zmm, AVX2 ymm, else 4 lanes (SSE, NEON).
    typealias Lane = Sgemm.Wide
    #if arch(x86_64) && HARK_X86_AVX512
    typealias LaneBits = SIMD16<UInt32>
    #elseif arch(x86_64) && HARK_X86_FMA
    typealias LaneBits = SIMD8<UInt32>
    #else
    typealias LaneBits = SIMD4<UInt32>
    #endif

    /// e^x, lane by lane (see the file's note for range and accuracy).
    @inline(__always)
    static func exp(_ x: Lane) -> Lane {
        let x = clamp(x, -87.33654, 88.37626)
        // n = round(x / ln 2): adding 1.5 · 2^23 rounds to an integer held in the low mantissa bits.
        let shifter = Lane(repeating: 12_582_912)
        let t = shifter.fusedAdding(x, Lane(repeating: 1.442_695_04))
        let n = t - shifter
        var r = x.fusedAdding(n, Lane(repeating: -0.693_359_375))
        r = r.fusedAdding(n, Lane(repeating: 2.121_944_4e-4))
        var p = Lane(repeating: 1.987_569_15e-4)
        p = Lane(repeating: 1.398_199_950_7e-3).fusedAdding(p, r)
        p = Lane(repeating: 8.333_451_907_3e-3).fusedAdding(p, r)
        p = Lane(repeating: 4.166_579_589_4e-2).fusedAdding(p, r)
        p = Lane(repeating: 1.666_666_545_9e-1).fusedAdding(p, r)
        p = Lane(repeating: 5.000_000_120_1e-1).fusedAdding(p, r)
        let y = (r + 1).fusedAdding(p, r * r)
        // 2^n: the shifter's bits are 0x4B40_0000 + n; move n + 127 into the exponent field.
        let bits = (unsafeBitCast(t, to: LaneBits.self) &- 0x4B40_0000 &+ 127) &<< 23
        return y * unsafeBitCast(bits, to: Lane.self)
    }

    /// erf(x), lane by lane.
    @inline(__always)
    static func erf(_ x: Lane) -> Lane {
        let x = clamp(x, -4, 4)
        let x2 = x * x
        var p = Lane(repeating: -2.726_142_258_013_06e-10)
        p = Lane(repeating: 2.770_681_424_959_02e-08).fusedAdding(p, x2)
        p = Lane(repeating: -2.101_024_020_825_08e-06).fusedAdding(p, x2)
        p = Lane(repeating: -5.692_506_394_623_46e-05).fusedAdding(p, x2)
        p = Lane(repeating: -7.349_906_303_268_55e-04).fusedAdding(p, x2)
        p = Lane(repeating: -2.954_599_808_540_25e-03).fusedAdding(p, x2)
        p = Lane(repeating: -1.609_603_332_624_15e-02).fusedAdding(p, x2)
        var q = Lane(repeating: -1.456_607_184_649_96e-05)
        q = Lane(repeating: -2.133_740_552_789_05e-04).fusedAdding(q, x2)
        q = Lane(repeating: -1.682_826_974_382_03e-03).fusedAdding(q, x2)
        q = Lane(repeating: -7.373_329_167_204_68e-03).fusedAdding(q, x2)
        q = Lane(repeating: -1.426_473_905_141_89e-02).fusedAdding(q, x2)
        return x * p / q
    }

    /// e^x of one float, computed as the lanes are (so it agrees with them to the bit).
    public static func exp(_ x: Float) -> Float { exp(Lane(repeating: x))[0] }

    /// e^x for each of `count` floats in place (the tail through a zero-padded lane).
    public static func exp(_ x: UnsafeMutablePointer<Float>, count: Int) {
        map(x, count: count, exp)
    }

    /// GELU with the error function, 0.5 · x · (1 + erf(x / √2)), in place (Whisper's `nn.GELU()`).
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        map(x, count: count) { v in 0.5 * v * (1 + erf(v * 0.707_106_781_186_547_52)) }
    }

    /// The largest of `count` ≥ 1 floats.
    public static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        let w = Lane.scalarCount
        var top = Lane(repeating: -.infinity)
        var i = 0
        while i + w <= count {
            let v = load(x + i)
            top.replace(with: v, where: v .> top)
            i += w
        }
        var best = top.max()
        while i < count { best = Swift.max(best, x[i]); i += 1 }
        return best
    }

    /// x[i] = e^(scale · (x[i] − max)) for `count` ≥ 1 floats in place; returns their sum. With a
    /// positive scale this is softmax before its normalisation: divide by the sum (or scale whatever
    /// the row multiplies, as attention does its values' product).
    public static func exponentiateShifted(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float) -> Float {
        let shift = -scale * maximum(x, count: count)
        let w = Lane.scalarCount
        let s = Lane(repeating: scale), b = Lane(repeating: shift)
        var sum = Lane()
        var i = 0
        while i + w <= count {
            let e = exp(b.fusedAdding(s, load(x + i)))
            store(e, x + i)
            sum += e
            i += w
        }
        if i < count {
            // Past the tail, lanes are 0 and their exponentials stay out of the sum.
            let e = exp(b.fusedAdding(s, loadTail(x + i, count - i))).replacing(with: 0, where: tailMask(count - i) .== 0)
            storeTail(e, x + i, count - i)
            sum += e
        }
        return sum.sum()
    }

    /// Σ e^(x[i] − shift) over `count` floats, without changing them. −∞ terms count as e^−87.3 ≈ 1e−38
    /// each (see `exp`), which is below a float's resolution next to any sum that includes its maximum.
    public static func sumOfExponentials(_ x: UnsafePointer<Float>, count: Int, shift: Float) -> Float {
        let w = Lane.scalarCount
        let b = Lane(repeating: -shift)
        var sum = Lane()
        var i = 0
        while i + w <= count { sum += exp(load(x + i) + b); i += w }
        if i < count { sum += exp(loadTail(x + i, count - i) + b).replacing(with: 0, where: tailMask(count - i) .== 0) }
        return sum.sum()
    }

    /// softmax(scale · x) of `count` ≥ 1 floats in place; the row sums to 1.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float = 1) {
        let inverse = 1 / exponentiateShifted(x, count: count, scale: scale)
        Self.scale(x, count: count, by: inverse)
    }

    /// x[i] *= factor for `count` floats.
    public static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        let w = Lane.scalarCount
        var i = 0
        while i + w <= count { store(load(x + i) * factor, x + i); i += w }
        while i < count { x[i] *= factor; i += 1 }
    }

    /// y[i] += a · x[i] for `count` floats.
    public static func addProduct(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, count: Int) {
        let w = Lane.scalarCount
        var i = 0
        while i + w <= count { store(load(y + i).fusedAdding(a, load(x + i)), y + i); i += w }
        while i < count { y[i] += a * x[i]; i += 1 }
    }

    // MARK: - Pieces

    /// x limited to [low, high] lane by lane. (The standard library's `clamped` and `pointwiseMax`
    /// stay calls, not inlined, in these loops: 9 % of Whisper's time went to them.)
    @inline(__always)
    static func clamp(_ x: Lane, _ low: Float, _ high: Float) -> Lane {
        var y = x
        y.replace(with: low, where: x .< low)
        y.replace(with: high, where: x .> high)
        return y
    }

    /// Applies `f` to every lane of x[0..<count] in place; the tail goes through one lane padded with 0.
    @inline(__always)
    static func map(_ x: UnsafeMutablePointer<Float>, count: Int, _ f: (Lane) -> Lane) {
        let w = Lane.scalarCount
        var i = 0
        while i + w <= count { store(f(load(x + i)), x + i); i += w }
        if i < count { storeTail(f(loadTail(x + i, count - i)), x + i, count - i) }
    }

    /// The first `n` < Lane.scalarCount floats at p in a lane, the rest 0.
    @inline(__always)
    static func loadTail(_ p: UnsafePointer<Float>, _ n: Int) -> Lane {
        var v = Lane()
        for j in 0..<n { v[j] = p[j] }
        return v
    }

    @inline(__always)
    static func loadTail(_ p: UnsafeMutablePointer<Float>, _ n: Int) -> Lane { loadTail(UnsafePointer(p), n) }

    /// Stores the first `n` lanes of v at p.
    @inline(__always)
    static func storeTail(_ v: Lane, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
        for j in 0..<n { p[j] = v[j] }
    }

    /// 1 in the first `n` lanes, 0 in the rest.
    @inline(__always)
    static func tailMask(_ n: Int) -> Lane {
        var m = Lane()
        for j in 0..<n { m[j] = 1 }
        return m
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Lane { UnsafeRawPointer(p).loadUnaligned(as: Lane.self) }

    @inline(__always)
    static func load(_ p: UnsafeMutablePointer<Float>) -> Lane { load(UnsafePointer(p)) }

    @inline(__always)
    static func store(_ v: Lane, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Lane.self) }
}
