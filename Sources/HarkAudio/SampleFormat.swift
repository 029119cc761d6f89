/// A little-endian PCM sample encoding, as ALSA and WAV files deliver it.
///
/// | case | ALSA name | WAV | bytes | value |
/// |---|---|---|---|---|
/// | `u8` | U8 | PCM 8-bit | 1 | unsigned, 128 = silence |
/// | `s16` | S16_LE | PCM 16-bit | 2 | signed |
/// | `s24` | S24_LE | — | 4 | signed 24-bit in the low three bytes of a 32-bit word |
/// | `s24Packed` | S24_3LE | PCM 24-bit | 3 | signed, packed |
/// | `s32` | S32_LE | PCM 32-bit | 4 | signed |
/// | `float32` | FLOAT_LE | IEEE float 32 (tag 3) | 4 | nominal range [-1, 1] |
/// | `float64` | FLOAT64_LE | IEEE float 64 (tag 3) | 8 | nominal range [-1, 1] |
public enum SampleFormat: Sendable, Equatable, CustomStringConvertible {
    case u8, s16, s24, s24Packed, s32, float32, float64

    public var bytesPerSample: Int {
        switch self {
        case .u8: 1
        case .s16: 2
        case .s24Packed: 3
        case .s24, .s32, .float32: 4
        case .float64: 8
        }
    }

    /// The ALSA name of the format.
    public var description: String {
        switch self {
        case .u8: "U8"
        case .s16: "S16_LE"
        case .s24: "S24_LE"
        case .s24Packed: "S24_3LE"
        case .s32: "S32_LE"
        case .float32: "FLOAT_LE"
        case .float64: "FLOAT64_LE"
        }
    }
}

/// The shape of interleaved PCM frames: encoding, channel count and sample rate.
public struct CaptureFormat: Sendable, Equatable, CustomStringConvertible {
    public var sampleFormat: SampleFormat
    public var channels: Int
    public var rate: Int

    public init(sampleFormat: SampleFormat, channels: Int, rate: Int) {
        self.sampleFormat = sampleFormat
        self.channels = channels
        self.rate = rate
    }

    /// What the rest of Hark consumes: S16_LE, mono, 16 kHz.
    public static let hark = CaptureFormat(sampleFormat: .s16, channels: 1, rate: 16_000)

    public var bytesPerFrame: Int { sampleFormat.bytesPerSample * channels }

    public var description: String { "\(sampleFormat) \(channels) ch \(rate) Hz" }
}

extension SampleFormat {
    /// Decodes `frames` interleaved frames of `channels` channels at `source` into mono floats
    /// in [-1, 1] at `destination`, averaging the channels (downmix).
    ///
    /// Scalar and allocation-free; `source` needs no alignment.
    /// Shapes: source `[frames × channels]` samples of this format; destination `[frames]`.
    func decodeMono(
        _ source: UnsafeRawPointer, frames: Int, channels: Int, into destination: UnsafeMutablePointer<Float>
    ) {
        switch self {
        case .u8:
            decode(source, frames, channels, destination, stride: 1, scale: 1.0 / 128) {
                Float(Int($0.load(as: UInt8.self)) - 128)
            }
        case .s16:
            decode(source, frames, channels, destination, stride: 2, scale: 1.0 / 32768) {
                Float(Int16(littleEndian: $0.loadUnaligned(as: Int16.self)))
            }
        case .s24:
            decode(source, frames, channels, destination, stride: 4, scale: 1.0 / 8_388_608) {
                // Sign-extend bit 23 by shifting the 24 low bits to the top and back.
                Float(Int32(bitPattern: UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) << 8) >> 8)
            }
        case .s24Packed:
            decode(source, frames, channels, destination, stride: 3, scale: 1.0 / 8_388_608) {
                let b0 = UInt32($0.load(as: UInt8.self))
                let b1 = UInt32($0.load(fromByteOffset: 1, as: UInt8.self))
                let b2 = UInt32($0.load(fromByteOffset: 2, as: UInt8.self))
                return Float(Int32(bitPattern: (b0 << 8) | (b1 << 16) | (b2 << 24)) >> 8)
            }
        case .s32:
            decode(source, frames, channels, destination, stride: 4, scale: 1.0 / 2_147_483_648) {
                Float(Int32(littleEndian: $0.loadUnaligned(as: Int32.self)))
            }
        case .float32:
            decode(source, frames, channels, destination, stride: 4, scale: 1) {
                Float(bitPattern: UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)))
            }
        case .float64:
            decode(source, frames, channels, destination, stride: 8, scale: 1) {
                Float(Double(bitPattern: UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))))
            }
        }
    }

    @inline(__always)
    private func decode(
        _ source: UnsafeRawPointer, _ frames: Int, _ channels: Int, _ destination: UnsafeMutablePointer<Float>,
        stride: Int, scale: Float, _ sample: (UnsafeRawPointer) -> Float
    ) {
        if channels == 1 {
            for i in 0..<frames {
                destination[i] = sample(source + i * stride) * scale
            }
            return
        }
        let frameBytes = stride * channels
        let mix = scale / Float(channels)
        for i in 0..<frames {
            let frame = source + i * frameBytes
            var sum: Float = 0
            for c in 0..<channels {
                sum += sample(frame + c * stride)
            }
            destination[i] = sum * mix
        }
    }
}

/// Quantizes a float in [-1, 1] to S16 with rounding and clipping; NaN becomes 0.
@inline(__always)
func int16Sample(_ value: Float) -> Int16 {
    let scaled = value * 32768
    if scaled >= 32767 { return 32767 }
    if scaled > -32768 { return Int16(scaled.rounded()) }
    return scaled.isNaN ? 0 : -32768
}
