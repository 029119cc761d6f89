import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import HarkAudio
import HarkKernels
import HarkWhisper
import Logging

/// `hark-whisper FILE.wav…`: Whisper tiny.en transcripts of recordings (any WAV HarkAudio reads,
/// resampled to 16 kHz mono), one line per file.
@main
struct HarkWhisperCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hark-whisper",
        abstract: "Transcribe recordings with Whisper tiny.en (Hark's own engine).")

    @Option(help: "The model directory (CTranslate2 model.bin, config.json, vocabulary.txt).")
    var model = "models/whisper-tiny.en"

    @Option(help: "Threads for the matrix products.")
    var threads = 1

    @Option(help: "The dense layers: 'float32' (the decoder's from the file's float16), or 'int8' (CTranslate2's int8 compute type; fast only where built with AVX-512 VNNI).")
    var computeType: WhisperModel.ComputeType = .float32

    @Option(help: "Encoder input: 'present' (only the audio there), 'full' (padded to 30 s, as faster-whisper), or seconds to pad to.")
    var audioContext: WhisperTranscriber.AudioContext = .full

    @Option(help: "Text said before the recordings (faster-whisper's initial_prompt): names and words to expect.")
    var prompt: String?

    @Flag(help: "One JSON object per line: {\"load_s\"} first, then {\"file\",\"text\",\"tokens\",\"seconds\"} per file.")
    var json = false

    @Flag(help: "Print the time of the front end, the encoder and the decoder of each file to stderr.")
    var profile = false

    @Argument(help: "Recordings to transcribe.")
    var files: [String]

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be 1–64, not \(threads)") }
        guard !files.isEmpty else { throw ValidationError("name at least one recording") }
    }

    func run() throws {
        let logger = Logger(label: "hark-whisper")
        let start = monotonicSeconds()
        let transcriber: WhisperTranscriber
        do {
            transcriber = try WhisperTranscriber(directory: model, computeType: computeType)
        } catch {
            throw fail("hark-whisper: \(error)")
        }
        if computeType == .int8 && !Int8Matrix.isAccelerated {
            printError("hark-whisper: warning: this build has no VNNI int8 kernels (an ARM or AVX2-only machine); int8 runs on a portable loop, far slower than float32")
        }
        let loaded = monotonicSeconds() - start
        if json { print("{\"load_s\": \(rounded(loaded))}") }
        var previous: [Int] = []
        if let prompt {
            do {
                previous = try WhisperTextEncoder(directory: model, vocabulary: transcriber.model.vocabulary).encodePrompt(prompt)
            } catch {
                throw fail("hark-whisper: \(error)")
            }
        }
        let options = WhisperTranscriber.Options(threads: threads, audioContext: audioContext, previous: previous)
        var failures = 0
        for file in files {
            let samples: [Int16]
            do {
                samples = try readAll(file, logger: logger)
            } catch {
                failures += 1
                printError("hark-whisper: \(file): \(error)")
                continue
            }
            if profile { self.profile(transcriber, samples, options: options, file: file) }
            let began = monotonicSeconds()
            let transcript = transcriber.transcribe(samples, options: options)
            let seconds = monotonicSeconds() - began
            if json {
                print("{\"file\": \(quoted(file)), \"text\": \(quoted(transcript.text)), \"tokens\": \(transcript.tokens), \"seconds\": \(rounded(seconds))}")
            } else {
                print("\(file): \(transcript.text.trimmingLeadingSpace)")
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }

    func profile(_ transcriber: WhisperTranscriber, _ samples: [Int16], options: WhisperTranscriber.Options, file: String) {
        var t = monotonicSeconds()
        func lap() -> String {
            let now = monotonicSeconds()
            defer { t = now }
            return "\(Int((now - t) * 1000)) ms"
        }
        let windows = transcriber.windows(samples.map { Float($0) / 32768 }, audioContext: options.audioContext)
        var line = "\(file): front end \(lap())"
        for window in windows {
            let encoded = transcriber.model.encode(mel: window.mel, frames: window.frames, threads: options.threads)
            line += ", encoder (\(encoded.positions) positions) \(lap())"
            let transcript = transcriber.greedy(encoded, threads: options.threads, previous: options.previous)
            line += ", decoder (\(options.previous.isEmpty ? "" : "a prompt of \(options.previous.count) tokens, ")\(transcript.logProbabilities.count) steps) \(lap())"
        }
        printError(line)
    }

    func readAll(_ path: String, logger: Logger) throws -> [Int16] {
        let source = try openAudioSource(.file(path: path), logger: logger)
        var samples: [Int16] = []
        var buffer = [Int16](repeating: 0, count: 16_000)
        while true {
            let n = try buffer.withUnsafeMutableBufferPointer { try source.read(into: $0) }
            if n == 0 { return samples }
            samples += buffer[..<n]
        }
    }

    func fail(_ message: String) -> ExitCode {
        printError(message)
        return ExitCode(1)
    }
}

extension WhisperTranscriber.AudioContext: ExpressibleByArgument {
    /// "full", "present", or seconds to pad to ("8").
    public init?(argument: String) {
        switch argument {
        case "full": self = .full
        case "present": self = .present
        default:
            guard let seconds = Double(argument), seconds >= 0, seconds <= 30 else { return nil }
            self.init(minimumFrames: Int((seconds * 100).rounded()))
        }
    }
}

func printError(_ message: String) {
    var line = message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

func rounded(_ value: Double) -> String {
    String(Double((value * 1e6).rounded()) / 1e6)
}

/// A JSON string literal.
func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

extension String {
    var trimmingLeadingSpace: Substring { drop { $0 == " " } }
}

extension WhisperModel.ComputeType: ExpressibleByArgument {}
