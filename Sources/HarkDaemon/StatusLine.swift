import Synchronization

/// systemd's STATUS= line: what the pipeline last did, and the always-on stage's power after it
/// ("listening; last: 1 action from voice1, 1 ok · always-on 3.1 mW on raspberry-pi-zero-2w, budget 50 mW").
/// Each part replaces only itself, so a power report every 10 s keeps the last event's words.
public final class StatusLine: Sendable {
    private struct Parts {
        var what: String?
        var power: String?
    }
    private let notifier: SystemdNotifier
    private let parts = Mutex(Parts())

    public init(notifier: SystemdNotifier) { self.notifier = notifier }

    /// What the pipeline did.
    public func status(_ text: String) {
        send(parts.withLock { $0.what = text; return $0 })
    }

    /// The power figures of a report.
    public func power(_ report: PowerReport) {
        var text = "always-on \(Event.number(report.stageMilliwatts, digits: 1)) mW on \(report.board)"
        if let budget = report.budgetMilliwatts { text += ", budget \(Event.number(budget, digits: 1)) mW" }
        if !report.levers.isEmpty { text += " (\(report.levers.count) lever\(report.levers.count == 1 ? "" : "s") taken)" }
        send(parts.withLock { $0.power = text; return $0 })
    }

    /// The line as sent (for tests and `status`).
    public var current: String { Self.line(parts.withLock { $0 }) }

    private func send(_ parts: Parts) { notifier.status(Self.line(parts)) }

    private static func line(_ parts: Parts) -> String {
        [parts.what ?? "listening", parts.power].compactMap { $0 }.joined(separator: " · ")
    }
}
