import GRDB

/// The always-on stage's power figures, one row a minute (the daemon writes them; `harkctl status`
/// shows the live ones).
extension Store {
    public struct PowerSample: Sendable, Equatable {
        /// Wall-clock time (seconds since 1970) and the audio time of the sample.
        public var at: Double
        public var audioSeconds: Double
        public var board: String
        /// The audio the averages cover (s), host CPU seconds per second of it, and the estimate.
        public var windowSeconds: Double
        public var cpuPerSecond: Double
        public var stageMilliwatts: Double
        public var boardMilliwatts: Double
        public var budgetMilliwatts: Double?
        /// The governor's level and the levers it had taken, comma-separated.
        public var level: Int
        public var levers: String
        /// Stage-2 requests so far and their energy (mJ).
        public var requests: Int
        public var requestMillijoules: Double

        public init(at: Double, audioSeconds: Double, board: String, windowSeconds: Double, cpuPerSecond: Double,
                    stageMilliwatts: Double, boardMilliwatts: Double, budgetMilliwatts: Double?, level: Int, levers: String,
                    requests: Int, requestMillijoules: Double) {
            self.at = at
            self.audioSeconds = audioSeconds
            self.board = board
            self.windowSeconds = windowSeconds
            self.cpuPerSecond = cpuPerSecond
            self.stageMilliwatts = stageMilliwatts
            self.boardMilliwatts = boardMilliwatts
            self.budgetMilliwatts = budgetMilliwatts
            self.level = level
            self.levers = levers
            self.requests = requests
            self.requestMillijoules = requestMillijoules
        }
    }

    public func savePower(_ sample: PowerSample) throws(StoreError) {
        try write("power figures") { db in
            try db.execute(sql: """
                INSERT INTO power (at, audio_s, board, window_s, cpu_s_per_s, stage_mw, board_mw, budget_mw, level, levers, requests, request_mj)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [sample.at, sample.audioSeconds, sample.board, sample.windowSeconds, sample.cpuPerSecond,
                                 sample.stageMilliwatts, sample.boardMilliwatts, sample.budgetMilliwatts, sample.level,
                                 sample.levers, sample.requests, sample.requestMillijoules])
        }
    }

    /// The newest `limit` samples, newest first.
    public func powerSamples(limit: Int = 100) throws(StoreError) -> [PowerSample] {
        try read("power figures") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM power ORDER BY at DESC, rowid DESC LIMIT ?", arguments: [limit]).map { row in
                PowerSample(at: row["at"], audioSeconds: row["audio_s"], board: row["board"], windowSeconds: row["window_s"],
                            cpuPerSecond: row["cpu_s_per_s"], stageMilliwatts: row["stage_mw"], boardMilliwatts: row["board_mw"],
                            budgetMilliwatts: row["budget_mw"], level: row["level"], levers: row["levers"],
                            requests: row["requests"], requestMillijoules: row["request_mj"])
            }
        }
    }
}
