import Testing
import HarkKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// VectorMath's exp and erf against libm's expf and erff, and the row operations built on them
/// against their scalar definitions, including counts that leave a partial lane.
@Suite struct VectorMathTests {
    /// Evenly spaced points of [low, high], `count` of them.
    static func grid(_ low: Float, _ high: Float, count: Int) -> [Float] {
        (0..<count).map { low + (high - low) * Float($0) / Float(count - 1) }
    }

    @Test("Given x over the float range of e^x, when exp runs, then it is within 2 ulp of expf")
    func expMatchesLibm() {
        var x = Self.grid(-87.3, 88.3, count: 200_003) + Self.grid(-1, 1, count: 20_001) + [0, -0.0, 1e-30, -1e-30]
        let expected = x.map { expf($0) }
        VectorMath.exp(&x, count: x.count)
        var worst: Float = 0
        for (got, want) in zip(x, expected) { worst = max(worst, abs(got - want) / want.ulp) }
        #expect(worst <= 2, "worst error \(worst) ulp")
    }

    @Test("Given x beyond the range, when exp runs, then it saturates instead of overflowing to inf or NaN")
    func expSaturates() {
        var x: [Float] = [-1000, -88, 89, 1000, -.infinity]
        VectorMath.exp(&x, count: x.count)
        #expect(x.allSatisfy { $0.isFinite && $0 > 0 })
        #expect(x[0] < 1.2e-38 * 1.01 && x[4] < 1.2e-38 * 1.01)
        #expect(x[3] > 2e38)
    }

    @Test("Given x over [-6, 6], when gelu runs, then it is within 3e-7 of 0.5·x·(1 + erff(x/√2)) relative to max(1, |x|)")
    func geluMatchesErf() {
        var x = Self.grid(-6, 6, count: 120_007)
        let expected = x.map { 0.5 * $0 * (1 + erff($0 * 0.707_106_781_186_547_52)) }
        VectorMath.gelu(&x, count: x.count)
        var worst: Float = 0
        for (i, (got, want)) in zip(x, expected).enumerated() {
            let input = -6 + 12 * Float(i) / 120_006
            worst = max(worst, abs(got - want) / max(1, abs(input)))
        }
        #expect(worst < 3e-7, "worst error \(worst)")
    }

    @Test("Given rows of every length 1…40, when softmax runs with a scale, then it equals the scalar softmax and sums to 1",
          arguments: Array(1...40))
    func softmaxMatchesScalar(count: Int) {
        var x = (0..<count).map { Float(($0 * 37) % 23) - 11.5 }
        let scale: Float = 0.125
        let top = x.max()!
        let e = x.map { expf(scale * ($0 - top)) }
        let sum = e.reduce(0, +)
        let expected = e.map { $0 / sum }
        VectorMath.softmax(&x, count: count, scale: scale)
        for (got, want) in zip(x, expected) { #expect(abs(got - want) <= 4e-7 * max(want, 1e-3)) }
        #expect(abs(x.reduce(0, +) - 1) < 1e-5)
    }

    @Test("Given a row with one very large score, when exponentiateShifted runs, then the largest becomes 1 and nothing overflows")
    func shiftedExponentials() {
        var x: [Float] = [3e4, 0, -3e4, 3e4 - 1]
        let sum = VectorMath.exponentiateShifted(&x, count: x.count, scale: 1)
        #expect(x[0] == 1)
        #expect(abs(x[3] - expf(-1)) <= 2 * expf(-1).ulp)
        #expect(abs(sum - (1 + expf(-1))) < 1e-6)
    }

    @Test("Given rows of every length 1…40, when maximum runs, then it is the largest element wherever it sits",
          arguments: Array(1...40))
    func maximumFindsLargest(count: Int) {
        for position in 0..<count {
            var x = (0..<count).map { -Float($0) }
            x[position] = 7
            #expect(VectorMath.maximum(x, count: count) == 7)
        }
    }
}
