/// The parts of a RIFF/WAVE file that locate and describe its samples.
///
/// Layout (Microsoft RIFF and "Multiple Channel Audio Data and WAVE Files"; all integers little-endian):
///
///     0   "RIFF"  u32 riffSize  "WAVE"                    12-byte file header (riffSize is not trusted)
///     12  chunk*  each: id[4]  u32 size  body[size]  pad byte if size is odd
///
///     "fmt " body (16, 18 or 40 bytes):
///       0  u16 formatTag      1 = PCM, 3 = IEEE float, 0xFFFE = WAVE_FORMAT_EXTENSIBLE
///       2  u16 channels
///       4  u32 sampleRate
///       8  u32 avgBytesPerSec (ignored)
///      12  u16 blockAlign     bytes per frame = channels × container bytes
///      14  u16 bitsPerSample  container size: 8 (unsigned), 16, 24, 32 (signed) or 32/64 float
///      16  u16 cbSize         extension size (22 for EXTENSIBLE)
///      18  u16 validBits      EXTENSIBLE only; 24 ... 39 are channel mask and:
///      24  u8[16] subFormat   GUID whose first two bytes are the real tag (1 or 3) followed by
///                             00 00 00 00 10 00 80 00 00 AA 00 38 9B 71 (KSDATAFORMAT_SUBTYPE_*)
///
///     "data" body: interleaved frames of blockAlign bytes.
///
/// Chunks may come in any order; unknown ones (LIST, fact, cue, …) are skipped.
struct WAVHeader: Equatable {
    var format: CaptureFormat
    /// Byte offset of the first sample in the file.
    var dataOffset: Int
    /// Bytes of sample data (whole frames are used).
    var dataSize: Int

    /// Chunks scanned before giving up on finding `fmt ` and `data`; bounds the work a hostile
    /// file of tiny chunks can cause.
    static let maxChunks = 4096
    /// `data` sizes from this one up are the placeholders streaming writers leave when they
    /// cannot seek back (0xFFFFFFFF; 0x7FFFFFFF; espeak-ng --stdout writes 0x7FFFF000) and
    /// mean "until end of file" when the file is shorter. Smaller sizes that overrun the file
    /// are truncation.
    static let streamingDataSize: UInt32 = 0x7FFF_F000
    /// Sample rates accepted: telephone-band to studio rates; anything else is a corrupt header.
    static let supportedRates = 1_000...768_000
    /// The 14 bytes after the tag in an EXTENSIBLE subformat GUID.
    static let subFormatTail: [UInt8] = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71]

    /// Parses the header through `readAt(offset, count)`, which returns up to `count` bytes at
    /// `offset`, fewer at end of file. `fileSize` bounds every chunk. Failures are one-line
    /// ``AudioError``s that name `path` and the problem.
    static func parse(
        path: String, fileSize: Int, readAt: (Int, Int) throws(AudioError) -> [UInt8]
    ) throws(AudioError) -> WAVHeader {
        func bad(_ problem: String, _ code: AudioError.Code = .malformedFile) -> AudioError {
            AudioError(code: code, message: "cannot read WAV file '\(path)': \(problem)")
        }
        let head = try readAt(0, 12)
        guard head.count == 12 else {
            throw bad("the file is \(head.count) bytes, too short to be a WAV file: give a PCM .wav file")
        }
        guard head[0..<4] == Array("RIFF".utf8)[...], head[8..<12] == Array("WAVE".utf8)[...] else {
            throw bad("not a RIFF/WAVE file (it starts with \(printable(head.prefix(12)))): give a PCM .wav file")
        }

        var fmt: [UInt8]?
        var data: (offset: Int, size: Int)?
        var offset = 12
        var chunks = 0
        while offset + 8 <= fileSize, fmt == nil || data == nil {
            chunks += 1
            guard chunks <= maxChunks else {
                throw bad("more than \(maxChunks) chunks before 'fmt ' and 'data': the file is corrupt")
            }
            let header = try readAt(offset, 8)
            guard header.count == 8 else { break }
            let id = String(decoding: header[0..<4], as: UTF8.self)
            let declared = u32(header, 4)
            let bodyOffset = offset + 8
            let remaining = fileSize - bodyOffset
            if id == "data" {
                let size = declared >= streamingDataSize ? min(Int(declared), remaining) : Int(declared)
                guard size <= remaining else {
                    throw bad("data chunk says \(size) bytes but only \(remaining) remain: the file is truncated")
                }
                data = (bodyOffset, size)
            } else if id == "fmt " {
                guard Int(declared) <= remaining else {
                    throw bad("'fmt ' chunk says \(declared) bytes but only \(remaining) remain: the file is truncated")
                }
                fmt = try readAt(bodyOffset, min(Int(declared), 64))
            }
            offset = bodyOffset + Int(declared) + Int(declared & 1)
        }
        guard let fmt else { throw bad("no 'fmt ' chunk: the file is not a valid WAV file") }
        guard let data else { throw bad("no 'data' chunk: the file holds no audio") }
        let format = try parseFormat(fmt, bad)
        return WAVHeader(format: format, dataOffset: data.offset, dataSize: data.size)
    }

    private static func parseFormat(_ fmt: [UInt8], _ bad: (String, AudioError.Code) -> AudioError) throws(AudioError) -> CaptureFormat {
        guard fmt.count >= 16 else {
            throw bad("'fmt ' chunk is \(fmt.count) bytes, fewer than the 16 every WAV format needs: the file is corrupt", .malformedFile)
        }
        var tag = u16(fmt, 0)
        let channels = Int(u16(fmt, 2))
        let rate = Int(u32(fmt, 4))
        let blockAlign = Int(u16(fmt, 12))
        let bits = Int(u16(fmt, 14))
        if tag == 0xFFFE {
            guard fmt.count >= 40, Array(fmt[26..<40]) == subFormatTail else {
                throw bad("WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk has no valid subformat GUID: convert to PCM WAV, e.g. `sox in.wav -b 16 out.wav`", .unsupportedFormat)
            }
            tag = u16(fmt, 24)
        }
        guard tag == 1 || tag == 3 else {
            let example = tag == 0x0055 || tag == 0x0050 ? "sox in.mp3 -b 16 out.wav" : "sox in.wav -e signed-integer -b 16 out.wav"
            throw bad("format tag \(hex(tag)) (\(formatTagName(tag))) is not PCM: convert to PCM WAV, e.g. `\(example)`", .unsupportedFormat)
        }
        guard channels > 0 else { throw bad("the 'fmt ' chunk says 0 channels: the file is corrupt", .malformedFile) }
        guard channels <= 64 else {
            throw bad("\(channels) channels is more than the 64 supported: downmix it, e.g. `sox in.wav -c 1 out.wav`", .unsupportedFormat)
        }
        guard rate > 0 else { throw bad("the 'fmt ' chunk says a sample rate of 0 Hz: the file is corrupt", .malformedFile) }
        guard supportedRates.contains(rate) else {
            throw bad("sample rate \(rate) Hz is outside the \(supportedRates.lowerBound)–\(supportedRates.upperBound) Hz supported: resample it, e.g. `sox in.wav -r 16000 out.wav`", .unsupportedFormat)
        }
        let sampleFormat: SampleFormat
        switch (tag, bits) {
        case (1, 8): sampleFormat = .u8
        case (1, 16): sampleFormat = .s16
        case (1, 24): sampleFormat = .s24Packed
        case (1, 32): sampleFormat = .s32
        case (3, 32): sampleFormat = .float32
        case (3, 64): sampleFormat = .float64
        default:
            throw bad("unsupported bit depth \(bits) for \(tag == 3 ? "float" : "PCM") (PCM 8, 16, 24 or 32 bit, float 32 or 64): convert it, e.g. `sox in.wav -b 16 out.wav`", .unsupportedFormat)
        }
        guard blockAlign == channels * sampleFormat.bytesPerSample else {
            throw bad("block align \(blockAlign) does not match \(channels) channels of \(bits)-bit samples: the file is corrupt", .malformedFile)
        }
        return CaptureFormat(sampleFormat: sampleFormat, channels: channels, rate: rate)
    }

    /// Names of the format tags people meet (mmreg.h).
    static func formatTagName(_ tag: UInt16) -> String {
        switch tag {
        case 0x0002: "Microsoft ADPCM"
        case 0x0006: "A-law"
        case 0x0007: "µ-law"
        case 0x0011: "IMA ADPCM"
        case 0x0031: "GSM 6.10"
        case 0x0050: "MPEG"
        case 0x0055: "MP3"
        case 0x00FF, 0x1610: "AAC"
        case 0x2000: "AC-3"
        case 0xF1AC: "FLAC"
        default: "unknown"
        }
    }
}

private func u16(_ bytes: [UInt8], _ at: Int) -> UInt16 {
    UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
}

private func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
    UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
}

private func hex(_ value: UInt16) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: 4 - digits.count) + digits
}

/// Bytes as text for a message: printable ASCII kept, the rest as `\xNN`.
private func printable(_ bytes: ArraySlice<UInt8>) -> String {
    var text = "'"
    for byte in bytes {
        if byte >= 0x20 && byte < 0x7F && byte != 0x27 {
            text.append(Character(Unicode.Scalar(byte)))
        } else {
            let digits = String(byte, radix: 16, uppercase: true)
            text += "\\x" + (digits.count == 1 ? "0" : "") + digits
        }
    }
    return text + "'"
}
