import Foundation
import HarkControl
import HarkDevices
import HarkTestSupport
import Synchronization

enum Bin {
    static let harkd = productsDirectory + "/harkd"
    static let harkctl = productsDirectory + "/harkctl"
    static let demo = repositoryRoot + "/build/testdata/demo/demo.wav"
}

/// Runs blocking work (a client waiting on its socket, a child process) on a thread of its own, so it
/// never holds a thread of Swift's cooperative pool that the server's handler tasks need. (Not
/// Dispatch's global queue: on Linux it has about one thread per core and adds more only about
/// once a second when they all block, which stalls tests that run side by side.)
func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// A finished child process.
struct Finished: Sendable {
    let status: Int32
    let stdout: String
    let stderr: String
    /// stdout as JSON (harkctl --json).
    var json: JSONValue? { try? JSONValue.parse(stdout) }
    var lines: [String] { stdout.split(separator: "\n").map(String.init) }
}

/// Runs a program to the end (killed after `timeout` seconds), with its output.
func runProgram(_ path: String, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 30) throws -> Finished {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let outData = Drain(out.fileHandleForReading), errData = Drain(err.fileHandleForReading)
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { usleep(5_000) }
    if process.isRunning { process.terminate() }
    process.waitUntilExit()
    return Finished(status: process.terminationStatus, stdout: outData.wait(), stderr: errData.wait())
}

/// A user that is not root, as `setpriv` sets it: the kernel's credentials, which SO_PEERCRED reports.
struct OtherUser: Sendable {
    var uid: UInt32 = 65_534
    var gid: UInt32 = 65_534
    var groups: [UInt32] = []

    var setprivArguments: [String] {
        ["--reuid=\(uid)", "--regid=\(gid)"] + (groups.isEmpty ? ["--clear-groups"] : ["--groups=\(groups.map(String.init).joined(separator: ","))"])
    }
}

/// harkctl with `arguments`, against `socket`; as `user` when given.
func harkctl(_ arguments: [String], socket: String, as user: OtherUser? = nil, timeout: Double = 30) throws -> Finished {
    let all = arguments + ["--socket", socket]
    if let user { return try runProgram("/usr/bin/setpriv", user.setprivArguments + ["--", Bin.harkctl] + all, timeout: timeout) }
    return try runProgram(Bin.harkctl, all, timeout: timeout)
}

/// Drains a pipe on its own thread so a chatty child never blocks on a full pipe.
final class Drain: @unchecked Sendable {
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
    func wait() -> String {
        done.wait()
        done.signal()
        lock.lock(); defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }
}

/// harkd running for one test: a control socket in a fresh directory (0755, so other users can reach
/// it when the test wants them to), events and logs in files there. With `input: "-"` a feeder
/// thread writes audio to its stdin in real time (silence unless samples are queued), so frames move.
final class RunningHarkd: @unchecked Sendable {
    let directory: String
    let socket: String
    let eventsPath: String
    let logPath: String
    let process = Process()
    private let feeder: AudioFeeder?
    private let stdinPipe: Pipe?

    init(input: String = "none", catalog: String = repositoryRoot + "/devices", dryRun: Bool = true, config: String? = nil,
         extra: [String] = [], environment: [String: String] = [:], directory: String? = nil) throws {
        let directory = directory ?? makeTemporaryDirectory("harkd-control")
        chmod(directory, 0o755)
        self.directory = directory
        socket = directory + "/control.sock"
        eventsPath = directory + "/events.jsonl"
        logPath = directory + "/harkd.log"
        var arguments = ["--input", input, "--socket", socket, "--catalog", catalog, "--events", eventsPath,
                         "--models", repositoryRoot + "/models"]
        if dryRun { arguments.append("--dry-run") }
        if let config { arguments += ["--config", config] }
        // Stage 2 only where a test asks for it (a stage2: section in its configuration, or an
        // option): a model someone built into models/ must not change what the other tests see.
        let configured = config.flatMap { readTextFile($0) }?.contains("stage2:") ?? false
        if !configured && !extra.contains(where: { $0.hasPrefix("--stage2") }) { arguments.append("--no-stage2") }
        process.executableURL = URL(fileURLWithPath: Bin.harkd)
        process.arguments = arguments + extra
        process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardError = log
        process.standardOutput = log
        // A feeder writing to a harkd that died must not kill the test process.
        signal(SIGPIPE, SIG_IGN)
        if input == "-" {
            let pipe = Pipe()
            process.standardInput = pipe
            stdinPipe = pipe
            feeder = AudioFeeder(dup(pipe.fileHandleForWriting.fileDescriptor))
            try process.run()
            feeder?.start()
        } else {
            process.standardInput = FileHandle.nullDevice
            stdinPipe = nil
            feeder = nil
            try process.run()
        }
        try waitForSocket()
    }

    deinit {
        if process.isRunning { _ = stop() }
    }

    /// Returns once a client can connect (harkd bound the socket and the loop answers).
    func waitForSocket(timeout: Double = 60) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard process.isRunning else { throw ControlError(.unreachable, "harkd exited (\(process.terminationStatus)): \(log)") }
            if let client = try? ControlClient(path: socket, timeout: 5), (try? client.call("status")) != nil { return }
            usleep(20_000)
        }
        throw ControlError(.timeout, "harkd's socket did not answer in \(timeout) s: \(log)")
    }

    /// SIGTERM, then the exit status (killed after 20 s).
    @discardableResult
    func stop() -> Int32 {
        feeder?.stop()
        try? stdinPipe?.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    var log: String { readTextFile(logPath) ?? "" }

    var events: [JSONValue] {
        (readTextFile(eventsPath) ?? "").split(separator: "\n").compactMap { try? JSONValue.parse($0) }
    }

    /// Resident memory (VmRSS) in kB.
    var rssKB: Int {
        let status = readTextFile("/proc/\(process.processIdentifier)/status") ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// Queues 16 kHz samples for the audio feeder (after what is queued).
    func play(_ samples: [Int16]) { feeder?.queue(samples) }

    var queuedSamples: Int { feeder?.pending ?? 0 }

    func call(_ method: String, _ params: [String: JSONValue] = [:]) throws -> JSONValue {
        try ControlClient(path: socket, timeout: 20).call(method, params)
    }
}

/// Writes 80 ms chunks of audio to a pipe every 80 ms: queued samples first, silence otherwise.
final class AudioFeeder: @unchecked Sendable {
    private let fd: Int32
    private let state = Mutex<(queue: [Int16], stopped: Bool)>(([], false))
    init(_ fd: Int32) { self.fd = fd }

    var pending: Int { state.withLock { $0.queue.count } }

    func queue(_ samples: [Int16]) { state.withLock { $0.queue += samples } }

    func stop() { state.withLock { $0.stopped = true } }

    func start() {
        Thread { [self] in
            var next = Date()
            while true {
                let chunk: [Int16]? = state.withLock { state in
                    guard !state.stopped else { return nil }
                    let take = min(1280, state.queue.count)
                    let head = Array(state.queue.prefix(take))
                    state.queue.removeFirst(take)
                    return head + [Int16](repeating: 0, count: 1280 - take)
                }
                guard let chunk else { break }
                let ok = chunk.withUnsafeBytes { raw in
                    var offset = 0
                    while offset < raw.count {
                        let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                        if n <= 0 { return false }
                        offset += n
                    }
                    return true
                }
                if !ok { break }
                next = next.addingTimeInterval(0.08)
                let wait = next.timeIntervalSinceNow
                if wait > 0 { usleep(useconds_t(wait * 1_000_000)) }
            }
            close(fd)
        }.start()
    }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(_ timeout: Double = 20, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

extension JSONValue {
    subscript(_ key: String) -> JSONValue? { objectValue?[key] }
    var items: [JSONValue] { if case let .array(items) = self { items } else { [] } }
}

/// Hands a value used by one thread at a time (a blocking client) between test closures.
struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
