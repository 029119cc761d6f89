import Foundation

/// A one-way flag that wakes sleepers: ``cancel()`` from any thread makes ``isCancelled`` true
/// and ends every ``sleep(milliseconds:)`` in progress at once.
///
/// `@unchecked Sendable`: `cancelled` is read and written only while holding `condition`.
final class CancellationLatch: @unchecked Sendable {
    private let condition = NSCondition()
    private var cancelled = false

    var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }

    /// Sleeps up to `milliseconds`; returns true (early) if cancelled.
    func sleep(milliseconds: Int) -> Bool {
        let deadline = Date(timeIntervalSinceNow: Double(milliseconds) / 1000)
        condition.lock()
        defer { condition.unlock() }
        while !cancelled {
            if !condition.wait(until: deadline) { break }
        }
        return cancelled
    }
}
