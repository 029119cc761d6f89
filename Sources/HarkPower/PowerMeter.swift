import Synchronization

/// The always-on stage's power account: its CPU time per chunk into sliding windows, the estimate
/// in milliwatts on the configured board, stage-2 requests' energy, and the governor that holds
/// the estimate under the budget. The audio thread records; anyone may read a ``Snapshot``.
public final class PowerMeter: Sendable {
    /// One window's figures.
    public struct Window: Sendable, Equatable {
        /// The window's nominal length and the audio it covers so far (s).
        public var length: Double
        public var seconds: Double
        /// Host CPU seconds per second of audio, the always-on stage only.
        public var cpuPerSecond: Double
        /// The estimate on the board: the stage's own power, and the whole board's.
        public var stageMilliwatts: Double
        public var boardMilliwatts: Double
        public var cpu: StageCPU
    }

    /// Stage-2 requests (the Whisper second pass): how many, and their energy on the board.
    public struct Requests: Sendable, Equatable {
        public var count = 0
        public var cpuSeconds = 0.0
        public var millijoules = 0.0
        public var lastMillijoules: Double?
        public var meanMillijoules: Double? { count > 0 ? millijoules / Double(count) : nil }
    }

    public struct Snapshot: Sendable, Equatable {
        public var model: PowerModel
        public var budgetMilliwatts: Double?
        public var windows: [Window]
        /// Audio heard and the stage's CPU since the start.
        public var audioSeconds: Double
        public var total: StageCPU
        public var level: Int
        public var taken: [PowerGovernor.Lever]
        public var skipped: [PowerGovernor.Step]
        public var throttle: PowerGovernor.Throttle
        /// Every lever is taken and the estimate is still over the budget.
        public var overBudget: Bool
        public var requests: Requests

        /// The window the governor judges.
        public var governed: Window? { windows.first }
    }

    /// What ``record(_:seconds:at:)`` asks the caller to do.
    public struct Outcome: Sendable, Equatable {
        public var change: PowerGovernor.Change?
        /// A report is due (every `reportEvery` seconds of audio).
        public var report: Bool
    }

    private struct State: Sendable {
        var windows = CPUWindows()
        var governor: PowerGovernor
        var requests = Requests()
        var nextReport: Double
        var overBudget = false
    }

    public let model: PowerModel
    public let reportEvery: Double
    private let state: Mutex<State>

    public init(model: PowerModel, governor: PowerGovernor.Configuration, gate: Bool, wakeWords: Int, reportEvery: Double = 10) {
        self.model = model
        self.reportEvery = reportEvery
        state = Mutex(State(governor: PowerGovernor(configuration: governor, gate: gate, wakeWords: wakeWords), nextReport: reportEvery))
    }

    /// The levers the governor cannot use here, with why (for a log line at start).
    public var skipped: [PowerGovernor.Step] { state.withLock { $0.governor.skipped } }
    public var throttle: PowerGovernor.Throttle { state.withLock { $0.governor.throttle } }

    /// One chunk's CPU by part and the audio it covered, at audio time `t` (its end).
    public func record(_ cpu: StageCPU, seconds: Double, at t: Double) -> Outcome {
        let model = self.model
        return state.withLock { state in
            state.windows.add(cpu, seconds: seconds)
            let governed = state.windows.average(over: state.governor.configuration.window)
            var change: PowerGovernor.Change?
            // Judge only a full window: the first seconds of audio say little.
            if governed.seconds >= state.governor.configuration.window - 0.5 {
                let estimate = model.stageMilliwatts(cpuPerSecond: governed.cpuPerSecond)
                change = state.governor.update(estimate: estimate, at: t)
                // Over the budget with every lever taken (said once per episode), as the estimate stands now.
                state.overBudget = state.governor.saidCannotMeet && estimate > (state.governor.budget ?? .infinity)
            }
            var report = false
            if t >= state.nextReport {
                report = true
                while state.nextReport <= t { state.nextReport += reportEvery }
            }
            return Outcome(change: change, report: report)
        }
    }

    /// A stage-2 request took `cpuSeconds` host CPU seconds; returns its energy on the board (mJ).
    @discardableResult
    public func recordRequest(cpuSeconds: Double) -> Double {
        let millijoules = model.millijoules(cpuSeconds: cpuSeconds)
        state.withLock { state in
            state.requests.count += 1
            state.requests.cpuSeconds += cpuSeconds
            state.requests.millijoules += millijoules
            state.requests.lastMillijoules = millijoules
        }
        return millijoules
    }

    public var snapshot: Snapshot {
        let model = self.model
        return state.withLock { state in
            let windows = CPUWindows.lengths.map { length in
                let average = state.windows.average(over: length)
                return Window(length: length, seconds: average.seconds, cpuPerSecond: average.cpuPerSecond,
                              stageMilliwatts: model.stageMilliwatts(cpuPerSecond: average.cpuPerSecond),
                              boardMilliwatts: model.boardMilliwatts(cpuPerSecond: average.cpuPerSecond), cpu: average.cpu)
            }
            return Snapshot(model: model, budgetMilliwatts: state.governor.budget, windows: windows,
                            audioSeconds: state.windows.totalSeconds, total: state.windows.total,
                            level: state.governor.level, taken: state.governor.taken, skipped: state.governor.skipped,
                            throttle: state.governor.throttle, overBudget: state.overBudget, requests: state.requests)
        }
    }
}
