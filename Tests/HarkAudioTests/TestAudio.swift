import Foundation
import Logging
@testable import HarkAudio

/// Signals, measurements and fixtures shared by the HarkAudio tests.
enum TestAudio {
    static let logger = Logger(label: "hark.audio.tests")

    /// `count` samples of `amplitude · sin(2π f n / rate)`.
    static func sine(frequency: Double, rate: Int, count: Int, amplitude: Double) -> [Double] {
        (0..<count).map { amplitude * sin(2 * Double.pi * frequency * Double($0) / Double(rate)) }
    }

    /// Least-squares fit of `a·sin + b·cos` at `frequency` over `samples`: the tone's amplitude,
    /// and the RMS of what is left after removing it (noise, distortion, other frequencies).
    static func fit(_ samples: [Double], frequency: Double, rate: Int) -> (amplitude: Double, residualRMS: Double) {
        var ss = 0.0, cc = 0.0, sc = 0.0, xs = 0.0, xc = 0.0
        for (n, x) in samples.enumerated() {
            let w = 2 * Double.pi * frequency * Double(n) / Double(rate)
            let s = sin(w), c = cos(w)
            ss += s * s; cc += c * c; sc += s * c; xs += x * s; xc += x * c
        }
        let det = ss * cc - sc * sc
        let a = (xs * cc - xc * sc) / det
        let b = (xc * ss - xs * sc) / det
        var residual = 0.0
        for (n, x) in samples.enumerated() {
            let w = 2 * Double.pi * frequency * Double(n) / Double(rate)
            let e = x - a * sin(w) - b * cos(w)
            residual += e * e
        }
        return ((a * a + b * b).squareRoot(), (residual / Double(samples.count)).squareRoot())
    }

    static func rms(_ samples: [Double]) -> Double {
        (samples.reduce(0) { $0 + $1 * $1 } / Double(max(1, samples.count))).squareRoot()
    }

    static func decibels(_ ratio: Double) -> Double { 20 * log10(ratio) }

    /// Reads a source to its end in reads of `chunk` samples.
    static func readAll(_ source: any AudioSource, chunk: Int = 1000, limit: Int = 10_000_000) throws -> [Int16] {
        var out: [Int16] = []
        var buffer = [Int16](repeating: 0, count: chunk)
        while out.count < limit {
            let n = try buffer.withUnsafeMutableBufferPointer { try source.read(into: $0) }
            if n == 0 { break }
            out.append(contentsOf: buffer[..<n])
        }
        return out
    }

    /// A fresh temporary directory.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hark-audio-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Encodes samples in [-1, 1] as the little-endian bytes of a ``SampleFormat`` (the test's own
/// encoder, independent of HarkAudio's decoder).
func encode(_ samples: [Double], as format: SampleFormat) -> [UInt8] {
    var bytes: [UInt8] = []
    func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    func clamp(_ x: Double, _ scale: Double) -> Double { min(scale - 1, max(-scale, (x * scale).rounded())) }
    for x in samples {
        switch format {
        case .u8: bytes.append(UInt8(clamp(x, 128) + 128))
        case .s16: le(Int16(clamp(x, 32768)))
        case .s24: le(Int32(clamp(x, 8_388_608)))
        case .s24Packed:
            let v = UInt32(bitPattern: Int32(clamp(x, 8_388_608)))
            bytes += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF)]
        case .s32: le(Int32(clamp(x, 2_147_483_648)))
        case .float32: le(Float(x).bitPattern)
        case .float64: le(x.bitPattern)
        }
    }
    return bytes
}

/// Writes WAV files byte by byte, including broken ones.
struct WAVWriter {
    enum Tag { case pcm, float, extensible(sub: UInt16), raw(UInt16) }

    var format: SampleFormat
    var channels: Int
    var rate: Int
    var tag: Tag = .pcm
    var bitsOverride: Int?
    /// Chunks placed before `fmt ` and between `fmt ` and `data`.
    var leadingChunks: [(String, [UInt8])] = []
    var middleChunks: [(String, [UInt8])] = []
    var dataBeforeFmt = false
    var dataSizeOverride: UInt32?

    static func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
    static func le32(_ v: Int) -> [UInt8] { le16(v & 0xFFFF) + le16((v >> 16) & 0xFFFF) }

    func fmtBody() -> [UInt8] {
        let bits = bitsOverride ?? format.bytesPerSample * 8
        let block = channels * format.bytesPerSample
        var common = Self.le16(channels) + Self.le32(rate) + Self.le32(rate * block) + Self.le16(block) + Self.le16(bits)
        switch tag {
        case .pcm: return Self.le16(1) + common
        case .float: return Self.le16(3) + common
        case .raw(let t): return Self.le16(Int(t)) + common
        case .extensible(let sub):
            common += Self.le16(22) + Self.le16(bits) + Self.le32(channels == 2 ? 3 : 4)
            common += Self.le16(Int(sub)) + [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]
            return Self.le16(0xFFFE) + common
        }
    }

    static func chunk(_ id: String, _ body: [UInt8], declared: UInt32? = nil) -> [UInt8] {
        var out = Array(id.utf8) + le32(Int(declared ?? UInt32(body.count))) + body
        if body.count % 2 == 1 { out.append(0) }
        return out
    }

    /// The whole file for interleaved samples (frames × channels) in [-1, 1].
    func bytes(interleaved samples: [Double]) -> [UInt8] {
        let fmt = Self.chunk("fmt ", fmtBody())
        let data = Self.chunk("data", encode(samples, as: format), declared: dataSizeOverride)
        var body: [UInt8] = Array("WAVE".utf8)
        for (id, b) in leadingChunks { body += Self.chunk(id, b) }
        if dataBeforeFmt {
            body += data
            for (id, b) in middleChunks { body += Self.chunk(id, b) }
            body += fmt
        } else {
            body += fmt
            for (id, b) in middleChunks { body += Self.chunk(id, b) }
            body += data
        }
        return Array("RIFF".utf8) + Self.le32(body.count) + body
    }

    @discardableResult
    func write(_ samples: [Double], to url: URL) throws -> URL {
        try Data(bytes(interleaved: samples)).write(to: url)
        return url
    }
}
