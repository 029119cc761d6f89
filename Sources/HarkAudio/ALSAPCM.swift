import CALSA
#if canImport(Glibc)
import Glibc
#endif

/// ``PCMCapture`` over alsa-lib: one capture PCM, opened non-blocking, interleaved.
///
/// Negotiation asks for ``AudioSourceOptions/captureFormat`` (S16_LE, mono, 16 kHz by default).
/// A device that refuses it (a `hw:` device that only does 48 kHz stereo S32, say) gets the
/// first sample format it accepts from `formatPreference`, the channel count nearest the request
/// (the minimum, for mono), and the nearest rate; ``SampleConverter`` makes 16 kHz mono S16 of
/// it. alsa-lib's own rate plugin is switched off (`snd_pcm_hw_params_set_rate_resample 0`):
/// Hark's resampler is the better one and is then used the same way on every device.
final class ALSAPCM: PCMCapture {
    let device: String
    private let request: CaptureFormat
    private let periodMilliseconds: Int
    private let bufferPeriods: Int
    private var handle: OpaquePointer?
    /// The period the device settled on, in frames.
    private(set) var periodFrames = 0

    /// Formats tried after the requested one, in order.
    static let formatPreference: [SampleFormat] = [.s16, .s32, .s24, .s24Packed, .float32]

    init(device: String, options: AudioSourceOptions) {
        self.device = device
        request = options.captureFormat
        periodMilliseconds = max(1, options.periodMilliseconds)
        bufferPeriods = max(2, options.bufferPeriods)
    }

    deinit { close() }

    func open() throws(AudioError) -> CaptureFormat {
        close()
        let pcm = try openPCM(device, stream: SND_PCM_STREAM_CAPTURE, advice: "check --input and 'arecord -L'")
        handle = pcm
        do {
            let format = try configure(pcm)
            try prepareAndStart()
            return format
        } catch {
            close()
            throw error
        }
    }

    private func configure(_ pcm: OpaquePointer) throws(AudioError) -> CaptureFormat {
        var hw: OpaquePointer?
        try alsaCall("snd_pcm_hw_params_malloc", device: device) { snd_pcm_hw_params_malloc(&hw) }
        defer { snd_pcm_hw_params_free(hw) }
        try alsaCall("snd_pcm_hw_params_any", device: device) { snd_pcm_hw_params_any(pcm, hw) }
        try alsaCall("snd_pcm_hw_params_set_access", device: device) {
            snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)
        }
        try alsaCall("snd_pcm_hw_params_set_rate_resample", device: device) {
            snd_pcm_hw_params_set_rate_resample(pcm, hw, 0)
        }

        let candidates = [request.sampleFormat] + Self.formatPreference.filter { $0 != request.sampleFormat }
        let accepted = candidates.first { format in
            (try? alsaCall("snd_pcm_hw_params_test_format", device: device) {
                snd_pcm_hw_params_test_format(pcm, hw, format.alsaFormat)
            }) != nil
        }
        guard let sampleFormat = accepted else {
            throw AudioError(
                code: .unsupportedFormat,
                message: "ALSA device '\(device)' offers none of the sample formats \(candidates.map(\.description).joined(separator: ", ")): use a 'plughw:' or 'default' device")
        }
        try alsaCall("snd_pcm_hw_params_set_format", device: device) {
            snd_pcm_hw_params_set_format(pcm, hw, sampleFormat.alsaFormat)
        }

        var channels = UInt32(max(1, request.channels))
        try alsaCall("snd_pcm_hw_params_set_channels_near", device: device) {
            snd_pcm_hw_params_set_channels_near(pcm, hw, &channels)
        }
        var rate = UInt32(request.rate)
        var direction: Int32 = 0
        try alsaCall("snd_pcm_hw_params_set_rate_near", device: device) {
            snd_pcm_hw_params_set_rate_near(pcm, hw, &rate, &direction)
        }
        var period = snd_pcm_uframes_t(max(16, Int(rate) * periodMilliseconds / 1000))
        try alsaCall("snd_pcm_hw_params_set_period_size_near", device: device) {
            snd_pcm_hw_params_set_period_size_near(pcm, hw, &period, &direction)
        }
        var bufferSize = period * snd_pcm_uframes_t(bufferPeriods)
        try alsaCall("snd_pcm_hw_params_set_buffer_size_near", device: device) {
            snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &bufferSize)
        }
        try alsaCall("snd_pcm_hw_params", device: device) { snd_pcm_hw_params(pcm, hw) }
        try alsaCall("snd_pcm_hw_params_get_period_size", device: device) {
            snd_pcm_hw_params_get_period_size(hw, &period, &direction)
        }
        periodFrames = Int(period)

        var sw: OpaquePointer?
        try alsaCall("snd_pcm_sw_params_malloc", device: device) { snd_pcm_sw_params_malloc(&sw) }
        defer { snd_pcm_sw_params_free(sw) }
        try alsaCall("snd_pcm_sw_params_current", device: device) { snd_pcm_sw_params_current(pcm, sw) }
        try alsaCall("snd_pcm_sw_params_set_avail_min", device: device) {
            snd_pcm_sw_params_set_avail_min(pcm, sw, period)
        }
        try alsaCall("snd_pcm_sw_params", device: device) { snd_pcm_sw_params(pcm, sw) }

        return CaptureFormat(sampleFormat: sampleFormat, channels: Int(channels), rate: Int(rate))
    }

    func wait(milliseconds: Int32) throws(AudioError) -> Bool {
        guard let handle else { throw AudioError.alsa("snd_pcm_wait", device: device, code: EBADFD) }
        return try alsaCall("snd_pcm_wait", device: device) { snd_pcm_wait(handle, milliseconds) } > 0
    }

    func read(into buffer: UnsafeMutableRawPointer, frames: Int) throws(AudioError) -> Int {
        guard let handle else { throw AudioError.alsa("snd_pcm_readi", device: device, code: EBADFD) }
        return try alsaCall("snd_pcm_readi", device: device) {
            snd_pcm_readi(handle, buffer, snd_pcm_uframes_t(frames))
        }
    }

    func prepareAndStart() throws(AudioError) {
        guard let handle else { throw AudioError.alsa("snd_pcm_prepare", device: device, code: EBADFD) }
        try alsaCall("snd_pcm_prepare", device: device) { snd_pcm_prepare(handle) }
        try alsaCall("snd_pcm_start", device: device) { snd_pcm_start(handle) }
    }

    func resume() throws(AudioError) -> Bool {
        guard let handle else { throw AudioError.alsa("snd_pcm_resume", device: device, code: EBADFD) }
        do {
            try alsaCall("snd_pcm_resume", device: device) { snd_pcm_resume(handle) }
            return true
        } catch where error.systemErrorCode == EAGAIN {
            return false
        }
    }

    func close() {
        guard let handle else { return }
        self.handle = nil
        _ = try? alsaCall("snd_pcm_close", device: device) { snd_pcm_close(handle) }
    }
}

extension SampleFormat {
    /// The matching `snd_pcm_format_t`.
    var alsaFormat: snd_pcm_format_t {
        switch self {
        case .u8: SND_PCM_FORMAT_U8
        case .s16: SND_PCM_FORMAT_S16_LE
        case .s24: SND_PCM_FORMAT_S24_LE
        case .s24Packed: SND_PCM_FORMAT_S24_3LE
        case .s32: SND_PCM_FORMAT_S32_LE
        case .float32: SND_PCM_FORMAT_FLOAT_LE
        case .float64: SND_PCM_FORMAT_FLOAT64_LE
        }
    }
}
