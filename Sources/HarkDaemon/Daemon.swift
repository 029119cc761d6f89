#if canImport(Glibc)
import Glibc
#endif
import HarkAudio
import HarkCommands
import HarkControl
import HarkDevices
import HarkPower
import HarkStore
import Logging
import ServiceLifecycle
import Synchronization

/// harkd assembled: the devices and the journal, the stage-1 audio pipeline, the control socket
/// and systemd's notifications, run as one `ServiceGroup` that owns SIGTERM.
///
/// Graceful shutdown (SIGTERM, SIGINT, or the end of a file input) goes through the services in
/// reverse: STOPPING=1; the control socket stops listening and lets running requests finish; the
/// audio stops and the commands already heard are dispatched; the transports stop once no action
/// is running; then the journal is closed.
public final class Daemon: Sendable {
    let logger: Logger
    let sink: EventSink
    let notifier: SystemdNotifier
    let state: LiveState
    let audio: AudioPipelineService?
    let started = ContinuousClock.now
    let startedAt = Store.now()
    let reloads = Mutex(Reloads())
    /// The always-on stage's power account (nil without audio) and stage 2's request energy.
    let power: PowerMeter?
    let energy: StageTwoEnergy?
    /// Stage 2; nil when it is off.
    let stage2: Stage2Service?
    /// Where stage 1 leaves rejected utterances for stage 2 (kept across reloads).
    let handoff: UtteranceHandoff
    let statusLine: StatusLine
    private let server = Mutex<ControlServer?>(nil)
    private let reloadSettings: @Sendable () throws -> DaemonSettings

    struct Reloads {
        var running = false
        var count = 0
        var lastAt: Double?
    }

    /// Opens everything harkd runs with: the event sink, the catalog and the database, the wake-word
    /// models, the command stage and the audio source, then the control socket (bound, not yet
    /// serving). `reload` reads the settings again for `config.reload`. A failure is one line naming
    /// what and where.
    public init(settings: DaemonSettings, logger: Logger, reload: @escaping @Sendable () throws -> DaemonSettings) throws {
        self.logger = logger
        notifier = SystemdNotifier()
        let sink = try EventSink(destination: settings.events)
        self.sink = sink
        let devices = try DeviceRuntime.open(settings.devices, sink: sink, logger: logger)
        if devices != nil { notifier.markLive(.database) }
        if settings.actions != nil && devices == nil { throw DaemonError("--actions needs a device catalog (--catalog)") }
        let state = LiveState(Live(settings: settings, devices: devices, grammar: devices.map { CommandGrammar(catalog: $0.catalog) }))
        self.state = state
        statusLine = StatusLine(notifier: notifier)
        let handoff = UtteranceHandoff()
        self.handoff = handoff
        if let settings2 = settings.stage2 {
            try Stage2Service.check(settings2)
            stage2 = Stage2Service(settings: settings2, handoff: handoff, sink: sink, logger: logger, secondPassModel: settings.secondPass?.model,
                                   current: { let live = state.current; return (live.devices?.catalog, live.grammar) },
                                   submit: { @Sendable requests, source, since in await state.submit(requests, source: source, since: since) })
            logger.info("stage 2", metadata: ["model": "\(settings2.model)", "whisper": "\(settings2.whisper ?? "none")",
                                              "start": "\(settings2.start.rawValue)", "idle_unload_s": "\(settings2.idleUnload)"])
        } else {
            stage2 = nil
            if let missing = settings.stage2Missing { logger.notice("stage 2 is off: \(missing)") }
        }
        if let input = settings.input {
            let pipeline = try WakePipeline(configuration: settings.wake, logger: logger)
            let power = try Self.makePowerMeter(settings, logger: logger)
            let energy = StageTwoEnergy(meter: power, sink: sink)
            self.power = power
            self.energy = energy
            let commands = try settings.commands.map { configuration in
                guard let devices else { throw DaemonError("commands need a device catalog (--catalog), or --no-commands") }
                return try CommandStage.build(catalog: devices.catalog, configuration: configuration, secondPass: settings.secondPass,
                                              energy: energy, handoff: handoff, logger: logger)
            }
            if let missing = settings.secondPassMissing, commands != nil {
                logger.notice("no Whisper model at \(missing) (make models): commands by the first pass alone")
            }
            let feedback = settings.feedback.enabled ? Feedback(configuration: settings.feedback, logger: logger) : nil
            let source = try openAudioSource(try AudioInput(parsing: input), logger: logger)
            logger.info("listening", metadata: ["input": "\(input)", "wake_words": "\(settings.wake.wakeWords.map(\.word))",
                                                "commands": "\(commands != nil)", "dry_run": "\(settings.devices.dryRun)"])
            var submit: ActionSubmitter?
            if devices != nil {
                submit = { @Sendable requests, source, since in await state.submit(requests, source: source, since: since) }
            }
            audio = AudioPipelineService(source: source, input: input, pipeline: pipeline, commands: commands, submit: submit,
                                         feedback: feedback, notifier: notifier, power: power, energy: energy, sink: sink, logger: logger)
        } else {
            audio = nil
            power = nil
            energy = nil
        }
        reloadSettings = reload
        if let control = settings.control {
            let server = try ControlServer(configuration: control.server, policy: try control.policy(), handler: DaemonControl(daemon: self), logger: logger)
            sink.observe { event in server.publish(type: event.type, json: event.jsonLine) }
            self.server.withLock { $0 = server }
        }
        let statusLine = self.statusLine
        sink.observe { event in Self.reportStatus(event, to: statusLine) }
        if let stage2 {
            sink.observe { event in
                switch event {
                case let .rejected(1, "out_of_grammar", id?): stage2.handle(rejected: id)
                case .wake, .listen: stage2.heardWake()
                default: break
                }
            }
        }
        if let power, let store = devices?.store {
            sink.observe { event in Self.storePower(event, meter: power, store: store, logger: logger) }
        }
        notifier.setReadyStatus(readyStatus(settings))
    }

    /// The power meter for the configured board (unknown: the generic profile, with a warning) and budget.
    static func makePowerMeter(_ settings: DaemonSettings, logger: Logger) throws(DaemonError) -> PowerMeter {
        let power = settings.power
        if power.board == nil { logger.notice("no power.board configured: the power estimate uses the generic profile (README: Power)") }
        let board = try BoardProfiles.resolve(power.board, directory: power.boards, role: "power estimate", logger: logger)
        let host = try power.host.map { name throws(DaemonError) in
            try BoardProfiles.resolve(name, directory: power.boards, role: "host's speed", logger: logger)
        }
        let model = PowerModel(board: board, host: host)
        logger.info("power", metadata: ["board": "\(board.id)", "host": "\(model.host.id)", "scale": "\(model.scale)",
                                        "busy_core_mw": "\(board.busyCoreMilliwatts)", "idle_mw": "\(board.idleMilliwatts)",
                                        "budget_mw": "\(power.budgetMilliwatts.map { "\($0)" } ?? "none")"])
        return PowerMeter(model: model, governor: .init(budgetMilliwatts: power.budgetMilliwatts),
                          gate: settings.wake.gate != nil, wakeWords: settings.wake.wakeWords.count)
    }

    /// Every 60 s of audio, the power figures go into the database (off the audio thread).
    static func storePower(_ event: Event, meter: PowerMeter, store: Store, logger: Logger) {
        guard case let .power(report) = event else { return }
        let every = 60.0
        // Reports come every 10 s of audio; store the one that crosses each minute.
        guard (report.t / every).rounded(.down) > ((report.t - meter.reportEvery) / every).rounded(.down) else { return }
        let snapshot = meter.snapshot
        let window = snapshot.windows[1]
        let sample = Store.PowerSample(at: Store.now(), audioSeconds: report.t, board: snapshot.model.board.id, windowSeconds: window.seconds,
                                       cpuPerSecond: window.cpuPerSecond, stageMilliwatts: window.stageMilliwatts,
                                       boardMilliwatts: window.boardMilliwatts, budgetMilliwatts: snapshot.budgetMilliwatts,
                                       level: snapshot.level, levers: snapshot.taken.map(\.rawValue).joined(separator: ","),
                                       requests: snapshot.requests.count, requestMillijoules: snapshot.requests.millijoules)
        Task.detached {
            do { try store.savePower(sample) }
            catch { logger.error("power figures not stored", metadata: ["error": "\(error)"]) }
        }
    }

    var controlServer: ControlServer? { server.withLock { $0 } }

    /// Runs until graceful shutdown, or the end of a file input or of an actions script without audio.
    public func run() async throws {
        let live = state.current
        if let devices = live.devices { try await devices.dispatcher.start() }
        var parts: Set<SystemdNotifier.Part> = []
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if live.devices != nil {
            parts.insert(.database)
            services.append(.init(service: DevicesService(daemon: self)))
        }
        // After the devices: at shutdown its queued requests are dispatched before the transports stop.
        if let stage2 { services.append(.init(service: stage2)) }
        if let script = live.settings.actions {
            let state = self.state
            services.append(.init(service: ActionScriptService(path: script, submit: { requests, source, since in
                                      await state.submit(requests, source: source, since: since)
                                  }, sink: sink, logger: logger),
                                  successTerminationBehavior: live.settings.input == nil ? .gracefullyShutdownGroup : .ignore))
        }
        if let audio {
            parts.insert(.audio)
            services.append(.init(service: audio, successTerminationBehavior: .gracefullyShutdownGroup))
        }
        if let server = controlServer {
            parts.insert(.socket)
            services.append(.init(service: ControlService(server: server, notifier: notifier, logger: logger)))
        }
        notifier.require(parts)
        services.append(.init(service: SystemdService(notifier: notifier, pingWithoutAudio: audio == nil)))
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            finish()
            throw error
        }
        finish()
    }

    /// After the services: the journal closed cleanly, and the control socket's handler let go.
    private func finish() {
        server.withLock { $0 = nil }
        guard let devices = state.current.devices else { return }
        do { try devices.store.close() }
        catch { logger.error("journal not closed cleanly", metadata: ["error": "\(error.message)"]) }
    }

    /// Stops the current dispatcher's transports once no action is running (shutdown).
    func stopDevices() async {
        await state.gate.beginSwitch()
        await state.current.devices?.dispatcher.shutdown()
    }

    private func readyStatus(_ settings: DaemonSettings) -> String {
        var parts: [String] = []
        if let input = settings.input { parts.append("listening on \(input)") }
        if let devices = state.current.devices { parts.append("\(devices.catalog.devices.count) devices") }
        if let control = settings.control { parts.append("control socket \(control.server.path)") }
        return parts.isEmpty ? "running" : parts.joined(separator: "; ")
    }

    /// STATUS= lines that say what the pipeline is doing.
    static func reportStatus(_ event: Event, to notifier: StatusLine) {
        switch event {
        case let .power(report):
            notifier.power(report)
        case let .wake(word, score, _):
            notifier.status("heard \(word) (score \(Event.number(score, digits: 2))); listening for a command")
        case let .listen(source, _):
            notifier.status("push-to-talk from the \(source); listening for a command")
        case let .actions(source, _, actions, _):
            let ok = actions.filter { $0.status == "ok" }.count
            notifier.status("listening; last: \(actions.count) action\(actions.count == 1 ? "" : "s") from \(source), \(ok) ok")
        case let .rejected(_, reason, _):
            notifier.status("listening; last utterance rejected (\(reason))")
        case let .error(kind, message, _):
            notifier.status("\(kind) error: \(message)")
        default:
            break
        }
    }

    // MARK: - Reload

    /// `config.reload`: reads the configuration file and the catalog again and checks all of it
    /// (the catalog, the grammar and its pronunciations, the transports' settings, the control
    /// roles) before anything running changes; any problem refuses the reload and leaves harkd as
    /// it was. Then, once no action is running, the old transports stop, the new ones start, and
    /// the audio thread takes the new command stage. Settings that cannot change while running are
    /// listed under `restart_required`.
    func reload() async throws(ControlError) -> JSONValue {
        let claimed = reloads.withLock { reloads -> Bool in
            defer { reloads.running = true }
            return !reloads.running
        }
        guard claimed else { throw ControlError(.unavailable, "config.reload: a reload is already running") }
        defer { reloads.withLock { $0.running = false } }
        let started = ContinuousClock.now
        let current = state.current
        func refuse(_ error: any Error) -> ControlError {
            ControlError(.reloadRefused, "reload refused, nothing changed: \(error)")
        }
        let settings: DaemonSettings
        do { settings = try reloadSettings() } catch { throw refuse(error) }
        guard let old = current.devices else {
            throw ControlError(.reloadRefused, "reload refused, nothing changed: harkd started without a device catalog; restart it to add one")
        }
        let runtime: DeviceRuntime
        do { runtime = try DeviceRuntime.reopen(settings.devices, replacing: old, sink: sink, logger: logger) } catch { throw refuse(error) }
        let grammar = CommandGrammar(catalog: runtime.catalog)
        var stage: CommandStage?
        if audio?.status.hasCommands == true, let configuration = current.settings.commands {
            do {
                stage = try CommandStage.build(catalog: runtime.catalog, configuration: configuration,
                                               secondPass: current.settings.secondPass, energy: energy, handoff: handoff, logger: logger)
            } catch { throw refuse(error) }
        }
        var policy: AccessPolicy?
        if let control = settings.control {
            do { policy = try control.policy() } catch { throw refuse(error) }
        }
        let restart = Self.restartRequired(current.settings, settings)

        // Everything checked: swap.
        await state.gate.beginSwitch()
        await old.dispatcher.shutdown()
        var warnings: [JSONValue] = []
        do { try await runtime.dispatcher.start() }
        catch {
            warnings.append(.string("transports did not all start: \(error)"))
            logger.error("transports did not all start after reload", metadata: ["error": "\(error)"])
        }
        state.update { live in
            live.devices = runtime
            live.grammar = grammar
            live.settings.devices.catalog = settings.devices.catalog
            live.settings.devices.mqtt = settings.devices.mqtt
            if let control = settings.control, live.settings.control != nil { live.settings.control?.roles = control.roles }
        }
        await state.gate.endSwitch()
        if let stage { audio?.replaceCommands(stage) }
        if let policy, current.settings.control != nil { controlServer?.updatePolicy(policy) }
        let count = reloads.withLock { reloads -> Int in
            reloads.count += 1
            reloads.lastAt = Store.now()
            return reloads.count
        }
        let ms = (ContinuousClock.now - started) / .milliseconds(1)
        logger.notice("configuration reloaded", metadata: ["catalog": "\(runtime.catalogPath)", "devices": "\(runtime.catalog.devices.count)",
                                                           "restart_required": "\(restart)", "ms": "\(Int(ms))"])
        return .object([
            "reloaded": .bool(true),
            "reloads": .number(Double(count)),
            "catalog": .string(runtime.catalogPath),
            "devices": .number(Double(runtime.catalog.devices.count)),
            "phrases": .number(Double(grammar.phrases.count)),
            "restart_required": .array(restart.map(JSONValue.string)),
            "warnings": .array(warnings),
            "ms": .number((ms * 10).rounded() / 10),
        ])
    }

    /// The settings that changed but only take effect at the next start.
    static func restartRequired(_ old: DaemonSettings, _ new: DaemonSettings) -> [String] {
        var names: [String] = []
        if old.input != new.input { names.append("input") }
        if old.events != new.events { names.append("events") }
        if old.devices.database != new.devices.database { names.append("database") }
        if old.devices.dryRun != new.devices.dryRun { names.append("dry_run") }
        if old.wake.modelsDirectory != new.wake.modelsDirectory { names.append("models") }
        if old.wake.wakeWords != new.wake.wakeWords { names.append("wake_words") }
        if old.wake.refractorySeconds != new.wake.refractorySeconds { names.append("refractory") }
        if (old.wake.gate == nil) != (new.wake.gate == nil) { names.append("gate") }
        if old.commands != new.commands { names.append("commands") }
        if old.feedback != new.feedback { names.append("feedback") }
        if old.logLevel != new.logLevel { names.append("log_level") }
        if old.control?.server != new.control?.server { names.append("control") }
        if old.power != new.power { names.append("power") }
        if old.stage2 != new.stage2 { names.append("stage2") }
        return names
    }
}

/// What a reload swaps, and the gate that keeps actions and swaps apart.
final class LiveState: Sendable {
    private let value: Mutex<Live>
    let gate = DispatchGate()

    init(_ live: Live) { value = Mutex(live) }

    var current: Live { value.withLock { $0 } }

    func update(_ change: (inout Live) -> Void) { value.withLock { change(&$0) } }

    /// Runs actions on the current dispatcher; nil without a catalog.
    func submit(_ requests: [ActionDispatcher.Request], source: ActionSource, since: ContinuousClock.Instant?) async -> [ActionDispatcher.Result]? {
        await gate.enter()
        let dispatcher = current.devices?.dispatcher
        let results = await dispatcher?.submit(requests, source: source, since: since)
        await gate.leave()
        return results
    }
}

struct Live: Sendable {
    var settings: DaemonSettings
    var devices: DeviceRuntime?
    /// The stage-1 grammar for text (`say`), built from the current catalog.
    var grammar: CommandGrammar?
}
