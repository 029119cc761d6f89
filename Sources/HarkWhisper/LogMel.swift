#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HarkKernels

/// Whisper's front end: 80 log-mel bins every 10 ms, exactly as faster-whisper's `FeatureExtractor`
/// computes them (which follows OpenAI's `log_mel_spectrogram`):
///   1. 160 zero samples are appended (faster-whisper's `padding=160`);
///   2. an STFT with a 400-sample periodic Hann window (25 ms) every 160 samples, `center=True`: the
///      signal is reflected 200 samples at each end; the last frame is dropped, so there are
///      ⌊n / 160⌋ + 1 frames for n samples;
///   3. power spectrum (201 bins) × Slaney-style mel filters (80 bands, 0–8000 Hz, area-normalised,
///      librosa's `mel(sr=16000, n_fft=400, n_mels=80)`);
///   4. log10 of max(power, 1e-10), clamped from below at the utterance's maximum − 8, then (x + 4) / 4.
/// The DFT is one matrix product (frames × a 400 × 402 cosine/sine basis) on the package's SGEMM.
public struct LogMel: Sendable {
    public static let bins = 80
    public static let hop = 160
    static let window = 400
    static let spectrumBins = window / 2 + 1
    /// [400 × 402]: column 2f is cos(2π f n / 400) · hann[n], column 2f + 1 is −sin(…) · hann[n].
    let basis: [Float]
    /// [201 × 80]: the mel filters, transposed (row = FFT bin).
    let filters: [Float]

    public init() {
        let n = Self.window, bins = Self.spectrumBins
        var basis = [Float](repeating: 0, count: n * 2 * bins)
        for t in 0..<n {
            let hann = 0.5 - 0.5 * cos(2 * Double.pi * Double(t) / Double(n))
            for f in 0..<bins {
                // (f·t) mod n keeps the angle small, so cos and sin stay exact to float precision.
                let angle = 2 * Double.pi * Double((f * t) % n) / Double(n)
                basis[t * 2 * bins + 2 * f] = Float(cos(angle) * hann)
                basis[t * 2 * bins + 2 * f + 1] = Float(-sin(angle) * hann)
            }
        }
        self.basis = basis
        self.filters = Self.melFilters()
    }

    /// librosa's Slaney mel filter bank for 16 kHz, n_fft 400, 80 bands, transposed to [201 × 80].
    static func melFilters() -> [Float] {
        let bands = bins, fftBins = spectrumBins
        // Slaney's mel scale: linear below 1 kHz (3 mel per 200 Hz), logarithmic above.
        let fSp = 200.0 / 3, minLogHz = 1000.0, minLogMel = 15.0, logStep = log(6.4) / 27
        func melToHz(_ m: Double) -> Double { m >= minLogMel ? minLogHz * exp(logStep * (m - minLogMel)) : fSp * m }
        let maxMel = minLogMel + log(8000.0 / minLogHz) / logStep
        let points = (0..<(bands + 2)).map { melToHz(maxMel * Double($0) / Double(bands + 1)) }
        var out = [Float](repeating: 0, count: fftBins * bands)
        for band in 0..<bands {
            let lowerWidth = points[band + 1] - points[band], upperWidth = points[band + 2] - points[band + 1]
            let norm = 2 / (points[band + 2] - points[band])
            for f in 0..<fftBins {
                let hz = Double(f) * 16000 / Double(window)
                let lower = (hz - points[band]) / lowerWidth
                let upper = (points[band + 2] - hz) / upperWidth
                out[f * bands + band] = Float(max(0, min(lower, upper)) * norm)
            }
        }
        return out
    }

    /// Frames for `count` samples.
    public static func frames(samples count: Int) -> Int { count / hop + 1 }

    /// The log-mel spectrogram of `samples` (16 kHz, full scale ±1), time-major: [frames × 80].
    public func compute(_ samples: [Float]) -> [Float] {
        let frames = Self.frames(samples: samples.count)
        let n = Self.window, half = n / 2, bins = Self.spectrumBins
        // Signal with 160 zeros appended, reflected 200 samples at both ends.
        let padded = samples + [Float](repeating: 0, count: Self.hop)
        let length = padded.count
        func sample(_ i: Int) -> Float {
            var j = i - half
            // numpy's "reflect" (edge sample not repeated); a signal shorter than the reflection
            // bounces between its ends.
            if length == 1 { return padded[0] }
            let period = 2 * (length - 1)
            j = ((j % period) + period) % period
            if j >= length { j = period - j }
            return padded[j]
        }
        var framed = [Float](repeating: 0, count: frames * n)
        for f in 0..<frames {
            for t in 0..<n { framed[f * n + t] = sample(f * Self.hop + t) }
        }
        var spectrum = [Float](repeating: 0, count: frames * 2 * bins)
        framed.withUnsafeBufferPointer { a in
            basis.withUnsafeBufferPointer { b in
                spectrum.withUnsafeMutableBufferPointer { c in
                    Sgemm.run(m: frames, n: 2 * bins, k: n, a: a.baseAddress!, lda: n, b: b.baseAddress!, ldb: 2 * bins,
                              c: c.baseAddress!, ldc: 2 * bins, bias: nil, accumulate: false)
                }
            }
        }
        var power = [Float](repeating: 0, count: frames * bins)
        for i in 0..<(frames * bins) {
            let re = spectrum[2 * i], im = spectrum[2 * i + 1]
            power[i] = re * re + im * im
        }
        var mel = [Float](repeating: 0, count: frames * Self.bins)
        power.withUnsafeBufferPointer { a in
            filters.withUnsafeBufferPointer { b in
                mel.withUnsafeMutableBufferPointer { c in
                    Sgemm.run(m: frames, n: Self.bins, k: bins, a: a.baseAddress!, lda: bins, b: b.baseAddress!, ldb: Self.bins,
                              c: c.baseAddress!, ldc: Self.bins, bias: nil, accumulate: false)
                }
            }
        }
        var top = -Float.infinity
        for i in mel.indices {
            mel[i] = log10(max(mel[i], 1e-10))
            top = max(top, mel[i])
        }
        for i in mel.indices { mel[i] = (max(mel[i], top - 8) + 4) / 4 }
        return mel
    }
}
