#if canImport(Glibc)
import Glibc
#endif

/// CPU time from the kernel's per-thread and per-process CPU clocks (clock_gettime(2)), in
/// nanoseconds. On Linux a thread clock is the scheduler's exact runtime of that thread (not sampled
/// ticks), so the difference between two readings on the same thread is the CPU the code between them
/// used, whatever else the machine was doing; time spent blocked (an ALSA read waiting for frames)
/// is not CPU time and does not count.
public enum CPUClock {
    /// The calling thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`).
    public static func thread() throws(PowerError) -> UInt64 {
        try read(CLOCK_THREAD_CPUTIME_ID, "the calling thread")
    }

    /// The whole process's CPU time, all threads (`CLOCK_PROCESS_CPUTIME_ID`).
    public static func process() throws(PowerError) -> UInt64 {
        try read(CLOCK_PROCESS_CPUTIME_ID, "the process")
    }

    /// Another thread's CPU time, through the clock `pthread_getcpuclockid` names for it.
    public static func of(_ thread: pthread_t) throws(PowerError) -> UInt64 {
        var clock = clockid_t()
        let status = pthread_getcpuclockid(thread, &clock)
        guard status == 0 else {
            throw PowerError(.clock, "pthread_getcpuclockid failed for a thread: \(String(cString: strerror(status))); the thread may have ended")
        }
        return try read(clock, "a thread")
    }

    /// The calling thread's CPU time, for the hot path: the clock was proven readable by
    /// ``thread()`` before (a meter checks it when it starts), and `CLOCK_THREAD_CPUTIME_ID` cannot
    /// fail after that on Linux; if it ever did, the reading is 0 and the next difference is dropped
    /// by the caller (``StageClock``).
    @inline(__always)
    public static func threadNow() -> UInt64 {
        var spec = timespec()
        guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec) == 0 else { return 0 }
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// Every clock read goes through here: a failing `clock_gettime` becomes an error naming the clock.
    static func read(_ clock: clockid_t, _ what: String) throws(PowerError) -> UInt64 {
        var spec = timespec()
        guard clock_gettime(clock, &spec) == 0 else {
            throw PowerError(.clock, "clock_gettime failed on the CPU clock of \(what): \(String(cString: strerror(errno)))")
        }
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
