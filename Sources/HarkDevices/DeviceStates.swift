import HarkStore
import Logging
import Synchronization

/// The current state of every device, as last reported (MQTT state topics, the speaker) or expected
/// after an acknowledged action. Persisted on every change, reloaded at start. Safe from any thread.
public final class DeviceStates: Sendable {
    private let states: Mutex<[String: [String: JSONValue]]>
    private let store: Store
    private let onChange: @Sendable (StateUpdate) -> Void
    private let logger: Logger

    /// `onChange` receives each update that changed something, with only the changed values.
    public init(store: Store, logger: Logger, onChange: @escaping @Sendable (StateUpdate) -> Void) {
        self.store = store
        self.logger = logger
        self.onChange = onChange
        var loaded: [String: [String: JSONValue]] = [:]
        do {
            for (device, saved) in try store.loadStates() {
                if case let .object(values)? = try? JSONValue.parse(saved.json) { loaded[device] = values }
            }
        } catch {
            logger.warning("device states not restored", metadata: ["error": "\(error)"])
        }
        states = Mutex(loaded)
    }

    public func state(of device: String) -> [String: JSONValue] { states.withLock { $0[device] ?? [:] } }

    public var all: [String: [String: JSONValue]] { states.withLock { $0 } }

    /// Merges an update; persists and reports what changed.
    public func apply(_ update: StateUpdate) {
        let result: (changed: [String: JSONValue], whole: [String: JSONValue])? = states.withLock { states in
            var current = states[update.device] ?? [:]
            var changed: [String: JSONValue] = [:]
            for (key, value) in update.values where current[key] != value {
                current[key] = value
                changed[key] = value
            }
            guard !changed.isEmpty else { return nil }
            states[update.device] = current
            return (changed, current)
        }
        guard let result else { return }
        do { try store.saveState(device: update.device, json: JSONValue.object(result.whole).jsonText) }
        catch { logger.error("device state not saved", metadata: ["device": "\(update.device)", "error": "\(error)"]) }
        onChange(StateUpdate(device: update.device, values: result.changed, origin: update.origin))
    }
}
