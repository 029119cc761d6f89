import Foundation
import Testing
@testable import HarkStore
import GRDB
import HarkTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A fresh on-disk database in its own temporary directory (WAL needs a real file).
func temporaryDatabasePath() -> String {
    makeTemporaryDirectory("hark-store") + "/hark.sqlite"
}

@Suite struct StoreTests {
    @Test func givenANewDatabase_whenOpened_thenItIsInWALModeAndSound() throws {
        let store = try Store(path: temporaryDatabasePath())
        let mode = try store.queue.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        #expect(try store.integrityCheck() == "ok")
    }

    @Test func givenAnAction_whenBegunThenFinished_thenTheJournalHoldsItsOutcome() throws {
        let store = try Store(path: ":memory:")
        let action = Store.NewAction(id: "a1", source: "socket", device: "kitchen_light", command: "turn_on", args: "{}")
        #expect(try store.begin(action, at: 100) == .started)
        #expect(try store.entry(id: "a1")?.status == .dispatching)
        try store.finish(id: "a1", status: .ok, detail: "puback", at: 101)
        let entry = try #require(try store.entry(id: "a1"))
        #expect(entry.status == .ok && entry.detail == "puback" && entry.finishedAt == 101 && entry.createdAt == 100)
    }

    @Test func givenAJournaledID_whenBegunAgain_thenTheExistingEntryIsReturnedAndNothingIsWritten() throws {
        let store = try Store(path: ":memory:")
        let action = Store.NewAction(id: "a1", source: "socket", device: "kitchen_light", command: "turn_on", args: "{}")
        _ = try store.begin(action)
        try store.finish(id: "a1", status: .failed, detail: "broker down")
        let again = Store.NewAction(id: "a1", source: "voice1", device: "kitchen_fan", command: "turn_off", args: "{}")
        guard case let .existing(entry) = try store.begin(again) else { Issue.record("a second begin with the same id started"); return }
        #expect(entry.device == "kitchen_light" && entry.status == .failed)
        #expect(try store.actionCount() == 1)
    }

    @Test func givenAFinishedAction_whenFinishedAgain_thenTheFirstOutcomeStays() throws {
        let store = try Store(path: ":memory:")
        _ = try store.begin(.init(id: "a1", source: "socket", device: "d", command: "c", args: "{}"))
        try store.finish(id: "a1", status: .ok, detail: "first")
        try store.finish(id: "a1", status: .failed, detail: "second")
        #expect(try store.entry(id: "a1")?.detail == "first")
    }

    @Test func givenActionsLeftDispatching_whenRecovered_thenTheyAreInterruptedAndFinishedOnesAreUntouched() throws {
        let store = try Store(path: ":memory:")
        _ = try store.begin(.init(id: "a1", source: "socket", device: "d", command: "c", args: "{}"))
        _ = try store.begin(.init(id: "a2", source: "socket", device: "d", command: "c", args: "{}"))
        try store.finish(id: "a2", status: .ok, detail: nil)
        #expect(try store.recoverInterrupted() == 1)
        #expect(try store.entry(id: "a1")?.status == .interrupted)
        #expect(try store.entry(id: "a2")?.status == .ok)
        #expect(try store.recoverInterrupted() == 0)
    }

    @Test func givenARefusal_whenJournaledWithAFinalStatus_thenItIsFinishedAtOnce() throws {
        let store = try Store(path: ":memory:")
        _ = try store.begin(.init(id: "r1", source: "voice1", device: "front_door", command: "unlock", args: "{}"),
                           status: .refused, detail: "voice_not_allowed", at: 5)
        let entry = try #require(try store.entry(id: "r1"))
        #expect(entry.status == .refused && entry.finishedAt == 5)
        #expect(try store.recoverInterrupted() == 0)
    }

    @Test func givenADatabaseFile_whenReopened_thenJournalStateAndTimersPersist() throws {
        let path = temporaryDatabasePath()
        do {
            let store = try Store(path: path)
            _ = try store.begin(.init(id: "a1", source: "script", device: "d", command: "c", args: #"{"percent":40}"#))
            try store.saveState(device: "kitchen_light", json: #"{"power":"on"}"#)
            _ = try store.addTimer(id: "t1", device: "speaker", seconds: 60, at: 1000)
        }
        let store = try Store(path: path)
        #expect(try store.entry(id: "a1")?.args == #"{"percent":40}"#)
        #expect(try store.loadStates()["kitchen_light"]?.json == #"{"power":"on"}"#)
        #expect(try store.runningTimers().map(\.dueAt) == [1060])
        #expect(try store.endTimer(id: "t1", status: "rang"))
        #expect(try store.endTimer(id: "t1", status: "cancelled") == false)
        #expect(try store.runningTimers().isEmpty)
    }

    @Test func givenAStateSavedTwice_whenLoaded_thenTheLatestWins() throws {
        let store = try Store(path: ":memory:")
        try store.saveState(device: "fan", json: #"{"speed":"low"}"#, at: 1)
        try store.saveState(device: "fan", json: #"{"speed":"high"}"#, at: 2)
        #expect(try store.loadStates()["fan"]?.json == #"{"speed":"high"}"#)
        #expect(try store.loadStates()["fan"]?.updatedAt == 2)
    }

    @Test func givenAFileThatIsNotADatabase_whenOpened_thenOneLineNamesTheFile() throws {
        let path = temporaryDatabasePath()
        let fd = open(path, O_WRONLY | O_CREAT, 0o600)
        let garbage = Array(repeating: UInt8(ascii: "x"), count: 8192)
        _ = garbage.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        let error = #expect(throws: StoreError.self) { try Store(path: path) }
        #expect(error?.message.contains(path) == true)
        #expect(error?.message.contains("\n") == false)
    }

    @Test func givenAnUnwritableDirectory_whenOpened_thenTheErrorNamesThePath() {
        let error = #expect(throws: StoreError.self) { try Store(path: "/nonexistent-dir/hark.sqlite") }
        #expect(error?.message.contains("/nonexistent-dir/hark.sqlite") == true)
    }
}

/// Migrations never change once shipped: the schema they build is pinned here. A new migration adds
/// its statements and its name to the fixture; an edit to a shipped one fails this test.
@Suite struct SchemaTests {
    static let fixture = #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/") + "/Fixtures/schema.txt"

    static func currentSchema(_ store: Store) throws -> String {
        try store.queue.read { db in
            let migrations = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
            let objects = try Row.fetchAll(db, sql: """
                SELECT type, name, sql FROM sqlite_master
                WHERE name NOT LIKE 'grdb%' AND name NOT LIKE 'sqlite%' ORDER BY name
                """).map { "\($0["type"] as String) \($0["name"] as String)\n\($0["sql"] as String)" }
            return (migrations.map { "migration: \($0)" } + objects).joined(separator: "\n") + "\n"
        }
    }

    @Test func givenAFreshDatabase_whenMigrated_thenItsSchemaIsThePinnedOne() throws {
        let pinned = try String(contentsOfFile: Self.fixture, encoding: .utf8)
        #expect(try Self.currentSchema(Store(path: ":memory:")) == pinned)
    }

    @Test func givenADatabaseAlreadyMigrated_whenOpenedAgain_thenNothingChanges() throws {
        let path = temporaryDatabasePath()
        let first = try Self.currentSchema(Store(path: path))
        #expect(try Self.currentSchema(Store(path: path)) == first)
    }
}
