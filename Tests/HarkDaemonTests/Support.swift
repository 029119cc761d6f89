import Foundation
import HarkTestSupport

enum Repo {
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let models = root.appendingPathComponent("models").path
    static let testData = root.appendingPathComponent("build/testdata")
    static let harkd = productsDirectory + "/harkd"
}

/// The test-audio manifest written by tools/gen_test_audio.py.
struct Manifest {
    struct Entry {
        let path: String
        let kind: String
        let synth: String
        let voice: String
        let snr: Double?
        let duration: Double
        let wakeWords: [(word: String, start: Double, end: Double)]
    }
    let entries: [Entry]

    init() throws {
        let data = try Data(contentsOf: Repo.testData.appendingPathComponent("manifest.json"))
        let json = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        entries = (json["files"] as? [[String: Any]] ?? []).map { file in
            Entry(path: file["path"] as? String ?? "", kind: file["kind"] as? String ?? "",
                  synth: file["synth"] as? String ?? "", voice: file["voice"] as? String ?? "",
                  snr: (file["snr_db"] as? NSNumber)?.doubleValue, duration: (file["duration_s"] as? NSNumber)?.doubleValue ?? 0,
                  wakeWords: (file["wake_words"] as? [[String: Any]] ?? []).map {
                      ($0["word"] as? String ?? "", ($0["start_s"] as? NSNumber)?.doubleValue ?? 0, ($0["end_s"] as? NSNumber)?.doubleValue ?? 0)
                  })
        }
    }
}


/// A finished `harkd` run: exit status, how it ended, and its output.
struct Run {
    let status: Int32
    let reason: Process.TerminationReason
    let stdout: String
    let stderr: String
    var events: [[String: Any]] {
        stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
    var stderrLines: [Substring] { stderr.split(separator: "\n") }
}

/// Runs harkd with `arguments`, optional stdin data and environment, killing it after `timeout` seconds.
func harkd(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:], timeout: Double = 60,
           whileRunning: ((Process) -> Void)? = nil) throws -> Run {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Repo.harkd)
    // Stage 2 only where a test asks for it: a model someone built into models/ must not change
    // what the other tests see.
    process.arguments = arguments.contains { $0.hasPrefix("--stage2") } ? arguments : arguments + ["--no-stage2"]
    process.currentDirectoryURL = Repo.root
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    let outData = ReadAll(out.fileHandleForReading), errData = ReadAll(err.fileHandleForReading)
    if let stdin {
        try input.fileHandleForWriting.write(contentsOf: stdin)
        try input.fileHandleForWriting.close()
    }
    whileRunning?(process)
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(20_000) }
    if process.isRunning { process.terminate() }
    process.waitUntilExit()
    if stdin == nil { try? input.fileHandleForWriting.close() }
    return Run(status: process.terminationStatus, reason: process.terminationReason,
               stdout: outData.wait(), stderr: errData.wait())
}

/// Drains a pipe on its own thread so a chatty child never blocks on a full pipe.
final class ReadAll: @unchecked Sendable {
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    init(_ handle: FileHandle) {
        Thread {
            let all = handle.readDataToEndOfFile()
            self.lock.lock(); self.data = all; self.lock.unlock()
            self.done.signal()
        }.start()
    }
    /// Everything the pipe delivered, once the writer has closed it.
    func wait() -> String {
        done.wait()
        lock.lock(); defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Runs blocking work (waiting for a child process, sleeping) on a thread of its own, so it never
/// holds a thread of Swift's cooperative pool that async code in the same test run needs. (Not
/// Dispatch's global queue: on Linux it has about one thread per core and adds more only about once
/// a second when they all block.)
func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
