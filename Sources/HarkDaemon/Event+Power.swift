import HarkPower

/// `{"type":"power","t":60.08,"board":"raspberry-pi-zero-2w","stage_mw":3.1,"board_mw":603.1,
/// "cpu_s_per_s":0.0021,"window_s":10,"stage_mw_60s":2.9,"stage_mw_15min":2.9,"budget_mw":50,"level":0,"levers":[]}`:
/// the always-on stage's estimate over the last 10 s of audio (and 60 s, 15 min), on the board.
public struct PowerReport: Sendable, Equatable {
    public var t: Double
    public var board: String
    public var stageMilliwatts: Double
    public var boardMilliwatts: Double
    public var cpuPerSecond: Double
    public var windowSeconds: Double
    public var stageMilliwatts60: Double
    public var stageMilliwatts900: Double
    public var budgetMilliwatts: Double?
    public var level: Int
    public var levers: [String]

    public init(_ snapshot: PowerMeter.Snapshot, t: Double) {
        let windows = snapshot.windows
        self.t = t
        board = snapshot.model.board.id
        stageMilliwatts = windows[0].stageMilliwatts
        boardMilliwatts = windows[0].boardMilliwatts
        cpuPerSecond = windows[0].cpuPerSecond
        windowSeconds = windows[0].length
        stageMilliwatts60 = windows[1].stageMilliwatts
        stageMilliwatts900 = windows[2].stageMilliwatts
        budgetMilliwatts = snapshot.budgetMilliwatts
        level = snapshot.level
        levers = snapshot.taken.map(\.rawValue)
    }

    var jsonLine: String {
        let n = Event.number
        let budget = budgetMilliwatts.map { #","budget_mw":\#(n($0, 3))"# } ?? ""
        let levers = self.levers.map(Event.quote).joined(separator: ",")
        return #"{"type":"power","t":\#(n(t, 3)),"board":\#(Event.quote(board)),"stage_mw":\#(n(stageMilliwatts, 2)),"board_mw":\#(n(boardMilliwatts, 1)),"cpu_s_per_s":\#(n(cpuPerSecond, 6)),"window_s":\#(n(windowSeconds, 0)),"stage_mw_60s":\#(n(stageMilliwatts60, 2)),"stage_mw_15min":\#(n(stageMilliwatts900, 2))\#(budget),"level":\#(level),"levers":[\#(levers)]}"#
    }
}

/// `{"type":"governor","action":"throttle","lever":"stricter_gate","level":1,"stage_mw":61.2,"budget_mw":50,"t":21.4}`;
/// `action` is `throttle`, `relax` or `cannot_meet` (every lever taken, still over: said once, harkd goes on).
public struct GovernorChange: Sendable, Equatable {
    public var action: String
    public var lever: String?
    public var level: Int
    public var stageMilliwatts: Double
    public var budgetMilliwatts: Double
    public var t: Double

    public init(_ change: PowerGovernor.Change, budget: Double, level: Int, t: Double) {
        switch change {
        case let .throttle(lever, _, estimate):
            action = "throttle"
            self.lever = lever.rawValue
            stageMilliwatts = estimate
        case let .relax(lever, _, estimate):
            action = "relax"
            self.lever = lever.rawValue
            stageMilliwatts = estimate
        case let .cannotMeet(estimate):
            action = "cannot_meet"
            lever = nil
            stageMilliwatts = estimate
        }
        self.level = level
        budgetMilliwatts = budget
        self.t = t
    }

    var jsonLine: String {
        let n = Event.number
        let lever = self.lever.map { #","lever":\#(Event.quote($0))"# } ?? ""
        return #"{"type":"governor","action":\#(Event.quote(action))\#(lever),"level":\#(level),"stage_mw":\#(n(stageMilliwatts, 2)),"budget_mw":\#(n(budgetMilliwatts, 3)),"t":\#(n(t, 3))}"#
    }
}
