#if canImport(Glibc)
import Glibc
#endif

/// The one error type of HarkAudio.
///
/// `message` is a single line that says what failed, on what, and what to do, e.g.
/// `cannot open ALSA capture device 'hw:9' (snd_pcm_open: No such file or directory): check --input and 'arecord -L'`.
/// `code` is a small, growable classification a caller can switch on; `systemErrorCode`
/// carries the positive errno-style value when the failure came from an ALSA or POSIX call.
public struct AudioError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is. A struct over a private enum so new codes can be added
    /// without breaking callers' `switch` statements.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case invalidInputSpec
            case deviceUnavailable
            case deviceFailed
            case unsupportedFormat
            case malformedFile
            case fileUnreadable
            case inputFailed
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// An `--input` specification that cannot be parsed.
        public static let invalidInputSpec = Code(.invalidInputSpec)
        /// An ALSA device that cannot be opened (absent, busy, refused).
        public static let deviceUnavailable = Code(.deviceUnavailable)
        /// An ALSA call that failed on an open device.
        public static let deviceFailed = Code(.deviceFailed)
        /// A sample format, bit depth, channel count or rate HarkAudio cannot convert.
        public static let unsupportedFormat = Code(.unsupportedFormat)
        /// A WAV file whose structure is wrong (not RIFF/WAVE, missing or truncated chunks).
        public static let malformedFile = Code(.malformedFile)
        /// A file that cannot be opened or read.
        public static let fileUnreadable = Code(.fileUnreadable)
        /// A read from stdin or another descriptor that failed.
        public static let inputFailed = Code(.inputFailed)

        public var description: String { "\(base)" }
    }

    public let code: Code
    /// One line: what failed, on what, and what to do.
    public let message: String
    /// The positive errno-style code (`EPIPE`, `ENODEV`, …) when an ALSA or POSIX call failed.
    public let systemErrorCode: Int32?
    /// The lower-level error this one wraps, if any.
    public let underlying: (any Error)?

    public init(code: Code, message: String, systemErrorCode: Int32? = nil, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.systemErrorCode = systemErrorCode
        self.underlying = underlying
    }

    public var description: String { message }
}

extension AudioError {
    /// An ALSA call returned `-code`. The message names the function, the device and alsa-lib's text.
    static func alsa(_ function: String, device: String, code: Int32) -> AudioError {
        AudioError(
            code: .deviceFailed,
            message: "\(function) failed on ALSA device '\(device)': \(alsaErrorText(code))",
            systemErrorCode: code)
    }

    /// A POSIX call on a file or descriptor failed with `errno == code`.
    static func posix(_ function: String, on object: String, code: Int32, kind: Code, advice: String) -> AudioError {
        AudioError(
            code: kind,
            message: "\(function) failed on \(object): \(String(cString: strerror(code))): \(advice)",
            systemErrorCode: code)
    }
}
