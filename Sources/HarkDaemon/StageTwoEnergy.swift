import HarkPower
import Synchronization

/// The energy of stage-2 requests (the Whisper second pass today), measured around each one.
///
/// A request runs on the audio thread, and Whisper spreads its matrix products over Dispatch's
/// worker threads, which no thread list names; so its CPU time is the process's CPU clock across
/// the request (the audio thread and those workers; harkd's other threads wait on sockets then and
/// add next to nothing). The audio thread's own share is handed to the always-on account
/// (``takeAudioThreadCPU()``), which takes it out of the command stage's time: a request counts once,
/// as stage 2.
public final class StageTwoEnergy: Sendable {
    public let meter: PowerMeter
    private let sink: EventSink?
    private let audioThread = Mutex<UInt64>(0)

    public init(meter: PowerMeter, sink: EventSink?) {
        self.meter = meter
        self.sink = sink
    }

    /// Runs one request and accounts for it as `work` ("second_pass"). `onAudioThread`: the caller is
    /// the audio thread, whose CPU in the request leaves the always-on account. Off it (the second
    /// pass's early start on its worker thread) the audio thread goes on with the always-on stage
    /// meanwhile, and the process clock counts that too: a few percent of a request, counted twice.
    public func measure<T>(_ work: String, onAudioThread: Bool = true, _ body: () -> T) -> T {
        let thread = CPUClock.threadNow()
        let process = (try? CPUClock.process()) ?? 0
        let result = body()
        let threadCPU = CPUClock.threadNow() &- thread   // wraps only if the clock failed; checked below
        let processCPU = ((try? CPUClock.process()) ?? 0) &- process
        guard thread != 0, threadCPU < 1 << 62 else { return result }
        if onAudioThread { audioThread.withLock { $0 += threadCPU } }
        // The process clock counts the calling thread too; never less than what that thread used.
        let seconds = Double(processCPU < 1 << 62 ? max(processCPU, threadCPU) : threadCPU) / 1e9
        let millijoules = meter.recordRequest(cpuSeconds: seconds)
        sink?.emit(.energy(stage: 2, work: work, cpuSeconds: seconds, millijoules: millijoules))
        return result
    }

    /// The calling thread's CPU in requests since the last call (the audio thread takes it out of
    /// the always-on account).
    public func takeAudioThreadCPU() -> UInt64 {
        audioThread.withLock { value in
            defer { value = 0 }
            return value
        }
    }
}
