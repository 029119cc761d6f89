/// Where audio comes from, as given by `harkd --input`.
///
/// - `alsa:DEVICE` — live capture from an ALSA PCM (`alsa:default`, `alsa:hw:1,0`, `alsa:plughw:CARD=Mic`).
/// - `-` — raw S16_LE, 16 kHz, mono on standard input, until end of file.
/// - anything else — the path of a `.wav` file.
public enum AudioInput: Equatable, Sendable, CustomStringConvertible {
    case alsa(device: String)
    case file(path: String)
    case stdin

    /// The daemon's default input.
    public static let defaultInput = AudioInput.alsa(device: "default")

    /// Parses an `--input` value: `alsa:DEVICE`, `-`, or a WAV file path.
    public init(parsing spec: String) throws(AudioError) {
        if spec == "-" {
            self = .stdin
        } else if spec.hasPrefix("alsa:") {
            let device = String(spec.dropFirst("alsa:".count))
            guard !device.isEmpty else {
                throw AudioError(
                    code: .invalidInputSpec,
                    message: "invalid input 'alsa:': the ALSA device name is empty: use e.g. 'alsa:default' or 'alsa:hw:1,0' (see 'arecord -L')")
            }
            self = .alsa(device: device)
        } else if spec.isEmpty {
            throw AudioError(
                code: .invalidInputSpec,
                message: "invalid input '': give 'alsa:DEVICE', '-' for raw S16_LE 16 kHz mono on stdin, or a .wav file path")
        } else {
            self = .file(path: spec)
        }
    }

    /// The specification this input parses from.
    public var description: String {
        switch self {
        case .alsa(let device): "alsa:\(device)"
        case .file(let path): path
        case .stdin: "-"
        }
    }
}
