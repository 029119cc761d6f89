import Foundation
import HarkTestSupport
import Synchronization
import Testing

/// harkd speaks sd_notify to the datagram socket in $NOTIFY_SOCKET, as under systemd: READY=1 only
/// once audio frames, the database and the control socket are live; STATUS= lines; WATCHDOG=1 at
/// half of $WATCHDOG_USEC, only while frames move; STOPPING=1 when it shuts down.
@Suite struct SystemdNotifyTests {
    /// Plays systemd's side: a bound datagram socket that records every message with its time.
    final class NotifySocket: Sendable {
        let path: String
        let address: String
        private let fd: Int32
        let messages = Mutex<[(at: Date, text: String)]>([])
        private let stopped = Atomic<Bool>(false)

        /// `abstract`: a name in the abstract namespace (NOTIFY_SOCKET=@name), else a path in `directory`.
        init(directory: String, abstract: Bool = false) throws {
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            self.fd = fd
            var name = Array((abstract ? "@hark-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" : directory + "/notify.sock").utf8)
            address = String(decoding: name, as: UTF8.self)
            path = address
            if abstract { name[0] = 0 }
            var socketAddress = sockaddr_un()
            socketAddress.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &socketAddress.sun_path) { raw in for (index, byte) in name.enumerated() { raw[index] = byte } }
            let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + name.count)
            let bound = withUnsafePointer(to: &socketAddress) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
            guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
            var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            Thread { [self] in
                var buffer = [UInt8](repeating: 0, count: 4096)
                while !stopped.load(ordering: .relaxed) {
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n > 0 {
                        let text = String(decoding: buffer[..<n], as: UTF8.self)
                        messages.withLock { $0.append((Date(), text)) }
                    }
                }
            }.start()
        }

        deinit {
            stopped.store(true, ordering: .relaxed)
            usleep(200_000)
            close(fd)
        }

        var all: [(at: Date, text: String)] { messages.withLock { $0 } }
        /// The index of the first message with a line `line` (or starting with it, for STATUS=).
        func first(_ prefix: String) -> Int? { all.firstIndex { $0.text.split(separator: "\n").contains { $0.hasPrefix(prefix) } } }
        func count(_ line: String) -> Int { all.filter { $0.text.split(separator: "\n").contains(Substring(line)) }.count }
    }

    // The tests wait for processes and sleep: they do it off the cooperative pool (offThePool), which
    // the timed suites running beside them need for their timers.
    @Test func givenAFileInput_whenHarkdRunsUnderNotify_thenReadyStatusWatchdogAndStoppingComeInOrder() async throws {
        let directory = makeTemporaryDirectory("harkd-notify")
        let notify = try NotifySocket(directory: directory)
        let demo = Repo.testData.appendingPathComponent("demo/demo.wav").path
        let run = try await offThePool {
            let run = try harkd(["--input", demo, "--dry-run", "--events", "-", "--socket", directory + "/control.sock"],
                                environment: ["NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "100000"])
            usleep(300_000)
            return run
        }
        #expect(run.status == 0 && run.reason == .exit, "\(run.stderr)")
        let messages = notify.all.map(\.text)
        let ready = try #require(notify.first("READY=1"), "\(messages)")
        let status = try #require(notify.first("STATUS="))
        let watchdog = try #require(notify.first("WATCHDOG=1"), "\(messages)")
        let stopping = try #require(notify.first("STOPPING=1"))
        #expect(ready <= status && status <= watchdog && watchdog < stopping, "\(messages)")
        #expect(stopping == messages.count - 1, "nothing after STOPPING=1: \(messages)")
        #expect(messages[ready].contains("STATUS=listening on \(demo); 11 devices; control socket \(directory)/control.sock"), "\(messages[ready])")
        #expect(messages.contains { $0.hasPrefix("STATUS=heard hey_jarvis") }, "the wake word shows in the status: \(messages)")
        #expect(notify.count("READY=1") == 1 && notify.count("STOPPING=1") == 1)
        // 9.5 s of audio processed in about a second, pinging every 50 ms.
        #expect(notify.count("WATCHDOG=1") >= 2, "\(messages)")
        // The variables are not passed on to programs harkd starts.
        #expect(run.stderr.isEmpty || !run.stderr.contains("NOTIFY_SOCKET"))
        _ = try? FileManager.default.removeItem(atPath: directory)
    }

    /// Live input that stalls: READY waits for the first frames, and the watchdog pings stop while
    /// no frames come (systemd would then restart the hung daemon), and start again after.
    @Test func givenLiveInputThatStalls_whenHarkdRunsUnderNotify_thenTheWatchdogIsFedOnlyWhileFramesMove() async throws {
        let directory = makeTemporaryDirectory("harkd-notify-stall")
        let notify = try NotifySocket(directory: directory, abstract: true)
        try await offThePool { try Self.stall(directory: directory, notify: notify) }
        _ = try? FileManager.default.removeItem(atPath: directory)
    }

    static func stall(directory: String, notify: NotifySocket) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Repo.harkd)
        process.arguments = ["--input", "-", "--dry-run", "--events", directory + "/events.jsonl", "--socket", directory + "/control.sock",
                             "--models", Repo.models, "--log-level", "warning"]
        process.currentDirectoryURL = Repo.root
        process.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_SOCKET": notify.address, "WATCHDOG_USEC": "200000"]) { $1 }
        let input = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardError = errors
        let stderr = ReadAll(errors.fileHandleForReading)
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        let writer = input.fileHandleForWriting
        func play(seconds: Double) throws {
            let chunk = Data(count: 1280 * 2)
            for _ in 0..<Int(seconds / 0.08) {
                try writer.write(contentsOf: chunk)
                usleep(80_000)
            }
        }
        // Models loaded and the socket up, but no frames yet: not ready. (Waiting for the socket, not
        // a fixed time: on a loaded machine the models can take longer than 2 s, and audio written
        // before harkd reads arrives all at once, with one watchdog ping for the lot.)
        let deadline = Date().addingTimeInterval(60)
        while access(directory + "/control.sock", F_OK) != 0 && Date() < deadline { usleep(20_000) }
        usleep(500_000)
        #expect(notify.first("READY=1") == nil, "\(notify.all.map(\.text))")
        try play(seconds: 1.5)
        #expect(notify.first("READY=1") != nil, "\(notify.all.map(\.text))")
        let stall = Date()
        sleep(2)
        try play(seconds: 1.5)
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(stderr.wait())")

        let pings = notify.all.filter { $0.text == "WATCHDOG=1" }.map(\.at)
        let gaps = zip(pings.dropFirst(), pings).map { $0.timeIntervalSince($1) }
        let during = pings.filter { $0 > stall.addingTimeInterval(0.3) && $0 < stall.addingTimeInterval(1.9) }
        #expect(during.isEmpty, "pings while no frames came: \(during.count)")
        #expect(gaps.filter { $0 > 1.5 }.count == 1, "one long gap, the stall: \(gaps)")
        #expect(pings.filter { $0 < stall }.count >= 8 && pings.filter { $0 > stall.addingTimeInterval(2) }.count >= 8, "about every 100 ms while frames move: \(gaps)")
        #expect(notify.first("STOPPING=1") == notify.all.count - 1)
    }
}
