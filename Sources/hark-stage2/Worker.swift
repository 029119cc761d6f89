#if canImport(Glibc)
import Glibc
#endif
import HarkLLM
import HarkStage2
import HarkWhisper

// hark-stage2: the stage-2 worker harkd starts on demand (HarkStage2.Stage2Loader). It maps Whisper
// tiny.en and a GGUF language model, says `ready` with its load timings, and answers `transcribe` and
// `generate` requests on its stdin/stdout (one end of a socket pair) until `quit`. Not meant to be
// run by hand; its stderr is harkd's.
//
//   hark-stage2 [--whisper DIR] [--llm FILE] [--threads N] [--context N] [--cache DIR] [--memory-budget MB]
//
// --cache: where primed prompt prefixes (the catalog part) are saved, to be restored by the next
// worker instead of computed.
// --memory-budget: the language model's resident megabytes; a mixture of experts larger than that
// keeps its hot experts in slots and reads the others from the file (HarkLLM.ExpertCache).

func residentMegabytes() -> Double {
    guard let file = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(file) }
    var size = 0, resident = 0
    guard withUnsafeMutablePointer(to: &size, { s in withUnsafeMutablePointer(to: &resident) { r in
        withVaList([s, r]) { vfscanf(file, "%ld %ld", $0) } } }) == 2 else { return 0 }
    return Double(resident * sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
}

struct NotLoaded: Error, CustomStringConvertible {
    let what: String
    var description: String { "no \(what) was given to this worker" }
}

@main
enum HarkStage2Worker {
    static func main() {
        let server = Stage2Server()
        func fatal(_ message: String) -> Never {
            var error = Stage2Message(op: "error")
            error.message = message
            try? server.send(error)
            let line = Array("hark-stage2: \(message)\n".utf8)
            _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            exit(1)
        }


        var whisperDirectory: String?
        var llmPath: String?
        var threads = 1
        var context = 2048
        var cacheDirectory: String?
        var budgetMegabytes: Int?
        var arguments = CommandLine.arguments.dropFirst()
        while let flag = arguments.popFirst() {
            guard let value = arguments.popFirst() else { fatal("\(flag) needs a value") }
            switch flag {
            case "--whisper": whisperDirectory = value
            case "--llm": llmPath = value
            case "--threads":
                guard let n = Int(value), (1...64).contains(n) else { fatal("--threads must be 1–64, not '\(value)'") }
                threads = n
            case "--context":
                guard let n = Int(value), (64...32_768).contains(n) else { fatal("--context must be 64–32768, not '\(value)'") }
                context = n
            case "--cache": cacheDirectory = value
            case "--memory-budget":
                guard let n = Int(value), (1...1_048_576).contains(n) else { fatal("--memory-budget must be 1–1048576 MB, not '\(value)'") }
                budgetMegabytes = n
            default: fatal("unknown option '\(flag)'")
            }
        }

        var timings: [String: Double] = [:]
        var transcriber: WhisperTranscriber?
        if let whisperDirectory {
            let t0 = monotonicNow()
            do { transcriber = try WhisperTranscriber(directory: whisperDirectory) } catch { fatal("stage-2 worker: \(error)") }
            timings["whisper_ms"] = (monotonicNow() - t0) * 1000
        }
        var generator: Generator?
        if let llmPath {
            let t0 = monotonicNow()
            do {
                let model = try LanguageModel(path: llmPath, threads: threads, contextLength: context)
                if let budgetMegabytes {
                    try model.transformer.limitResidentWeights(to: budgetMegabytes * 1_048_576)
                    if let cache = model.transformer.expertCache { timings["expert_slots"] = Double(cache.slotCount) }
                }
                var info = stat()
                let identity = stat(llmPath, &info) == 0 ? "\(llmPath):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)" : llmPath
                if let cacheDirectory, access(cacheDirectory, W_OK) != 0 {
                    fatal("stage-2 worker: --cache \(cacheDirectory) is not a writable directory")
                }
                generator = Generator(model: model, context: context, cacheDirectory: cacheDirectory, modelIdentity: identity)
            } catch { fatal("stage-2 worker: \(error)") }
            timings["llm_ms"] = (monotonicNow() - t0) * 1000
        }
        timings["rss_mb"] = residentMegabytes()
        var ready = Stage2Message(op: "ready")
        ready.timings = timings
        do { try server.send(ready) } catch { exit(0) }


        let status = server.serve(
            transcribe: { samples in
                guard let transcriber else { throw NotLoaded(what: "Whisper model (--whisper)") }
                let t0 = monotonicNow()
                // The audio present only, as the second pass does (at least 10 s of encoder context).
                let options = WhisperTranscriber.Options(threads: threads, audioContext: .init(minimumFrames: 1000))
                let transcript = transcriber.transcribe(samples, options: options)
                var answer = Stage2Message(op: "transcript")
                answer.text = transcript.text.trimmingSpaces()
                answer.logProbability = Double(transcript.logProbabilities.reduce(0, +))
                answer.timings = ["transcribe_ms": (monotonicNow() - t0) * 1000]
                return answer
            },
            generate: { request in
                guard let generator else { throw NotLoaded(what: "language model (--llm)") }
                return try generator.generate(request)
            },
            prime: { request in
                guard let generator else { throw NotLoaded(what: "language model (--llm)") }
                return try generator.prime(request)
            })
        exit(status)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first?.isWhitespace == true { s = s.dropFirst() }
        while s.last?.isWhitespace == true { s = s.dropLast() }
        return String(s)
    }
}
