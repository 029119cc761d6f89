import Testing
@testable import HarkStore
import GRDB
import HarkTestSupport

/// The `power` table: a row a minute of the always-on stage's figures.
@Suite struct PowerStoreTests {
    static func sample(at: Double, stage: Double, budget: Double?) -> Store.PowerSample {
        Store.PowerSample(at: at, audioSeconds: at - 1000, board: "raspberry-pi-zero-2w", windowSeconds: 60, cpuPerSecond: 0.0004,
                          stageMilliwatts: stage, boardMilliwatts: 600 + stage, budgetMilliwatts: budget, level: budget == nil ? 0 : 2,
                          levers: budget == nil ? "" : "stricter_gate,strictest_gate", requests: 3, requestMillijoules: 1234.5)
    }

    @Test func givenSamples_whenSaved_thenTheyComeBackNewestFirstAsTheyWent() throws {
        let store = try Store(path: temporaryDatabasePath())
        let first = Self.sample(at: 1060, stage: 2.5, budget: nil)
        let second = Self.sample(at: 1120, stage: 48.25, budget: 50)
        try store.savePower(first)
        try store.savePower(second)
        #expect(try store.powerSamples() == [second, first])
        #expect(try store.powerSamples(limit: 1) == [second])
        #expect(try store.integrityCheck() == "ok")
    }

    /// Given a database made before the power table (only migration v1), when opened by this
    /// version, then the migration adds the table and the journal is untouched.
    @Test func givenADatabaseFromBeforeThePowerTable_whenOpened_thenItIsMigrated() throws {
        let path = temporaryDatabasePath()
        do {
            let queue = try DatabaseQueue(path: path)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1: action journal, device state, timers") { db in
                try db.execute(sql: "CREATE TABLE action (id TEXT PRIMARY KEY NOT NULL)")
            }
            try migrator.migrate(queue)
            try queue.write { try $0.execute(sql: "INSERT INTO action (id) VALUES ('kept')") }
            try queue.close()
        }
        let store = try Store(path: path)
        try store.savePower(Self.sample(at: 1, stage: 1, budget: 5))
        #expect(try store.powerSamples().count == 1)
        let kept = try store.queue.read { try String.fetchOne($0, sql: "SELECT id FROM action") }
        #expect(kept == "kept")
    }
}
