import Logging

/// A source of 16 kHz mono Int16 samples. Blocking; used from ONE dedicated thread.
///
/// Only ``read(into:)`` must stay on that thread; ``cancel()`` and ``counters`` may be called
/// from anywhere.
public protocol AudioSource: AnyObject, Sendable {
    /// Fills up to `buffer.count` samples of 16 kHz mono S16; returns the count. Returns 0
    /// ONLY at end of input (file or stdin end, or after ``cancel()``) — or for an empty buffer.
    /// A live source returns what one device period gave (e.g. 512 samples), so callers that
    /// want fixed frames (1280 samples = 80 ms) loop until theirs is full.
    func read(into buffer: UnsafeMutableBufferPointer<Int16>) throws -> Int
    /// True for a live device (ALSA), false for file/stdin (processed as fast as possible).
    var isLive: Bool { get }
    /// Thread-safe; makes a blocked or future ``read(into:)`` return 0 promptly (≤ ~200 ms).
    func cancel()
    /// A thread-safe snapshot of the source's counters.
    var counters: AudioCounters { get }
}

/// What a source has done so far.
public struct AudioCounters: Sendable, Equatable {
    /// 16 kHz samples handed to the reader.
    public var samplesDelivered: UInt64
    /// ALSA capture overruns (`-EPIPE`) recovered by `snd_pcm_prepare`.
    public var overruns: Int
    /// ALSA suspends (`-ESTRPIPE`) recovered by `snd_pcm_resume` or `snd_pcm_prepare`.
    public var suspends: Int
    /// Times the ALSA device was closed after a failure and opened again successfully.
    public var reopens: Int

    public init(samplesDelivered: UInt64 = 0, overruns: Int = 0, suspends: Int = 0, reopens: Int = 0) {
        self.samplesDelivered = samplesDelivered
        self.overruns = overruns
        self.suspends = suspends
        self.reopens = reopens
    }
}

/// How ``openAudioSource(_:options:logger:)`` opens and runs a source. The defaults suit the daemon.
public struct AudioSourceOptions: Sendable, Equatable {
    /// When false (the default), an ALSA device that cannot be opened at start makes
    /// `openAudioSource` throw, so `harkd` exits with a clear message. When true, the source is
    /// returned anyway and its first reads keep retrying with backoff, as after an unplug.
    public var retryOpen: Bool
    /// What to ask the ALSA device for; when refused, the nearest the device offers is captured
    /// and converted. Default: S16_LE, mono, 16 kHz.
    public var captureFormat: CaptureFormat
    /// ALSA period, in milliseconds (the device rounds it).
    public var periodMilliseconds: Int
    /// ALSA buffer size, in periods.
    public var bufferPeriods: Int
    /// Backoff before reopening a failed ALSA device: starts here, doubles, stops at the cap.
    public var reopenInitialDelayMilliseconds: Int
    public var reopenMaxDelayMilliseconds: Int

    public init(
        retryOpen: Bool = false,
        captureFormat: CaptureFormat = .hark,
        periodMilliseconds: Int = 32,
        bufferPeriods: Int = 8,
        reopenInitialDelayMilliseconds: Int = 100,
        reopenMaxDelayMilliseconds: Int = 5_000
    ) {
        self.retryOpen = retryOpen
        self.captureFormat = captureFormat
        self.periodMilliseconds = periodMilliseconds
        self.bufferPeriods = bufferPeriods
        self.reopenInitialDelayMilliseconds = reopenInitialDelayMilliseconds
        self.reopenMaxDelayMilliseconds = reopenMaxDelayMilliseconds
    }
}

/// Opens `input` with default options. Throws a one-line ``AudioError`` if it cannot be opened.
public func openAudioSource(_ input: AudioInput, logger: Logger) throws -> any AudioSource {
    try openAudioSource(input, options: AudioSourceOptions(), logger: logger)
}

/// Opens `input`: an ALSA capture device, a WAV file, or raw S16_LE 16 kHz mono on stdin.
public func openAudioSource(_ input: AudioInput, options: AudioSourceOptions, logger: Logger) throws -> any AudioSource {
    switch input {
    case .alsa(let device):
        return try ALSACaptureSource(
            pcm: ALSAPCM(device: device, options: options), options: options, logger: logger)
    case .file(let path):
        return try WAVFileSource(path: path, logger: logger)
    case .stdin:
        return StdinSource(logger: logger)
    }
}
