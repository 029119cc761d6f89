/// CPU nanoseconds of the always-on stage, by part: reading and converting audio, the voice-activity
/// gate, the wake-word models, and the command stage's first pass (PocketSphinx after a wake word).
/// The Whisper second pass is stage 2 and is counted per request instead (``RequestEnergy``).
public struct StageCPU: Sendable, Equatable {
    public var capture: UInt64 = 0
    public var vad: UInt64 = 0
    public var wake: UInt64 = 0
    public var commands: UInt64 = 0

    public init(capture: UInt64 = 0, vad: UInt64 = 0, wake: UInt64 = 0, commands: UInt64 = 0) {
        self.capture = capture
        self.vad = vad
        self.wake = wake
        self.commands = commands
    }

    public var total: UInt64 { capture + vad + wake + commands }

    public static func + (lhs: StageCPU, rhs: StageCPU) -> StageCPU {
        StageCPU(capture: lhs.capture + rhs.capture, vad: lhs.vad + rhs.vad, wake: lhs.wake + rhs.wake,
                 commands: lhs.commands + rhs.commands)
    }

    public static func += (lhs: inout StageCPU, rhs: StageCPU) { lhs = lhs + rhs }

    /// The parts by name, for reports.
    public var named: [(name: String, nanoseconds: UInt64)] {
        [("capture", capture), ("vad", vad), ("wake", wake), ("commands", commands)]
    }
}

/// The always-on thread's CPU clock read between the parts of its work: `start()` once, then
/// `lap(\.capture)` after reading audio, `lap(\.vad)` after the gate, and so on; `take()` hands over a
/// chunk's parts. Each lap adds the thread's CPU time since the previous reading to that part, so
/// every CPU nanosecond of the thread lands in exactly one part. Reading the clock costs about a
/// microsecond (a system call), a few times per 80 ms chunk. Before `start()` laps add nothing.
public struct StageClock {
    public private(set) var chunk = StageCPU()
    private var last: UInt64 = 0

    public init() {}

    /// Starts the clock.
    public mutating func start() {
        chunk = StageCPU()
        last = CPUClock.threadNow()
    }

    /// The parts since the last take; the clock runs on.
    public mutating func take() -> StageCPU {
        defer { chunk = StageCPU() }
        return chunk
    }

    /// Adds the CPU since the last reading to `part`.
    public mutating func lap(_ part: WritableKeyPath<StageCPU, UInt64>) {
        let now = CPUClock.threadNow()
        // A failed reading (0) or a clock that went backwards adds nothing.
        if now >= last, last != 0 { chunk[keyPath: part] += now - last }
        last = now
    }

    /// Removes CPU from a part that another account has taken (the second pass runs inside the
    /// command stage's lap, on the same thread).
    public mutating func remove(_ nanoseconds: UInt64, from part: WritableKeyPath<StageCPU, UInt64>) {
        chunk[keyPath: part] -= min(nanoseconds, chunk[keyPath: part])
    }
}
