/// The few ALSA capture calls that ``ALSACaptureSource``'s recovery logic drives.
///
/// One real implementation, ``ALSAPCM`` (alsa-lib), and fakes in the tests that return
/// `-EPIPE`, `-ESTRPIPE`, `-ENODEV`, `-EBUSY` sequences. Failures are ``AudioError``s whose
/// `systemErrorCode` is the positive errno alsa-lib returned (made by ``alsaCall(_:device:_:)``),
/// which is what recovery switches on. Used from the source's reading thread only.
protocol PCMCapture: AnyObject {
    /// The device name, for messages.
    var device: String { get }

    /// The period the open device settled on, in frames (0 if unknown); reads are sized by it.
    var periodFrames: Int { get }

    /// Opens and configures the device, prepares and starts the stream; returns the frame
    /// format it delivers. Closes whatever was open before.
    func open() throws(AudioError) -> CaptureFormat

    /// Waits up to `milliseconds` for frames (`snd_pcm_wait`): true when some are ready.
    func wait(milliseconds: Int32) throws(AudioError) -> Bool

    /// Reads up to `frames` interleaved frames into `buffer` (`snd_pcm_readi`); returns the count.
    func read(into buffer: UnsafeMutableRawPointer, frames: Int) throws(AudioError) -> Int

    /// Recovers from an overrun: `snd_pcm_prepare` then `snd_pcm_start`.
    func prepareAndStart() throws(AudioError)

    /// `snd_pcm_resume` after a suspend: true when resumed, false while it answers `-EAGAIN`.
    func resume() throws(AudioError) -> Bool

    /// Closes the device if open. Never fails.
    func close()
}
