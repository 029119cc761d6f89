import FoundationEssentials
import HarkStore
import Logging

/// The one way an action reaches a device: validate, apply policy, journal, dispatch, journal the
/// outcome, report. Every source (stage 1, stage 2, the socket, scripts, timers) goes through here.
///
/// Exactly-once: an action id is journaled before its transport is called. A request whose id is
/// already in the journal is answered from the journal and never dispatched again; an action a crash
/// left in flight is marked `interrupted` at the next start and not retried.
public actor ActionDispatcher {
    public struct Request: Sendable {
        /// A caller-chosen id makes retries safe; nil gets a fresh one.
        public var id: String?
        public var action: Action
        public init(id: String? = nil, action: Action) {
            self.id = id
            self.action = action
        }
    }

    public struct Result: Sendable, Equatable {
        public let id: String
        public let action: Action
        public let status: Store.Status
        /// The transport's receipt, the error, or the refusal reason.
        public let detail: String?
        /// True when the id was already journaled and nothing was dispatched now.
        public let replayed: Bool
    }

    public enum Report: Sendable {
        /// One batch of actions from one source, with its results.
        case actions(source: ActionSource, results: [Result], latencyMs: Double)
        /// A policy refusal (not an error).
        case refused(source: ActionSource, result: Result, reason: String)
        /// A device's state changed.
        case state(StateUpdate)
    }

    public let catalog: Catalog
    public let validator: Validator
    public let states: DeviceStates
    private let store: Store
    private let transports: [String: any Transport]
    private let allTransports: [any Transport]
    private let dryRun: Bool
    private let logger: Logger
    private let report: @Sendable (Report) -> Void

    /// `transports`: one per kind of transport the catalog uses (a catalog device whose transport is
    /// missing fails with `unavailable`). `dryRun`: validate and journal, but call only transports that
    /// do no device I/O (`performsInDryRun`).
    public init(catalog: Catalog, store: Store, transports: [any Transport], states: DeviceStates, dryRun: Bool = false,
                logger: Logger, report: @escaping @Sendable (Report) -> Void) {
        self.catalog = catalog
        self.validator = Validator(catalog: catalog)
        self.store = store
        self.states = states
        var byVia: [String: any Transport] = [:]
        for transport in transports { for via in transport.serves { byVia[via] = transport } }
        self.transports = byVia
        self.allTransports = transports
        self.dryRun = dryRun
        self.logger = logger
        self.report = report
    }

    /// Marks actions left in flight by a crash as interrupted, then starts the transports.
    public func start() async throws {
        let interrupted = try store.recoverInterrupted()
        if interrupted > 0 { logger.warning("actions interrupted by the last stop, not retried", metadata: ["count": "\(interrupted)"]) }
        for transport in allTransports where !dryRun || transport.performsInDryRun { try await transport.start() }
    }

    public func shutdown() async {
        for transport in allTransports { await transport.shutdown() }
    }

    /// Runs a batch of actions from one source in order and reports them as one `actions` event.
    @discardableResult
    /// Runs `requests` in order and reports them as one batch; its latency counts from `since`
    /// (default: now), e.g. from the end of speech for a voice command.
    public func submit(_ requests: [Request], source: ActionSource, since: ContinuousClock.Instant? = nil) async -> [Result] {
        let started = since ?? ContinuousClock.now
        var results: [Result] = []
        for request in requests { results.append(await perform(request, source: source)) }
        let latency = (ContinuousClock.now - started) / .milliseconds(1)
        report(.actions(source: source, results: results, latencyMs: latency))
        return results
    }

    /// Runs one action; the result is also journaled. Never throws: failures are results.
    public func perform(_ request: Request, source: ActionSource) async -> Result {
        let id = request.id ?? UUID().uuidString.lowercased()
        let action = request.action
        let entry = Store.NewAction(id: id, source: source.name, device: action.device, command: action.command,
                                    args: JSONValue.object(action.args).jsonText)
        switch validator.check(action, source: source) {
        case let .invalid(error):
            return journalFinal(entry, action: action, status: .invalid, detail: error.message)
        case let .refused(validated, reason):
            let result = journalFinal(entry, action: validated.action, status: .refused, detail: reason)
            if !result.replayed { report(.refused(source: source, result: result, reason: reason)) }
            return result
        case let .valid(validated):
            do {
                if case let .existing(previous) = try store.begin(entry) { return replay(previous, action: action) }
            } catch {
                logger.error("action not journaled; not dispatched", metadata: ["id": "\(id)", "error": "\(error)"])
                return Result(id: id, action: action, status: .failed, detail: "journal unavailable: \(error)", replayed: false)
            }
            let (status, detail) = await dispatch(validated)
            do { try store.finish(id: id, status: status, detail: detail) }
            catch { logger.error("action outcome not journaled", metadata: ["id": "\(id)", "error": "\(error)"]) }
            if status == .ok, let expected = expectedState(validated) { states.apply(expected) }
            return Result(id: id, action: validated.action, status: status, detail: detail, replayed: false)
        }
    }

    private func dispatch(_ action: ValidatedAction) async -> (Store.Status, String) {
        let transport = transports[action.device.transport.via]
        if dryRun && transport?.performsInDryRun != true { return (.ok, "dry run: not sent") }
        guard let transport else {
            return (.failed, "no \(action.device.transport.via) transport is running for '\(action.device.id)'")
        }
        do { return (.ok, try await transport.perform(action)) }
        catch let error as DeviceError { return (.failed, error.description) }
        catch { return (.failed, "\(error)") }
    }

    /// Devices without state feedback take the state the acknowledged action implies.
    private func expectedState(_ action: ValidatedAction) -> StateUpdate? {
        switch action.device.transport {
        case .zigbee2mqtt, .tasmota, .speaker: return nil
        case let .mqtt(template) where template.stateTopic != nil: return nil
        default:
            let values = action.expectedState
            return values.isEmpty ? nil : StateUpdate(device: action.device.id, values: values, origin: "action")
        }
    }

    private func journalFinal(_ entry: Store.NewAction, action: Action, status: Store.Status, detail: String) -> Result {
        do {
            if case let .existing(previous) = try store.begin(entry, status: status, detail: detail) { return replay(previous, action: action) }
        } catch {
            logger.error("action not journaled", metadata: ["id": "\(entry.id)", "error": "\(error)"])
        }
        return Result(id: entry.id, action: action, status: status, detail: detail, replayed: false)
    }

    private func replay(_ previous: Store.JournalEntry, action: Action) -> Result {
        let detail = previous.status == .dispatching ? "already in progress" : previous.detail
        return Result(id: previous.id, action: action, status: previous.status, detail: detail, replayed: true)
    }
}
