#if canImport(Glibc)
import Glibc
#endif

/// A running stage-2 worker: its process and its end of the socket pair.
///
/// The worker is started with `posix_spawn` (argv[0] an absolute path, no shell); its stdin and
/// stdout are both its end of a Unix stream socket pair, its stderr is harkd's (so its log lines reach
/// the journal), no other descriptor is inherited, and it leads its own process group. Not
/// thread-safe: `Stage2Loader` serialises every use.
final class Stage2Process {
    let pid: pid_t
    let channel: Stage2Channel
    private var reaped: String?

    init(executable: String, arguments: [String], environment: [String]) throws(Stage2Error) {
        guard executable.hasPrefix("/") else {
            throw Stage2Error(.spawnFailed, "stage-2 worker '\(executable)': not an absolute path")
        }
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw Stage2Error(.spawnFailed, "stage-2 worker: socketpair failed: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDIN_FILENO)
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO)
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) }
        let envp = environment.map { strdup($0) }
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let result = (argv + [nil]).withUnsafeBufferPointer { a in
            (envp + [nil]).withUnsafeBufferPointer { e in
                posix_spawn(&pid, executable, &actions, &attributes, a.baseAddress!, e.baseAddress!)
            }
        }
        close(fds[1])
        guard result == 0 else {
            close(fds[0])
            throw Stage2Error(.spawnFailed, "stage-2 worker '\(executable)': \(String(cString: strerror(result)))")
        }
        self.pid = pid
        channel = Stage2Channel(fd: fds[0], source: "stage-2 worker (pid \(pid))")
    }

    deinit { kill() }

    /// Ends the worker's process group at once and reaps it. Returns how it ended.
    @discardableResult
    func kill() -> String {
        if let reaped { return reaped }
        Glibc.kill(-pid, SIGKILL)
        return reap(block: true) ?? "killed"
    }

    /// How the worker ended, if it has (`block`: wait for it).
    func reap(block: Bool) -> String? {
        if let reaped { return reaped }
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, block ? 0 : WNOHANG) } while result < 0 && errno == EINTR
        guard result == pid else { return nil }
        let signal = status & 0x7f
        reaped = signal == 0 ? "exited with status \((status >> 8) & 0xff)"
            : "was killed by signal \(signal) (\(String(cString: strsignal(signal))))"
        return reaped
    }

    /// Waits up to `seconds` for the worker to exit by itself, then kills it. Returns how it ended.
    @discardableResult
    func finish(within seconds: Double) -> String {
        let deadline = monotonicNow() + seconds
        while monotonicNow() < deadline {
            if let ended = reap(block: false) { return ended }
            usleep(5_000)
        }
        return kill()
    }
}
