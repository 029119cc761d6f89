import GRDB

/// Device state and timers, persisted so a restart starts from what was last known.
extension Store {
    /// Saves a device's whole state (a JSON object).
    public func saveState(device: String, json: String, at time: Double = Store.now()) throws(StoreError) {
        try write("state of \(device)") { db in
            try db.execute(sql: """
                INSERT INTO device_state (device, state, updated_at) VALUES (?, ?, ?)
                ON CONFLICT(device) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
                """, arguments: [device, json, time])
        }
    }

    /// Every saved state: device id → (JSON object, time).
    public func loadStates() throws(StoreError) -> [String: (json: String, updatedAt: Double)] {
        try read("device states") { db in
            var states: [String: (json: String, updatedAt: Double)] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT device, state, updated_at FROM device_state") {
                states[row["device"]] = (row["state"], row["updated_at"])
            }
            return states
        }
    }

    public struct TimerEntry: Sendable, Equatable {
        public let id: String
        public let device: String
        public let seconds: Int
        public let createdAt: Double
        /// Wall-clock time the timer rings (seconds since 1970).
        public let dueAt: Double
        public let status: String
    }

    public func addTimer(id: String, device: String, seconds: Int, at time: Double = Store.now()) throws(StoreError) -> TimerEntry {
        let entry = TimerEntry(id: id, device: device, seconds: seconds, createdAt: time, dueAt: time + Double(seconds), status: "running")
        try write("timer \(id)") { db in
            try db.execute(sql: "INSERT INTO timer (id, device, seconds, created_at, due_at, status) VALUES (?, ?, ?, ?, ?, 'running')",
                           arguments: [id, device, seconds, time, entry.dueAt])
        }
        return entry
    }

    /// Running timers, soonest first.
    public func runningTimers() throws(StoreError) -> [TimerEntry] {
        try read("running timers") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM timer WHERE status = 'running' ORDER BY due_at").map(Self.timerEntry(from:))
        }
    }

    /// One timer, whatever its status.
    public func timer(id: String) throws(StoreError) -> TimerEntry? {
        try read("timer \(id)") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM timer WHERE id = ?", arguments: [id]).map(Self.timerEntry(from:))
        }
    }

    /// Ends a running timer as `rang` or `cancelled`; false if it was not running.
    @discardableResult
    public func endTimer(id: String, status: String, at time: Double = Store.now()) throws(StoreError) -> Bool {
        precondition(status == "rang" || status == "cancelled")
        return try write("end timer \(id)") { db in
            try db.execute(sql: "UPDATE timer SET status = ?, ended_at = ? WHERE id = ? AND status = 'running'",
                           arguments: [status, time, id])
            return db.changesCount == 1
        }
    }

    static func timerEntry(from row: Row) -> TimerEntry {
        TimerEntry(id: row["id"], device: row["device"], seconds: row["seconds"], createdAt: row["created_at"],
                   dueAt: row["due_at"], status: row["status"])
    }
}
