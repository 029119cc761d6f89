import CALSA
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Plays short sounds (the timer chime) through an ALSA playback device.
///
/// Each ``play(_:rate:)`` opens the device, plays the samples to the end and closes it, on a
/// thread of its own: playing takes as long as the sound lasts, which must not occupy a thread of
/// Swift's cooperative pool. The device is interleaved S16_LE with alsa-lib's resampling allowed
/// (`snd_pcm_hw_params_set_rate_resample 1`), so `default` and `plughw:` devices take any rate;
/// mono samples are copied to every channel the device insists on, one period at a time.
///
/// Writes are non-blocking: while the device buffer is full the thread waits in `snd_pcm_wait`
/// for at most ``waitMilliseconds``, so a cancelled playback stops within about that (`snd_pcm_drop`)
/// and a device that takes nothing for ``stallMilliseconds`` fails instead of hanging Hark's
/// shutdown. The final `snd_pcm_drain` blocks, for at most the ~100 ms buffer on a sound card.
///
/// | failure | recovery |
/// |---|---|
/// | `-EAGAIN` (buffer full) | `snd_pcm_wait`, write again |
/// | `-EPIPE` (underrun) | `snd_pcm_prepare`, write again |
/// | `-ESTRPIPE` (suspend) | `snd_pcm_resume` while `-EAGAIN` (20 ms apart, ≤ 1 s), else prepare |
/// | more than ``maxRecoveries`` underruns and suspends, a stall, anything else | an ``AudioError`` naming the call and device |
public struct ALSAPlayback: Sendable {
    public let device: String
    /// Underruns and suspends recovered before one playback gives up.
    public static let maxRecoveries = 8
    /// A device that takes no sample for this long has stalled.
    public static let stallMilliseconds = 5_000
    /// The longest wait for room in the device buffer before looking at cancellation again.
    static let waitMilliseconds: Int32 = 50
    /// The device buffer asked for: the final drain waits about this long.
    static let bufferMicroseconds: UInt32 = 100_000

    public init(device: String) {
        self.device = device
    }

    /// Plays `samples` (S16 mono at `rate` Hz) to the end and returns once the device has drained.
    /// Cancelling the calling task stops the sound within about ``waitMilliseconds``
    /// (`snd_pcm_drop`) and returns without an error.
    public func play(_ samples: [Int16], rate: Int) async throws(AudioError) {
        let stop = StopFlag()
        let device = device
        let result: Result<Void, AudioError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let started = startDetachedThread {
                    continuation.resume(returning: Result { () throws(AudioError) in
                        try Self.playBlocking(samples, rate: rate, device: device, stop: stop)
                    })
                }
                if !started { continuation.resume(returning: .failure(AudioError(code: .deviceUnavailable, message: "cannot start a playback thread for '\(device)': the process is out of threads or memory"))) }
            }
        } onCancel: {
            stop.set()
        }
        try result.get()
    }

    /// The whole playback, on the calling thread.
    static func playBlocking(_ samples: [Int16], rate: Int, device: String, stop: StopFlag) throws(AudioError) {
        guard !stop.isSet, !samples.isEmpty else { return }
        let pcm = try openPCM(device, stream: SND_PCM_STREAM_PLAYBACK, advice: "check the playback device name and 'aplay -L'")
        defer { snd_pcm_close(pcm) }
        let (channels, periodFrames) = try configure(pcm, rate: rate, device: device)
        try alsaCall("snd_pcm_prepare", device: device) { snd_pcm_prepare(pcm) }

        // One period of interleaved frames, allocated once.
        let chunk = UnsafeMutableBufferPointer<Int16>.allocate(capacity: periodFrames * channels)
        defer { chunk.deallocate() }
        var offset = 0
        var filled = 0  // frames of `chunk` filled from samples[offset...]
        var written = 0  // of those, frames already written
        var recoveries = 0
        var waited = 0
        while offset < samples.count {
            if stop.isSet {
                snd_pcm_drop(pcm)
                return
            }
            if written == filled {
                offset += filled
                filled = min(periodFrames, samples.count - offset)
                written = 0
                for frame in 0..<filled {
                    for channel in 0..<channels { chunk[frame * channels + channel] = samples[offset + frame] }
                }
                if filled == 0 { break }
            }
            do {
                let start = chunk.baseAddress! + written * channels
                let frames = try alsaCall("snd_pcm_writei", device: device) {
                    snd_pcm_writei(pcm, start, snd_pcm_uframes_t(filled - written))
                }
                written += frames
                if frames > 0 { waited = 0 }
            } catch where error.systemErrorCode == EAGAIN {
                guard waited < stallMilliseconds else {
                    throw AudioError(
                        code: .deviceFailed,
                        message: "ALSA playback device '\(device)' took no samples for \(stallMilliseconds / 1000) s (snd_pcm_writei): the device is stalled or held by another program",
                        systemErrorCode: EAGAIN)
                }
                // Room, a timeout or an underrun: the next write tells which.
                _ = snd_pcm_wait(pcm, waitMilliseconds)
                waited += Int(waitMilliseconds)
            } catch {
                recoveries += 1
                guard recoveries <= maxRecoveries else { throw error }
                try recover(pcm, from: error, device: device)
            }
        }
        if stop.isSet {
            snd_pcm_drop(pcm)
            return
        }
        try alsaCall("snd_pcm_nonblock", device: device) { snd_pcm_nonblock(pcm, 0) }
        try alsaCall("snd_pcm_drain", device: device) { snd_pcm_drain(pcm) }
    }

    /// S16_LE interleaved at `rate` (resampled by alsa-lib where needed), as few channels as the
    /// device allows, a buffer of about ``bufferMicroseconds``. Returns the channels and period.
    private static func configure(_ pcm: OpaquePointer, rate: Int, device: String) throws(AudioError) -> (channels: Int, periodFrames: Int) {
        var hw: OpaquePointer?
        try alsaCall("snd_pcm_hw_params_malloc", device: device) { snd_pcm_hw_params_malloc(&hw) }
        defer { snd_pcm_hw_params_free(hw) }
        try alsaCall("snd_pcm_hw_params_any", device: device) { snd_pcm_hw_params_any(pcm, hw) }
        try alsaCall("snd_pcm_hw_params_set_access", device: device) {
            snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)
        }
        try alsaCall("snd_pcm_hw_params_set_rate_resample", device: device) { snd_pcm_hw_params_set_rate_resample(pcm, hw, 1) }
        do {
            try alsaCall("snd_pcm_hw_params_set_format", device: device) { snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE) }
        } catch {
            throw AudioError(
                code: .unsupportedFormat,
                message: "ALSA playback device '\(device)' does not take S16_LE samples: use a 'plughw:' or 'default' device",
                systemErrorCode: error.systemErrorCode, underlying: error)
        }
        var channels: UInt32 = 1
        try alsaCall("snd_pcm_hw_params_set_channels_near", device: device) { snd_pcm_hw_params_set_channels_near(pcm, hw, &channels) }
        var actualRate = UInt32(rate)
        var direction: Int32 = 0
        try alsaCall("snd_pcm_hw_params_set_rate_near", device: device) { snd_pcm_hw_params_set_rate_near(pcm, hw, &actualRate, &direction) }
        guard Int(actualRate) == rate else {
            throw AudioError(
                code: .unsupportedFormat,
                message: "ALSA playback device '\(device)' plays at \(actualRate) Hz, not \(rate) Hz, and cannot resample: use a 'plughw:' or 'default' device")
        }
        var bufferTime = bufferMicroseconds
        try alsaCall("snd_pcm_hw_params_set_buffer_time_near", device: device) {
            snd_pcm_hw_params_set_buffer_time_near(pcm, hw, &bufferTime, &direction)
        }
        try alsaCall("snd_pcm_hw_params", device: device) { snd_pcm_hw_params(pcm, hw) }
        var period: snd_pcm_uframes_t = 0
        try alsaCall("snd_pcm_hw_params_get_period_size", device: device) { snd_pcm_hw_params_get_period_size(hw, &period, &direction) }
        return (Int(channels), max(1, Int(period)))
    }

    /// Recovers from an underrun or a suspend; rethrows anything else.
    private static func recover(_ pcm: OpaquePointer, from error: AudioError, device: String) throws(AudioError) {
        switch error.systemErrorCode {
        case EPIPE:
            break
        case ESTRPIPE:
            for _ in 0..<50 {
                let result = snd_pcm_resume(pcm)
                if result == 0 { return }
                guard result == -EAGAIN else { break }
                usleep(20_000)
            }
        default:
            throw error
        }
        try alsaCall("snd_pcm_prepare", device: device) { snd_pcm_prepare(pcm) }
    }
}

/// A flag set once from any thread (task cancellation) and polled by the audio thread.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}

