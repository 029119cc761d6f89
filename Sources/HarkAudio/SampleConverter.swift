/// Turns interleaved PCM frames of any ``CaptureFormat`` into Hark's 16 kHz mono S16,
/// buffering the result until a reader drains it.
///
/// decode + downmix to mono float → ``Resampler`` (only when the rate is not 16 kHz) → S16 with
/// rounding and clipping. S16 mono 16 kHz input is copied through sample-exact. Every buffer
/// is allocated in `init`; ``push(_:frames:)`` and ``drain(into:)`` allocate nothing.
/// Owned by one thread (the source's reader); not Sendable.
final class SampleConverter {
    let format: CaptureFormat
    /// The most frames one ``push(_:frames:)`` accepts.
    let maxFrames: Int

    private let mono: UnsafeMutableBufferPointer<Float>
    private let resampler: Resampler?
    private let resampled: UnsafeMutableBufferPointer<Float>
    private let pending: UnsafeMutableBufferPointer<Int16>
    private var pendingStart = 0
    private var pendingEnd = 0

    init(format: CaptureFormat, maxFrames: Int) throws(AudioError) {
        guard format.channels > 0, format.rate > 0 else {
            throw AudioError(code: .unsupportedFormat, message: "cannot convert \(format): channel count and rate must be positive")
        }
        self.format = format
        self.maxFrames = maxFrames
        mono = .allocate(capacity: maxFrames)
        if format.rate == CaptureFormat.hark.rate {
            resampler = nil
            resampled = .allocate(capacity: 0)
            pending = .allocate(capacity: maxFrames)
        } else {
            let r = try Resampler(inputRate: format.rate, outputRate: CaptureFormat.hark.rate, maxInputCount: maxFrames)
            resampler = r
            resampled = .allocate(capacity: r.maxOutputCount(forInput: maxFrames))
            pending = .allocate(capacity: r.maxOutputCount(forInput: maxFrames))
        }
    }

    deinit {
        mono.deallocate()
        resampled.deallocate()
        pending.deallocate()
    }

    /// Converted samples not yet drained.
    var pendingCount: Int { pendingEnd - pendingStart }

    /// Converts `frames` whole frames at `raw` (at most ``maxFrames``). Call only when
    /// ``pendingCount`` is 0.
    func push(_ raw: UnsafeRawPointer, frames: Int) {
        precondition(frames <= maxFrames && pendingCount == 0)
        pendingStart = 0
        pendingEnd = 0
        guard frames > 0 else { return }
        if format.sampleFormat == .s16, format.channels == 1, resampler == nil {
            for i in 0..<frames {
                pending[i] = Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))
            }
            pendingEnd = frames
            return
        }
        format.sampleFormat.decodeMono(raw, frames: frames, channels: format.channels, into: mono.baseAddress!)
        if let resampler {
            let count = resampler.process(UnsafeBufferPointer(rebasing: mono[..<frames]), into: resampled)
            quantize(resampled.baseAddress!, count)
        } else {
            quantize(mono.baseAddress!, frames)
        }
    }

    /// Ends the stream: writes the resampler's tail into the pending samples.
    func finish() {
        precondition(pendingCount == 0)
        pendingStart = 0
        pendingEnd = 0
        if let resampler {
            quantize(resampled.baseAddress!, resampler.flush(into: resampled))
        }
    }

    /// Moves up to `buffer.count` pending samples into `buffer`; returns how many.
    func drain(into buffer: UnsafeMutableBufferPointer<Int16>) -> Int {
        let count = min(buffer.count, pendingCount)
        guard count > 0 else { return 0 }
        buffer.baseAddress!.update(from: pending.baseAddress! + pendingStart, count: count)
        pendingStart += count
        return count
    }

    private func quantize(_ samples: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count {
            pending[i] = int16Sample(samples[i])
        }
        pendingEnd = count
    }
}
