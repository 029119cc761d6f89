/// The arithmetic from CPU time to power, for one board, measured on one host.
///
///     cpu_s_per_s (host)  = CPU seconds of the always-on stage's threads / seconds of audio heard
///     cpu_s_per_s (board) = cpu_s_per_s (host) × host.speed / board.speed
///     stage_mw            = cpu_s_per_s (board) × board.busy_core_mw      (what the budget governs)
///     board_mw            = board.idle_mw + stage_mw                       (the whole board, reported)
///     request_mj          = request CPU seconds (host) × host.speed / board.speed × board.busy_core_mw
///
/// The host is the machine harkd runs on; on the board itself (the normal case) host = board and the
/// scale is 1. Benchmarks measure on a build machine and name its profile as the host. Milliwatts are
/// millijoules per second, so a request's energy is its board CPU seconds times the busy-core power.
/// The model is linear in CPU time and ignores frequency scaling and the cost of waking a core: it is
/// an estimate from CPU time, not a measurement of current.
public struct PowerModel: Sendable, Equatable {
    public let board: BoardProfile
    public let host: BoardProfile

    public init(board: BoardProfile, host: BoardProfile? = nil) {
        self.board = board
        self.host = host ?? board
    }

    /// How many board CPU seconds one host CPU second is.
    public var scale: Double { host.speed / board.speed }

    /// The always-on stage's own power (mW, above the board's idle) for `cpuPerSecond` host CPU
    /// seconds per second of audio.
    public func stageMilliwatts(cpuPerSecond: Double) -> Double {
        cpuPerSecond * scale * board.busyCoreMilliwatts
    }

    /// The whole board's power (mW): idle plus the stage.
    public func boardMilliwatts(cpuPerSecond: Double) -> Double {
        board.idleMilliwatts + stageMilliwatts(cpuPerSecond: cpuPerSecond)
    }

    /// The energy (mJ) of work that took `cpuSeconds` host CPU seconds.
    public func millijoules(cpuSeconds: Double) -> Double {
        cpuSeconds * scale * board.busyCoreMilliwatts
    }
}
