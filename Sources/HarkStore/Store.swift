import FoundationEssentials
import GRDB

/// Hark's database: the action journal, device state and timers, in one SQLite file (WAL).
///
/// Durability: WAL with `synchronous = NORMAL`. Every committed transaction survives the process
/// being killed at any moment (`kill -9`); a power cut may roll back the last transactions before a
/// checkpoint, never corrupt the file. Schema changes are migrations that are never edited once shipped.
public final class Store: Sendable {
    let queue: DatabaseQueue

    /// Opens (creating if needed) the database at `path`, or an in-memory one for `":memory:"`.
    public init(path: String) throws(StoreError) {
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            queue = path == ":memory:" ? try DatabaseQueue(configuration: configuration)
                : try DatabaseQueue(path: path, configuration: configuration)
            try Self.migrator.migrate(queue)
        } catch {
            throw StoreError(.open, "cannot open the database '\(path)': \(StoreError.describe(error)); check the directory is writable, or move a corrupt file aside")
        }
    }

    /// The schema, one migration per shipped change. Never edit a shipped migration: add a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: action journal, device state, timers") { db in
            try db.execute(sql: """
                CREATE TABLE action (
                    id          TEXT PRIMARY KEY NOT NULL,
                    created_at  REAL NOT NULL,
                    source      TEXT NOT NULL,
                    device      TEXT NOT NULL,
                    command     TEXT NOT NULL,
                    args        TEXT NOT NULL,
                    status      TEXT NOT NULL CHECK (status IN ('dispatching','ok','failed','refused','invalid','interrupted')),
                    detail      TEXT,
                    finished_at REAL
                );
                CREATE INDEX action_created_at ON action(created_at);
                CREATE INDEX action_status ON action(status);
                CREATE TABLE device_state (
                    device     TEXT PRIMARY KEY NOT NULL,
                    state      TEXT NOT NULL,
                    updated_at REAL NOT NULL
                );
                CREATE TABLE timer (
                    id         TEXT PRIMARY KEY NOT NULL,
                    device     TEXT NOT NULL,
                    seconds    INTEGER NOT NULL,
                    created_at REAL NOT NULL,
                    due_at     REAL NOT NULL,
                    status     TEXT NOT NULL CHECK (status IN ('running','rang','cancelled')),
                    ended_at   REAL
                );
                CREATE INDEX timer_status ON timer(status, due_at);
                """)
        }
        migrator.registerMigration("v2: power figures") { db in
            try db.execute(sql: """
                CREATE TABLE power (
                    at          REAL NOT NULL,
                    audio_s     REAL NOT NULL,
                    board       TEXT NOT NULL,
                    window_s    REAL NOT NULL,
                    cpu_s_per_s REAL NOT NULL,
                    stage_mw    REAL NOT NULL,
                    board_mw    REAL NOT NULL,
                    budget_mw   REAL,
                    level       INTEGER NOT NULL,
                    levers      TEXT NOT NULL,
                    requests    INTEGER NOT NULL,
                    request_mj  REAL NOT NULL
                );
                CREATE INDEX power_at ON power(at);
                """)
        }
        return migrator
    }

    /// `PRAGMA integrity_check`: "ok" for a sound file, else SQLite's list of problems.
    public func integrityCheck() throws(StoreError) -> String {
        try read("integrity check") { db in
            try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ")
        }
    }

    /// Closes the database cleanly (the WAL checkpointed); any later use fails with an error.
    public func close() throws(StoreError) {
        do { try queue.close() }
        catch { throw StoreError(.write, "cannot close the database: \(StoreError.describe(error))") }
    }

    /// Seconds since 1970, the time unit of every table.
    public static func now() -> Double { Date().timeIntervalSince1970 }

    func write<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do { return try queue.write(body) }
        catch let error as StoreError { throw error }
        catch { throw StoreError(.write, "database write failed (\(what)): \(StoreError.describe(error))") }
    }

    func read<T>(_ what: String, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do { return try queue.read(body) }
        catch let error as StoreError { throw error }
        catch { throw StoreError(.read, "database read failed (\(what)): \(StoreError.describe(error))") }
    }
}

/// The one error type of `HarkStore`.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable {
        private let name: String
        private init(_ name: String) { self.name = name }
        public static let open = Code("open")
        public static let write = Code("write")
        public static let read = Code("read")
        /// A row that exists but says something impossible (an unknown status).
        public static let corrupt = Code("corrupt")
    }

    public let code: Code
    public let message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError { return "SQLite error \(error.resultCode.rawValue): \(error.message ?? "\(error.resultCode)")" }
        return "\(error)"
    }
}
