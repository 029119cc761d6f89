#if canImport(Glibc)
import Glibc
#endif

/// A streaming, band-limited sample-rate converter: a polyphase Kaiser-windowed sinc filter.
///
/// The rate ratio is reduced to `up / down` (48000 → 16000 is 1/3, 44100 → 16000 is 160/441).
/// Output sample `n` lies at input time `t = n · down / up`; it is the dot product of the
/// `taps` input samples around `t` with one of `up` precomputed phases of the filter
///
///     h(x) = 2·fc/fsIn · sinc(2·fc/fsIn · x) · kaiser(x / (taps/2)),   x = t − i in input samples,
///
/// each phase normalised to unit DC gain. The cutoff sits below the lower of the two Nyquist
/// rates: with `base = min(fsIn, fsOut)` the passband ends at 0.4375·base (7 kHz for 16 kHz
/// output) and the stopband starts at 0.53125·base (8.5 kHz), so anything that would fold
/// into the band a 16 kHz consumer uses (0–7.5 kHz) is attenuated by at least the design
/// stopband. Kaiser's formulas (Oppenheim & Schafer, 3rd ed., eq. 7.62–7.63) give the window:
/// `β = 0.1102·(A − 8.7)` and `taps ≈ (A − 8) / (2.285 · Δω)` for stopband attenuation `A` dB
/// and transition width `Δω` in radians per input sample.
///
/// State (the last `taps` inputs and the fractional position) is kept across calls, so a
/// stream cut into any chunk sizes resamples identically. All buffers are allocated in `init`.
/// Output sample 0 is aligned with input sample 0 (zero delay): inputs before the start are
/// taken as silence, and ``flush(into:)`` pads the end with silence so that exactly
/// `ceil(inputCount · up / down)` samples come out in total.
final class Resampler {
    /// Stopband attenuation the window is designed for, in dB.
    static let designAttenuation = 80.0
    /// Passband edge and stopband edge as fractions of `min(inputRate, outputRate)`.
    static let passbandEdge = 0.4375
    static let stopbandEdge = 0.53125
    /// Upper bound on the coefficient table (`up × taps` floats, 4 MiB), which rules out
    /// pathological rate pairs whose reduced ratio has a huge numerator.
    static let maxCoefficients = 1 << 20

    let inputRate: Int
    let outputRate: Int
    let up: Int
    let down: Int
    /// Filter length in input samples; a multiple of 8 so the dot product runs on SIMD8.
    let taps: Int
    /// The most input samples one ``process(_:into:)`` call accepts.
    let maxInputCount: Int

    /// `up` phases × `taps` coefficients, phase-major.
    private let bank: UnsafeMutableBufferPointer<Float>
    /// Input history: `taps` + `maxInputCount` samples.
    private let history: UnsafeMutableBufferPointer<Float>
    private var historyCount: Int
    /// Index into `history` of the first tap of the next output, and its phase in 0..<up.
    private var first = 0
    private var phase = 0
    /// `down = stepWhole · up + stepPhase`: how far one output advances the input position.
    private let stepWhole: Int
    private let stepPhase: Int
    private var totalInput = 0
    private var totalOutput = 0

    init(inputRate: Int, outputRate: Int, maxInputCount: Int) throws(AudioError) {
        guard inputRate > 0, outputRate > 0 else {
            throw AudioError(code: .unsupportedFormat, message: "cannot resample \(inputRate) Hz to \(outputRate) Hz: rates must be positive")
        }
        let divisor = gcd(inputRate, outputRate)
        up = outputRate / divisor
        down = inputRate / divisor
        self.inputRate = inputRate
        self.outputRate = outputRate

        let base = Double(min(inputRate, outputRate))
        let attenuation = Self.designAttenuation
        let transition = (Self.stopbandEdge - Self.passbandEdge) * base / Double(inputRate) * 2 * Double.pi
        let estimate = Int(((attenuation - 8) / (2.285 * transition)).rounded(.up))
        taps = (estimate + 7) / 8 * 8
        guard up * taps <= Self.maxCoefficients else {
            throw AudioError(
                code: .unsupportedFormat,
                message: "cannot resample \(inputRate) Hz to \(outputRate) Hz: the ratio \(up)/\(down) needs \(up * taps) filter coefficients (limit \(Self.maxCoefficients)): convert the input to a common rate, e.g. `sox in.wav -r 16000 out.wav`")
        }
        self.maxInputCount = max(maxInputCount, taps)
        stepWhole = down / up
        stepPhase = down % up

        bank = .allocate(capacity: up * taps)
        let cutoff = (Self.passbandEdge + Self.stopbandEdge) / 2 * base / Double(inputRate)  // cycles per input sample
        let beta = 0.1102 * (attenuation - 8.7)
        let half = taps / 2
        let windowScale = 1 / besselI0(beta)
        for p in 0..<up {
            var sum = 0.0
            var row = [Double](repeating: 0, count: taps)
            for k in 0..<taps {
                let x = Double(p) / Double(up) + Double(half - 1 - k)
                let r = x / Double(half)
                let window = r.magnitude >= 1 ? 0 : besselI0(beta * (1 - r * r).squareRoot()) * windowScale
                row[k] = 2 * cutoff * sinc(2 * cutoff * x) * window
                sum += row[k]
            }
            for k in 0..<taps {
                bank[p * taps + k] = Float(row[k] / sum)
            }
        }

        history = .allocate(capacity: taps + self.maxInputCount)
        history.initialize(repeating: 0)
        // Silence before the start: the first output's taps reach half - 1 samples back.
        historyCount = half - 1
    }

    deinit {
        bank.deallocate()
        history.deallocate()
    }

    /// The most samples one ``process(_:into:)`` or ``flush(into:)`` call can write for `count` inputs.
    func maxOutputCount(forInput count: Int) -> Int {
        (taps + count) * up / down + 2
    }

    /// Consumes `input` (at most ``maxInputCount`` samples) and writes the outputs it completes.
    /// `output` must hold ``maxOutputCount(forInput:)`` samples. Returns the number written.
    func process(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>) -> Int {
        precondition(input.count <= maxInputCount, "Resampler input chunk larger than maxInputCount")
        totalInput += input.count
        return consume(input, into: output, limit: Int.max)
    }

    /// Ends the stream: pads with silence and writes the remaining outputs, so the total is
    /// `ceil(inputCount · up / down)`. Returns the number written.
    func flush(into output: UnsafeMutableBufferPointer<Float>) -> Int {
        let expected = (totalInput * up + down - 1) / down
        let zeros = UnsafeMutableBufferPointer<Float>(rebasing: history[historyCount...].prefix(taps / 2 + 1))
        zeros.initialize(repeating: 0)
        historyCount += zeros.count
        return consume(UnsafeBufferPointer(start: nil, count: 0), into: output, limit: max(0, expected - totalOutput))
    }

    private func consume(_ input: UnsafeBufferPointer<Float>, into output: UnsafeMutableBufferPointer<Float>, limit: Int) -> Int {
        if let base = input.baseAddress {
            (history.baseAddress! + historyCount).update(from: base, count: input.count)
            historyCount += input.count
        }
        var produced = 0
        let h = UnsafeRawPointer(history.baseAddress!)
        let coefficients = UnsafeRawPointer(bank.baseAddress!)
        while first + taps <= historyCount, produced < limit {
            // Dot product of `taps` history samples with phase `phase`, eight lanes at a time.
            let x = h + first * MemoryLayout<Float>.stride
            let c = coefficients + phase * taps * MemoryLayout<Float>.stride
            var acc = SIMD8<Float>()
            var k = 0
            while k < taps {
                let offset = k * MemoryLayout<Float>.stride
                acc += x.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                    * c.loadUnaligned(fromByteOffset: offset, as: SIMD8<Float>.self)
                k += 8
            }
            output[produced] = acc.sum()
            produced += 1
            first += stepWhole
            phase += stepPhase
            if phase >= up {
                phase -= up
                first += 1
            }
        }
        totalOutput += produced
        // Drop the history no future output reaches. `first` never passes `historyCount`:
        // one output advances it by at most ceil(down / up) samples, and `taps` is larger
        // (about 46 · inputRate / min(inputRate, outputRate) ≥ 46 · down / up).
        let keep = max(0, historyCount - first)
        if first > 0 {
            if keep > 0 {
                history.baseAddress!.update(from: history.baseAddress! + first, count: keep)
            }
            historyCount = keep
            first = 0
        }
        return produced
    }
}

/// Greatest common divisor of two positive integers.
func gcd(_ a: Int, _ b: Int) -> Int {
    var (a, b) = (a, b)
    while b != 0 { (a, b) = (b, a % b) }
    return a
}

/// sin(πx)/(πx), 1 at 0.
private func sinc(_ x: Double) -> Double {
    x == 0 ? 1 : sin(Double.pi * x) / (Double.pi * x)
}

/// The zeroth-order modified Bessel function of the first kind, by its power series
/// Σ ((x/2)^k / k!)², summed until terms fall below 1e-12 of the total.
private func besselI0(_ x: Double) -> Double {
    var sum = 1.0
    var term = 1.0
    let half = x / 2
    var k = 1.0
    while term > 1e-12 * sum {
        term *= (half / k) * (half / k)
        sum += term
        k += 1
    }
    return sum
}
