import GRDB

/// The action journal: every action gets a row before it is dispatched and its outcome after.
///
/// A row is inserted with status `dispatching` in its own committed transaction before the transport
/// is called; the outcome (`ok`, `failed`) replaces it after. A second `begin` with an id already in the
/// journal does not start the action again: it returns the existing row. At startup `recoverInterrupted`
/// turns rows left `dispatching` by a crash into `interrupted`: the action may or may not have reached
/// the device, and it is never run a second time.
extension Store {
    public enum Status: String, Sendable, CaseIterable {
        case dispatching, ok, failed, refused, invalid, interrupted
        public var isFinal: Bool { self != .dispatching }
    }

    public struct JournalEntry: Sendable, Equatable {
        public let id: String
        public let createdAt: Double
        public let source: String
        public let device: String
        public let command: String
        /// The arguments as a JSON object.
        public let args: String
        public let status: Status
        public let detail: String?
        public let finishedAt: Double?
    }

    public struct NewAction: Sendable {
        public let id: String
        public let source: String
        public let device: String
        public let command: String
        public let args: String

        public init(id: String, source: String, device: String, command: String, args: String) {
            self.id = id
            self.source = source
            self.device = device
            self.command = command
            self.args = args
        }
    }

    public enum Begin: Sendable, Equatable {
        /// The row was written; dispatch the action, then `finish` it.
        case started
        /// This id is already journaled: do not run it again.
        case existing(JournalEntry)
    }

    /// Writes the action as `dispatching` (or with a final `status` for actions that will not be
    /// dispatched: refused, invalid), unless its id is already journaled.
    public func begin(_ action: NewAction, status: Status = .dispatching, detail: String? = nil, at time: Double = Store.now()) throws(StoreError) -> Begin {
        try write("journal \(action.id)") { db in
            // One statement in the common case: the insert is ignored only when the id exists.
            try db.execute(sql: """
                INSERT INTO action (id, created_at, source, device, command, args, status, detail, finished_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING
                """, arguments: [action.id, time, action.source, action.device, action.command, action.args,
                                 status.rawValue, detail, status.isFinal ? time : nil])
            if db.changesCount == 1 { return .started }
            guard let existing = try Self.fetchEntry(db, id: action.id) else {
                throw StoreError(.corrupt, "journal row '\(action.id)' was neither inserted nor found")
            }
            return .existing(existing)
        }
    }

    /// Records the outcome of a dispatched action.
    public func finish(id: String, status: Status, detail: String?, at time: Double = Store.now()) throws(StoreError) {
        try write("outcome of \(id)") { db in
            try db.execute(sql: "UPDATE action SET status = ?, detail = ?, finished_at = ? WHERE id = ? AND status = 'dispatching'",
                           arguments: [status.rawValue, detail, time, id])
        }
    }

    /// Marks actions a crash left in flight as `interrupted`; returns how many.
    @discardableResult
    public func recoverInterrupted(at time: Double = Store.now()) throws(StoreError) -> Int {
        try write("recover interrupted actions") { db in
            try db.execute(sql: "UPDATE action SET status = 'interrupted', detail = 'harkd stopped while dispatching; not retried', finished_at = ? WHERE status = 'dispatching'",
                           arguments: [time])
            return db.changesCount
        }
    }

    public func entry(id: String) throws(StoreError) -> JournalEntry? {
        try read("journal entry \(id)") { db in try Self.fetchEntry(db, id: id) }
    }

    /// The newest `limit` entries, newest first.
    public func recentEntries(limit: Int) throws(StoreError) -> [JournalEntry] {
        try read("recent journal entries") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM action ORDER BY created_at DESC, rowid DESC LIMIT ?", arguments: [limit]).map(Self.entry(from:))
        }
    }

    /// Journal entries newest first: at most `limit`, created at or after `since` (seconds since
    /// 1970) and for `device` when given.
    public func journal(limit: Int, since: Double? = nil, device: String? = nil) throws(StoreError) -> [JournalEntry] {
        try read("journal query") { db in
            try Row.fetchAll(db, sql: """
                SELECT * FROM action WHERE (?1 IS NULL OR created_at >= ?1) AND (?2 IS NULL OR device = ?2)
                ORDER BY created_at DESC, rowid DESC LIMIT ?3
                """, arguments: [since, device, limit]).map(Self.entry(from:))
        }
    }

    public func actionCount(status: Status? = nil) throws(StoreError) -> Int {
        try read("journal count") { db in
            if let status {
                return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM action WHERE status = ?", arguments: [status.rawValue]) ?? 0
            }
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM action") ?? 0
        }
    }

    static func fetchEntry(_ db: Database, id: String) throws -> JournalEntry? {
        try Row.fetchOne(db, sql: "SELECT * FROM action WHERE id = ?", arguments: [id]).map(entry(from:))
    }

    static func entry(from row: Row) throws -> JournalEntry {
        let statusName: String = row["status"]
        guard let status = Status(rawValue: statusName) else {
            throw StoreError(.corrupt, "journal row '\(row["id"] as String)' has unknown status '\(statusName)'")
        }
        return JournalEntry(id: row["id"], createdAt: row["created_at"], source: row["source"], device: row["device"],
                            command: row["command"], args: row["args"], status: status, detail: row["detail"],
                            finishedAt: row["finished_at"])
    }
}
