import CALSA
#if canImport(Glibc)
import Glibc
#endif

/// Runs one alsa-lib call. Every ALSA call in HarkAudio goes through here (the shape of
/// swift-nio's `NIOPosix/System.swift`): alsa-lib reports failure as a negative errno value;
/// `-EINTR` is retried, any other negative value becomes an ``AudioError`` naming `function`
/// and `device`, with `snd_strerror`'s text and the positive code in `systemErrorCode`.
@inline(__always)
@discardableResult
func alsaCall<Result: BinaryInteger>(
    _ function: StaticString, device: String, _ body: () -> Result
) throws(AudioError) -> Result {
    while true {
        let result = body()
        if result >= 0 { return result }
        // A negative errno always fits in Int32.
        let code = Int32(truncatingIfNeeded: 0 - result)
        if code == EINTR { continue }
        throw AudioError.alsa("\(function)", device: device, code: code)
    }
}

/// alsa-lib's text for a positive error code (`snd_strerror` takes the negative form).
func alsaErrorText(_ code: Int32) -> String {
    String(cString: snd_strerror(-code))
}

/// Runs one POSIX call that reports failure as `-1` with `errno`; `EINTR` is retried and any
/// other failure is returned as the positive errno so the caller can word the error.
@inline(__always)
func posixCall<Result: BinaryInteger>(_ body: () -> Result) -> (value: Result, errno: Int32) {
    while true {
        let result = body()
        if result >= 0 { return (result, 0) }
        let code = errno
        if code == EINTR { continue }
        return (result, code)
    }
}

/// Opens a PCM non-blocking; a failure is one line naming the stream, the device and what to check,
/// e.g. `cannot open ALSA capture device 'hw:9' (snd_pcm_open: No such file or directory): check --input and 'arecord -L'`.
func openPCM(_ device: String, stream: snd_pcm_stream_t, advice: String) throws(AudioError) -> OpaquePointer {
    var pcm: OpaquePointer?
    do {
        try alsaCall("snd_pcm_open", device: device) { snd_pcm_open(&pcm, device, stream, SND_PCM_NONBLOCK) }
    } catch {
        let code = error.systemErrorCode ?? EIO
        let kind = stream == SND_PCM_STREAM_CAPTURE ? "capture" : "playback"
        throw AudioError(
            code: .deviceUnavailable,
            message: "cannot open ALSA \(kind) device '\(device)' (snd_pcm_open: \(alsaErrorText(code))): \(advice)",
            systemErrorCode: code, underlying: error)
    }
    return pcm!
}
