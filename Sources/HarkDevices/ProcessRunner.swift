#if canImport(Glibc)
import Glibc
#endif

/// Runs one program without a shell and waits for it, for the exec transport.
///
/// The child is started with `posix_spawn`: argv[0] is an absolute path (no PATH search), every
/// argument is passed as given (nothing is parsed), stdin is /dev/null, stdout and stderr are pipes,
/// the environment is `environment` only, the working directory is `/`, no other descriptor is
/// inherited, the signal mask is empty and every signal has its default action (a daemon that
/// ignores SIGTERM or SIGPIPE must not pass that on), and the child leads a new process group so a
/// timeout can end everything it started.
///
/// Waiting never blocks a thread: the pipes are non-blocking and drained, `waitpid(WNOHANG)` asks
/// whether the child has ended, and between the two the task sleeps with `Task.sleep`, 1 ms at first,
/// doubling to `maxPollInterval` (reset whenever output arrives). An exit is noticed at most
/// `maxPollInterval` late, and only a running child costs wake-ups (40 a second at most). Completion is
/// the child's exit, not end of file on its pipes: a background grandchild holding them open does not
/// hold up the action.
enum ProcessRunner {
    /// How a run ended.
    enum Ending: Sendable, Equatable {
        /// The program ended by itself: its wait status and what it wrote.
        case ended(Termination, Output)
        /// It ran past the timeout; its process group was sent SIGTERM, then SIGKILL.
        case timedOut(Output)
        /// The caller's task was cancelled; the process group was ended as for a timeout.
        case cancelled
        /// posix_spawn (or the pipes before it) failed with this errno.
        case spawnFailed(call: String, errno: Int32)
        /// waitpid failed (ECHILD: something else reaped the child, e.g. SIGCHLD set to SIG_IGN).
        case waitFailed(errno: Int32)
    }

    enum Termination: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        /// Decodes a `waitpid` status (the W* macros are not visible to Swift): the low 7 bits are
        /// the terminating signal, 0 for a normal exit, whose code is in bits 8–15.
        init(waitStatus status: Int32) {
            let signal = status & 0x7f
            self = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
        }

        var description: String {
            switch self {
            case let .exited(code): "exited with status \(code)"
            case let .signaled(signal): "was killed by signal \(signal) (\(String(cString: strsignal(signal))))"
            }
        }
    }

    /// The start of what the program wrote to stdout and stderr, at most `captureLimit` bytes each.
    struct Output: Sendable, Equatable {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []

        /// The first non-empty line of stderr, trimmed and made printable, for a one-line message.
        var firstErrorLine: String? {
            let text = String(decoding: stderr, as: UTF8.self)
            for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
                let trimmed = line.trimmingPrefix(while: \.isWhitespace)
                guard !trimmed.isEmpty else { continue }
                var printable = ""
                for scalar in trimmed.unicodeScalars.prefix(200) {
                    printable.unicodeScalars.append(scalar.value < 0x20 || scalar.value == 0x7f ? "?" : scalar)
                }
                return printable
            }
            return nil
        }
    }

    /// Bytes kept of each of stdout and stderr; the rest is read and dropped so the child never
    /// blocks on a full pipe.
    static let captureLimit = 4096
    static let maxPollInterval: Duration = .milliseconds(25)
    /// Between SIGTERM and SIGKILL.
    static let terminationGrace: Duration = .seconds(1)

    /// Runs `argv` (argv[0] an absolute path; no argument may contain NUL) with exactly `environment`
    /// ("NAME=value" strings) and waits at most `timeout`.
    static func run(_ argv: [String], environment: [String], timeout: Duration) async -> Ending {
        precondition(!argv.isEmpty && argv.allSatisfy { !$0.utf8.contains(0) } && environment.allSatisfy { !$0.utf8.contains(0) })
        let deadline = ContinuousClock.now + timeout

        let outPipe: (read: Int32, write: Int32)
        let errPipe: (read: Int32, write: Int32)
        switch makePipe() {
        case let .success(pipe): outPipe = pipe
        case let .failure(error): return .spawnFailed(call: "pipe2", errno: error.code)
        }
        switch makePipe() {
        case let .success(pipe): errPipe = pipe
        case let .failure(error):
            close(outPipe.read); close(outPipe.write)
            return .spawnFailed(call: "pipe2", errno: error.code)
        }
        defer { close(outPipe.read); close(errPipe.read) }

        let spawned = spawn(argv, environment: environment, stdout: outPipe.write, stderr: errPipe.write)
        // The child has its own copies of the write ends; ours must go so the pipes can reach end of file.
        close(outPipe.write)
        close(errPipe.write)
        let pid: pid_t
        switch spawned {
        case let .success(child): pid = child
        case let .failure(error): return .spawnFailed(call: "posix_spawn", errno: error.code)
        }

        var output = Output()
        var interval: Duration = .milliseconds(1)
        while true {
            let got = drain(outPipe.read, into: &output.stdout) + drain(errPipe.read, into: &output.stderr)
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid {
                // Whatever the child wrote before it exited is already in the pipes.
                _ = drain(outPipe.read, into: &output.stdout)
                _ = drain(errPipe.read, into: &output.stderr)
                return .ended(Termination(waitStatus: status), output)
            }
            if reaped < 0 && errno != EINTR {
                let code = errno
                await terminate(pid)
                return .waitFailed(errno: code)
            }
            let now = ContinuousClock.now
            if now >= deadline {
                await terminate(pid)
                _ = drain(errPipe.read, into: &output.stderr)
                return .timedOut(output)
            }
            if got > 0 { interval = .milliseconds(1) }
            do {
                try await Task.sleep(for: min(interval, deadline - now))
            } catch {
                await terminate(pid)
                return .cancelled
            }
            interval = min(interval * 2, maxPollInterval)
        }
    }

    // MARK: Spawning

    /// A pipe whose ends are closed on exec (so no other child inherits them) and whose read end is
    /// non-blocking (the write end, shared with the child, stays blocking).
    private static func makePipe() -> Result<(read: Int32, write: Int32), Errno> {
        var fds: [Int32] = [-1, -1]
        let result: Int32
        if let pipe2 = GNU.pipe2 {
            result = pipe2(&fds, O_CLOEXEC)
        } else {
            result = pipe(&fds)
            if result == 0 { _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC); _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC) }
        }
        guard result == 0 else { return .failure(Errno(errno)) }
        let flags = fcntl(fds[0], F_GETFL)
        _ = fcntl(fds[0], F_SETFL, flags | O_NONBLOCK)
        return .success((fds[0], fds[1]))
    }

    struct Errno: Error { let code: Int32; init(_ code: Int32) { self.code = code } }

    private static func spawn(_ argv: [String], environment: [String], stdout: Int32, stderr: Int32) -> Result<pid_t, Errno> {
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        guard posix_spawn_file_actions_init(&actions) == 0 else { return .failure(Errno(ENOMEM)) }
        defer { posix_spawn_file_actions_destroy(&actions) }
        guard posix_spawnattr_init(&attributes) == 0 else { return .failure(Errno(ENOMEM)) }
        defer { posix_spawnattr_destroy(&attributes) }

        // Each call below only records what the child will do; they fail only for lack of memory.
        var setup: [Int32] = [
            posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0),
            posix_spawn_file_actions_adddup2(&actions, stdout, STDOUT_FILENO),
            posix_spawn_file_actions_adddup2(&actions, stderr, STDERR_FILENO),
        ]
        if let closeFrom = GNU.addCloseFrom { setup.append(closeFrom(&actions, STDERR_FILENO + 1)) }
        if let chdir = GNU.addChdir { setup.append(chdir(&actions, "/")) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        setup += [
            posix_spawnattr_setpgroup(&attributes, 0),
            posix_spawnattr_setsigmask(&attributes, &noSignals),
            posix_spawnattr_setsigdefault(&attributes, &allSignals),
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)),
        ]
        if let failed = setup.first(where: { $0 != 0 }) { return .failure(Errno(failed)) }

        let cArgv = argv.map { strdup($0) }
        let cEnvironment = environment.map { strdup($0) }
        defer { cArgv.forEach { free($0) }; cEnvironment.forEach { free($0) } }
        var pid: pid_t = 0
        let result = (cArgv + [nil]).withUnsafeBufferPointer { argvPointer in
            (cEnvironment + [nil]).withUnsafeBufferPointer { environmentPointer in
                posix_spawn(&pid, argv[0], &actions, &attributes, argvPointer.baseAddress!, environmentPointer.baseAddress!)
            }
        }
        // posix_spawn returns the error number itself (glibc reports a failed exec here too).
        return result == 0 ? .success(pid) : .failure(Errno(result))
    }

    // MARK: Output and ending

    /// Reads what is there without blocking; keeps up to `captureLimit` bytes. Returns the bytes read.
    private static func drain(_ fd: Int32, into kept: inout [UInt8]) -> Int {
        var total = 0
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer in
            while true {
                let n = read(fd, buffer.baseAddress, buffer.count)
                if n < 0 && errno == EINTR { continue }
                // 0: end of file; -1 with EAGAIN: nothing more for now; any other error: give up quietly.
                guard n > 0 else { return }
                total += n
                let room = captureLimit - kept.count
                if room > 0 { kept.append(contentsOf: buffer[..<min(n, room)]) }
            }
        }
        return total
    }

    /// Ends the child's process group: SIGTERM, up to `terminationGrace` for the child to exit,
    /// SIGKILL to the whole group (what the child started included), then reaps the child.
    ///
    /// Runs in a task of its own, so a cancelled caller still completes it (its sleeps would end at
    /// once). The child is not reaped before SIGKILL: until then its process-group id cannot be reused.
    /// A child that does not die within 2 s of SIGKILL (stuck in the kernel) is reaped in the background.
    private static func terminate(_ pid: pid_t) async {
        await Task.detached {
            kill(-pid, SIGTERM)
            _ = await waitForExit(pid, within: terminationGrace, reap: false)
            kill(-pid, SIGKILL)
            if await waitForExit(pid, within: .seconds(2), reap: true) { return }
            Task.detached {
                while !(await waitForExit(pid, within: .seconds(60), reap: true)) {}
            }
        }.value
    }

    /// Whether the child has ended within `limit`, polling every few milliseconds; with `reap: false`
    /// it is left a zombie (`WNOWAIT`).
    private static func waitForExit(_ pid: pid_t, within limit: Duration, reap: Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        var interval: Duration = .milliseconds(1)
        while true {
            var info = siginfo_t()
            let result = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | (reap ? 0 : WNOWAIT))
            if result == 0 && info._sifields._sigchld.si_pid == pid { return true }
            if result < 0 && errno == ECHILD { return true }
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: interval)
            interval = min(interval * 2, maxPollInterval)
        }
    }
}

/// glibc extensions Swift's Glibc module does not declare (they need `_GNU_SOURCE`), looked up once
/// by name. Each is optional: without it the runner falls back as noted.
private enum GNU {
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32

    /// glibc 2.9: pipe() then FD_CLOEXEC otherwise (a child spawned by another thread in between may
    /// inherit the ends).
    static let pipe2: Pipe2? = symbol("pipe2")
    /// glibc 2.34: otherwise the child inherits every descriptor not marked close-on-exec.
    static let addCloseFrom: AddCloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")
    /// glibc 2.29: otherwise the child starts in harkd's working directory.
    static let addChdir: AddChdir? = symbol("posix_spawn_file_actions_addchdir_np")

    private static func symbol<Function>(_ name: String) -> Function? {
        guard let address = dlsym(nil, name) else { return nil }
        return unsafeBitCast(address, to: Function.self)
    }
}
