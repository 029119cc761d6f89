import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Live capture from an ALSA device, with recovery.
///
/// | failure | recovery | counter |
/// |---|---|---|
/// | `-EPIPE` (overrun) | `snd_pcm_prepare` + `snd_pcm_start` | `overruns` |
/// | `-ESTRPIPE` (suspend) | `snd_pcm_resume` while `-EAGAIN` (20 ms apart, ≤ 1 s), else prepare | `suspends` |
/// | `-EAGAIN` or 0 frames after a ready wait | pause 10 ms, wait again | — |
/// | `-ENODEV`, `-EBUSY`, anything else, or a failed recovery | close, log one line, reopen after a backoff of 100 ms doubling to 5 s | `reopens` |
///
/// Backoff sleeps wake at once on ``cancel()``; the delay resets only once audio flows again,
/// so a device that opens but fails at once still waits longer each time (no busy loop).
/// `snd_pcm_wait` runs with a 100 ms timeout so ``cancel()`` is seen within ~100 ms.
///
/// `@unchecked Sendable`: the PCM, converter and raw buffer are touched only by the one
/// thread that calls ``read(into:)`` (the ``AudioSource`` contract); `counterState` is behind
/// a `Mutex` and cancellation behind ``CancellationLatch``, both safe from any thread.
final class ALSACaptureSource: AudioSource, @unchecked Sendable {
    static let waitMilliseconds: Int32 = 100
    static let resumeRetryMilliseconds = 20
    static let resumeAttempts = 50
    /// Pause after a wait that said "ready" but a read that found nothing (`-EAGAIN` or 0
    /// frames), so a device stuck in that state cannot make the loop spin.
    static let idlePauseMilliseconds = 10

    let isLive = true
    private let pcm: any PCMCapture
    private let options: AudioSourceOptions
    private let logger: Logger
    private let latch: CancellationLatch
    private let counterState = Mutex(AudioCounters())

    // Reader-thread state.
    private var converter: SampleConverter?
    private var raw: UnsafeMutableRawBufferPointer = .init(start: nil, count: 0)
    private var chunkFrames = 0
    private var isOpen = false
    private var nextDelay: Int
    private var failedAttempts = 0

    /// Sleeps between recovery attempts; returns true if cancelled. Tests wrap it to record delays.
    var sleep: (Int) -> Bool

    init(pcm: any PCMCapture, options: AudioSourceOptions, logger: Logger) throws(AudioError) {
        self.pcm = pcm
        self.options = options
        self.logger = logger
        nextDelay = max(1, options.reopenInitialDelayMilliseconds)
        let latch = CancellationLatch()
        self.latch = latch
        sleep = { latch.sleep(milliseconds: $0) }
        do {
            try openDevice()
        } catch {
            guard options.retryOpen else { throw error }
            logger.warning("\(error.message); retrying with backoff")
            failedAttempts = 1
        }
    }

    deinit {
        pcm.close()
        raw.deallocate()
    }

    var counters: AudioCounters { counterState.withLock { $0 } }

    /// The frame format the device delivers now (reader thread only; nil before a first open).
    var captureFormat: CaptureFormat? { converter?.format }

    func cancel() { latch.cancel() }

    func read(into buffer: UnsafeMutableBufferPointer<Int16>) throws -> Int {
        guard !buffer.isEmpty else { return 0 }
        while true {
            if latch.isCancelled { return 0 }
            if let converter, converter.pendingCount > 0 {
                let count = converter.drain(into: buffer)
                counterState.withLock { $0.samplesDelivered += UInt64(count) }
                return count
            }
            if !isOpen {
                if reopenAfterBackoff() { return 0 }
                continue
            }
            do {
                guard try pcm.wait(milliseconds: Self.waitMilliseconds) else { continue }
                let frames = try pcm.read(into: raw.baseAddress!, frames: chunkFrames)
                guard frames > 0 else {
                    if sleep(Self.idlePauseMilliseconds) { return 0 }
                    continue
                }
                converter!.push(raw.baseAddress!, frames: frames)
                if failedAttempts > 0 {
                    logger.notice("ALSA capture on '\(pcm.device)' is running again")
                    failedAttempts = 0
                }
                nextDelay = max(1, options.reopenInitialDelayMilliseconds)
            } catch {
                recover(from: error)
            }
        }
    }

    /// Handles one failed wait/read: recovers in place or marks the device for reopening.
    private func recover(from error: AudioError) {
        switch error.systemErrorCode {
        case EAGAIN:
            _ = sleep(Self.idlePauseMilliseconds)
        case EPIPE:
            counterState.withLock { $0.overruns += 1 }
            logger.debug("ALSA capture overrun on '\(pcm.device)'; preparing the stream again")
            do {
                try pcm.prepareAndStart()
            } catch {
                fail(error)
            }
        case ESTRPIPE:
            counterState.withLock { $0.suspends += 1 }
            logger.info("ALSA device '\(pcm.device)' was suspended; resuming")
            do {
                for _ in 0..<Self.resumeAttempts {
                    if try pcm.resume() { return }
                    if sleep(Self.resumeRetryMilliseconds) { return }
                }
            } catch {
                // Resume unsupported or failed: fall through to prepare, as alsa-lib's
                // snd_pcm_recover does.
            }
            do {
                try pcm.prepareAndStart()
            } catch {
                fail(error)
            }
        default:
            fail(error)
        }
    }

    /// Closes the device so the next read reopens it after a backoff.
    private func fail(_ error: AudioError) {
        pcm.close()
        isOpen = false
        failedAttempts += 1
        logger.warning("\(error.message); reopening in \(nextDelay) ms")
    }

    /// Sleeps the current backoff delay, doubles it (capped), and tries to open the device.
    /// Returns true if cancelled meanwhile.
    private func reopenAfterBackoff() -> Bool {
        let delay = nextDelay
        nextDelay = min(nextDelay * 2, max(1, options.reopenMaxDelayMilliseconds))
        if sleep(delay) { return true }
        do {
            try openDevice()
            counterState.withLock { $0.reopens += 1 }
            logger.info("reopened ALSA capture device '\(pcm.device)' as \(converter!.format)")
        } catch {
            failedAttempts += 1
            // One warning when a failure streak begins; quieter while it lasts.
            let level: Logger.Level = failedAttempts <= 1 ? .warning : .debug
            logger.log(level: level, "\(error.message); retrying in \(nextDelay) ms")
        }
        return false
    }

    /// Opens the PCM and, when its format differs from the last one, builds a new converter
    /// and raw buffer (allocation happens here only, never per read).
    private func openDevice() throws(AudioError) {
        let format = try pcm.open()
        let frames = min(8192, max(256, pcm.periodFrames))
        if converter?.format != format || frames != chunkFrames {
            do {
                converter = try SampleConverter(format: format, maxFrames: frames)
            } catch {
                pcm.close()
                throw error
            }
            raw.deallocate()
            raw = .allocate(byteCount: frames * format.bytesPerFrame, alignment: 16)
            chunkFrames = frames
            logger.debug("ALSA capture on '\(pcm.device)': \(format), \(frames)-frame reads")
        }
        isOpen = true
    }
}
