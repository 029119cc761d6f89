import HarkDevices
import HarkStore
import Logging
import ServiceLifecycle

/// Devices and actions in the daemon: the catalog, the database, the transports and the dispatcher,
/// with every report turned into an event.
public final class DeviceRuntime: Sendable {
    public let catalog: Catalog
    /// Where the catalog was read from.
    public let catalogPath: String
    public let store: Store
    public let states: DeviceStates
    public let dispatcher: ActionDispatcher

    /// `transports` are built by the caller from the catalog (one per kind in use). `states`: the
    /// device states of the runtime this one replaces (a reload), else new ones from the store.
    public init(catalog: Catalog, catalogPath: String = "", store: Store, states: DeviceStates? = nil, dryRun: Bool, sink: EventSink,
                logger: Logger, transports: (_ states: @escaping StateObserver) throws -> [any Transport]) throws {
        self.catalog = catalog
        self.catalogPath = catalogPath
        self.store = store
        let states = states ?? DeviceStates(store: store, logger: logger) { update in
            sink.emit(.state(device: update.device, stateJSON: JSONValue.object(update.values).jsonText, origin: update.origin))
        }
        self.states = states
        let built = try transports { states.apply($0) }
        dispatcher = ActionDispatcher(catalog: catalog, store: store, transports: built, states: states, dryRun: dryRun,
                                      logger: logger) { report in
            if let event = Event(report) { sink.emit(event) }
        }
    }
}

extension Event {
    /// The event for a dispatcher report; state reports come through `DeviceStates` instead.
    init?(_ report: ActionDispatcher.Report) {
        switch report {
        case let .actions(source, results, latencyMs):
            self = .actions(source: source.name, stage: source.stage, actions: results.map {
                ActionOutcome(actionJSON: $0.action.jsonText, id: $0.id, status: $0.status.rawValue, detail: $0.detail)
            }, latencyMs: latencyMs)
        case let .refused(source, result, reason):
            self = .refused(source: source.name, stage: source.stage, device: result.action.device, command: result.action.command,
                            reason: reason, id: result.id)
        case let .state(update):
            self = .state(device: update.device, stateJSON: JSONValue.object(update.values).jsonText, origin: update.origin)
        }
    }
}

extension ActionSource {
    var stage: Int? { if case let .voice(stage) = self { stage } else { nil } }
}
