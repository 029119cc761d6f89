/// Sliding windows over the always-on stage's CPU time: how many CPU seconds it used per second of
/// audio over the last 10 s, 60 s and 15 min.
///
/// Time is audio time: seconds of audio heard. Live, that is wall-clock time (the capture runs at
/// 16 kHz); replaying a file as fast as possible, it is the recording's time, so the same recording
/// gives the same figures either way. CPU is kept in buckets of about one second of audio (the
/// 80 ms chunk that reaches a second closes the bucket, so buckets hold 1.04 s), 900 of them for the
/// 15-minute window; a window adds the newest buckets whose audio fits in it, the open one included.
public struct CPUWindows: Sendable {
    /// The window lengths reported (s).
    public static let lengths: [Double] = [10, 60, 900]

    struct Bucket: Sendable {
        var cpu = StageCPU()
        var seconds = 0.0
    }

    private var buckets: [Bucket]
    /// Index of the open bucket in `buckets` (a ring).
    private var open = 0
    private var filled = 1
    /// Totals since the start.
    public private(set) var total = StageCPU()
    public private(set) var totalSeconds = 0.0

    public init(capacity: Int = 900) {
        buckets = Array(repeating: Bucket(), count: max(2, capacity + 1))
    }

    /// Adds one chunk's CPU and the audio it covered.
    public mutating func add(_ cpu: StageCPU, seconds: Double) {
        buckets[open].cpu += cpu
        buckets[open].seconds += seconds
        total += cpu
        totalSeconds += seconds
        if buckets[open].seconds >= 1.0 {
            open = (open + 1) % buckets.count
            buckets[open] = Bucket()
            filled = min(filled + 1, buckets.count)
        }
    }

    public struct Average: Sendable, Equatable {
        /// Audio the window actually covers (less than its length at the start).
        public var seconds: Double
        public var cpu: StageCPU
        /// CPU seconds per second of audio.
        public var cpuPerSecond: Double { seconds > 0 ? Double(cpu.total) / 1e9 / seconds : 0 }
    }

    /// The newest buckets covering at most `length` seconds of audio (at least the open one).
    public func average(over length: Double) -> Average {
        var result = Average(seconds: 0, cpu: StageCPU())
        var index = open
        for _ in 0..<filled {
            let bucket = buckets[index]
            if result.seconds > 0, result.seconds + bucket.seconds > length + 1e-9 { break }
            result.seconds += bucket.seconds
            result.cpu += bucket.cpu
            index = (index - 1 + buckets.count) % buckets.count
        }
        return result
    }
}
