#if canImport(Glibc)
import Glibc
#endif
import HarkCommands
import HarkControl
import HarkDevices
import HarkPower
import HarkStore

/// The control socket's methods, answered by the daemon (the wire format and roles are HarkControl's).
struct DaemonControl: ControlHandler {
    let daemon: Daemon

    func handle(_ request: ControlRequest) async throws(ControlError) -> JSONValue {
        switch request.method {
        case .status:
            try request.allow([])
            return daemon.statusJSON()
        case .devicesList:
            try request.allow([])
            let devices = try runtime(for: request)
            return .array(devices.catalog.devices.map { DaemonControl.deviceJSON($0, catalog: devices.catalog, state: devices.states.state(of: $0.id), detail: false) })
        case .devicesGet:
            try request.allow(["id"])
            let id = try request.string("id", required: true, maxBytes: 128)!
            let devices = try runtime(for: request)
            guard let device = devices.catalog.device(id: id) else {
                throw ControlError(.invalidParams, "devices.get: unknown device '\(Wire.shown(id))' (devices: \(devices.catalog.devices.map(\.id).joined(separator: ", ")))")
            }
            return DaemonControl.deviceJSON(device, catalog: devices.catalog, state: devices.states.state(of: device.id), detail: true)
        case .actionsExecute:
            return try await execute(request)
        case .say:
            return try await say(request)
        case .listen:
            try request.allow([])
            guard let audio = daemon.audio else {
                throw ControlError(.unavailable, "listen: harkd has no audio input (it runs with --input none)")
            }
            guard audio.requestListen(source: "socket") else {
                throw ControlError(.unavailable, "listen: harkd runs without the command stage (--no-commands)")
            }
            return .object(["listening": .bool(true), "input": .string(audio.status.input)])
        case .history:
            return try history(request)
        case .timersList:
            try request.allow([])
            let devices = try runtime(for: request)
            let timers: [Store.TimerEntry]
            do { timers = try devices.store.runningTimers() }
            catch { throw ControlError(.internalError, "timers.list: \(error.message)") }
            let now = Store.now()
            return .array(timers.map { timer in
                .object(["id": .string(timer.id), "device": .string(timer.device), "seconds": .number(Double(timer.seconds)),
                         "started_at": .number(timer.createdAt), "due_at": .number(timer.dueAt),
                         "remaining_s": .number(max(0, (timer.dueAt - now) * 10).rounded() / 10)])
            })
        case .configReload:
            try request.allow([])
            return try await daemon.reload()
        case .eventsSubscribe:
            // The server keeps subscriptions itself; a request never reaches here.
            throw ControlError(.internalError, "events.subscribe is handled by the socket server")
        }
    }

    private func runtime(for request: ControlRequest) throws(ControlError) -> DeviceRuntime {
        guard let devices = daemon.state.current.devices else {
            throw ControlError(.unavailable, "\(request.method.rawValue): harkd has no device catalog (--catalog)")
        }
        return devices
    }

    // MARK: - actions.execute

    /// `{"actions":[ACTION | {"id":…,"action":ACTION}, …]}`: validated, journaled and dispatched as one
    /// batch from the socket, exactly as voice actions are (only the voice policy does not apply);
    /// one result per action.
    private func execute(_ request: ControlRequest) async throws(ControlError) -> JSONValue {
        try request.allow(["actions"])
        guard case let .array(items)? = request.params["actions"], !items.isEmpty, items.count <= 64 else {
            throw ControlError(.invalidParams, "actions.execute: 'actions' must be a list of 1–64 actions")
        }
        var requests: [ActionDispatcher.Request] = []
        for (index, item) in items.enumerated() {
            do { requests.append(try Self.actionRequest(item)) }
            catch { throw ControlError(.invalidParams, "actions.execute: actions[\(index)]: \(error.message)") }
        }
        guard let results = await daemon.state.submit(requests, source: .socket, since: nil) else {
            throw ControlError(.unavailable, "actions.execute: harkd has no device catalog (--catalog)")
        }
        return .object(["ok": .bool(results.allSatisfy { $0.status == .ok }), "results": .array(results.map(Self.resultJSON))])
    }

    /// An action, or `{"id":…,"action":…}`. Names with control characters are refused here: they
    /// could forge log lines, and a NUL would not come back out of the journal as it went in.
    static func actionRequest(_ item: JSONValue) throws(DeviceError) -> ActionDispatcher.Request {
        var id: String?
        var json = item
        if case let .object(members) = item, let action = members["action"] {
            guard case let .string(text)? = members["id"], !text.isEmpty, text.utf8.count <= 128, !Wire.hasControlCharacters(text) else {
                throw DeviceError(.invalidAction, "an {\"id\",\"action\"} entry needs an \"id\" string of 1–128 printable characters")
            }
            if let extra = members.keys.sorted().first(where: { $0 != "id" && $0 != "action" }) {
                throw DeviceError(.invalidAction, "unknown key \"\(Wire.shown(extra))\" (expected id and action)")
            }
            id = text
            json = action
        }
        let action = try Action(json: json)
        for (what, name) in [("device", action.device), ("command", action.command)] + action.args.keys.map({ ("argument name", $0) })
        where Wire.hasControlCharacters(name) || name.utf8.count > 1024 {
            throw DeviceError(.invalidAction, "the \(what) '\(Wire.shown(name))' contains control characters or is over 1024 bytes")
        }
        return .init(id: id, action: action)
    }

    static func resultJSON(_ result: ActionDispatcher.Result) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(result.id), "device": .string(result.action.device), "command": .string(result.action.command),
            "args": .object(result.action.args), "status": .string(result.status.rawValue), "replayed": .bool(result.replayed),
        ]
        if let detail = result.detail { object["detail"] = .string(detail) }
        return .object(object)
    }

    // MARK: - say

    /// `{"text":…, "dry_run":false}`: the text goes through the stage-1 grammar as if heard after the
    /// wake word (a transcript event, then its actions as stage-1 voice actions, held to the voice
    /// policy), or is rejected. With `dry_run` it is only parsed and validated: nothing runs, no event.
    private func say(_ request: ControlRequest) async throws(ControlError) -> JSONValue {
        try request.allow(["text", "dry_run"])
        let text = try request.string("text", required: true, maxBytes: 1000)!
        let dryRun = try request.bool("dry_run") ?? false
        let live = daemon.state.current
        guard let grammar = live.grammar, let devices = live.devices else {
            throw ControlError(.unavailable, "say: harkd has no device catalog (--catalog), so no grammar")
        }
        var answer: [String: JSONValue] = ["text": .string(text), "stage": .number(1), "dry_run": .bool(dryRun)]
        guard let actions = grammar.parse(text) else {
            if !dryRun {
                daemon.sink.emit(.transcript(stage: 1, text: text))
                daemon.sink.emit(.rejected(stage: 1, reason: "out_of_grammar", audio: nil))
            }
            if let stage2 = daemon.stage2 { return try await sayStage2(text, stage2: stage2, dryRun: dryRun, catalog: devices.catalog) }
            answer["understood"] = .bool(false)
            answer["reason"] = .string("out_of_grammar")
            return .object(answer)
        }
        answer["understood"] = .bool(true)
        if dryRun {
            answer["actions"] = Self.validated(actions, catalog: devices.catalog, stage: 1)
            return .object(answer)
        }
        daemon.sink.emit(.transcript(stage: 1, text: text))
        guard let results = await daemon.state.submit(actions.map { ActionDispatcher.Request(action: $0) }, source: .voice(stage: 1), since: nil) else {
            throw ControlError(.unavailable, "say: harkd has no device catalog (--catalog)")
        }
        answer["ok"] = .bool(results.allSatisfy { $0.status == .ok })
        answer["actions"] = .array(results.map(Self.resultJSON))
        return .object(answer)
    }

    /// Dry-run answers: each action with `valid`, `refused` or `invalid` and why.
    static func validated(_ actions: [Action], catalog: Catalog, stage: Int) -> JSONValue {
        let validator = Validator(catalog: catalog)
        return .array(actions.map { action in
            var item: [String: JSONValue] = ["device": .string(action.device), "command": .string(action.command), "args": .object(action.args)]
            switch validator.check(action, source: .voice(stage: stage)) {
            case .valid: item["status"] = .string("valid")
            case let .refused(_, reason): item["status"] = .string("refused"); item["detail"] = .string(reason)
            case let .invalid(error): item["status"] = .string("invalid"); item["detail"] = .string(error.message)
            }
            return .object(item)
        })
    }

    /// `say` beyond the grammar: stage 2's answer, dispatched as stage-2 voice actions (or, with
    /// `dry_run`, only validated). An empty answer is `understood: false`, reason `no_actions`.
    private func sayStage2(_ text: String, stage2: Stage2Service, dryRun: Bool, catalog: Catalog) async throws(ControlError) -> JSONValue {
        let outcome: Stage2Service.Outcome
        do { outcome = try await stage2.understand(text: text, dryRun: dryRun) }
        catch { throw ControlError(.unavailable, "say: \(error.message)") }
        var answer: [String: JSONValue] = ["text": .string(text), "stage": .number(2), "dry_run": .bool(dryRun),
                                           "understood": .bool(!outcome.actions.isEmpty), "via": .string(outcome.via)]
        if outcome.actions.isEmpty {
            answer["reason"] = .string("no_actions")
            if !dryRun { daemon.sink.emit(.rejected(stage: 2, reason: "no_actions", audio: nil)) }
            return .object(answer)
        }
        if dryRun {
            answer["actions"] = Self.validated(outcome.actions, catalog: catalog, stage: 2)
            return .object(answer)
        }
        guard let results = outcome.results else { throw ControlError(.unavailable, "say: harkd has no device catalog (--catalog)") }
        answer["ok"] = .bool(results.allSatisfy { $0.status == .ok })
        answer["actions"] = .array(results.map(Self.resultJSON))
        return .object(answer)
    }

    // MARK: - history

    /// `{"limit":20, "since":SECONDS_SINCE_1970, "device":ID}`: the journal, newest first.
    private func history(_ request: ControlRequest) throws(ControlError) -> JSONValue {
        try request.allow(["limit", "since", "device"])
        let limit = try request.integer("limit", in: 1...1000) ?? 20
        let since = try request.number("since")
        let device = try request.string("device", maxBytes: 128)
        let devices = try runtime(for: request)
        let entries: [Store.JournalEntry]
        do { entries = try devices.store.journal(limit: limit, since: since, device: device) }
        catch { throw ControlError(.internalError, "history: \(error.message)") }
        return .array(entries.map { entry in
            var object: [String: JSONValue] = [
                "id": .string(entry.id), "time": .number(entry.createdAt), "source": .string(entry.source), "device": .string(entry.device),
                "command": .string(entry.command), "status": .string(entry.status.rawValue),
                "args": (try? JSONValue.parse(entry.args)) ?? .string(entry.args),
            ]
            if let detail = entry.detail { object["detail"] = .string(detail) }
            if let finished = entry.finishedAt { object["finished_at"] = .number(finished) }
            return .object(object)
        })
    }

    // MARK: - devices

    static func deviceJSON(_ device: Device, catalog: Catalog, state: [String: JSONValue], detail: Bool) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(device.id), "type": .string(device.type.rawValue), "names": .array(device.names.map(JSONValue.string)),
            "via": .string(device.transport.via), "state": .object(state),
        ]
        if let room = device.room {
            object["room"] = .string(room)
            if let name = catalog.rooms[room] { object["room_name"] = .string(name) }
        }
        if device.thisDevice { object["this_device"] = .bool(true) }
        if detail {
            object["commands"] = .array(device.commands.map { command in
                .object(["name": .string(command.name), "voice": .string(device.voiceAllows(command) ? "allowed" : "refused"),
                         "parameters": .array(command.parameters.map { parameterJSON($0, device: device) })])
            })
        } else {
            object["commands"] = .array(device.commands.map { .string($0.name) })
        }
        return .object(object)
    }

    static func parameterJSON(_ parameter: Parameter, device: Device) -> JSONValue {
        switch parameter {
        case .percent:
            return .object(["name": .string("percent"), "type": .string("integer"), "min": .number(0), "max": .number(100)])
        case .celsius:
            return .object(["name": .string("celsius"), "type": .string("number"), "min": .number(device.celsius.lowerBound),
                            "max": .number(device.celsius.upperBound)])
        case .seconds:
            return .object(["name": .string("seconds"), "type": .string("integer"), "min": .number(Double(Parameter.timerRange.lowerBound)),
                            "max": .number(Double(Parameter.timerRange.upperBound))])
        case .level:
            return .object(["name": .string("level"), "type": .string("string"), "values": .array(Parameter.fanLevels.map(JSONValue.string))])
        }
    }
}

extension Daemon {
    /// `status`'s `power`: the board, the estimate over each window with the CPU it comes from by
    /// part, the budget and the governor's levers, stage 2's request energy.
    static func powerJSON(_ snapshot: PowerMeter.Snapshot) -> JSONValue {
        func rounded(_ value: Double, _ digits: Double) -> JSONValue { .number((value * digits).rounded() / digits) }
        var windows: [String: JSONValue] = [:]
        for window in snapshot.windows {
            var parts: [String: JSONValue] = [:]
            for (name, nanoseconds) in window.cpu.named { parts[name] = rounded(Double(nanoseconds) / 1e9, 1e6) }
            windows[String(Int(window.length))] = .object([
                "audio_s": rounded(window.seconds, 100), "cpu_s_per_s": rounded(window.cpuPerSecond, 1e6),
                "stage_mw": rounded(window.stageMilliwatts, 100), "board_mw": rounded(window.boardMilliwatts, 10),
                "cpu_s": .object(parts),
            ])
        }
        let model = snapshot.model
        var object: [String: JSONValue] = [
            "board": .string(model.board.id), "board_name": .string(model.board.name), "host": .string(model.host.id),
            "scale": rounded(model.scale, 1e4), "busy_core_mw": .number(model.board.busyCoreMilliwatts),
            "idle_mw": .number(model.board.idleMilliwatts), "windows": .object(windows),
            "audio_s": rounded(snapshot.audioSeconds, 100), "cpu_s": rounded(Double(snapshot.total.total) / 1e9, 1e6),
            "budget_mw": snapshot.budgetMilliwatts.map { .number($0) } ?? .null,
            "level": .number(Double(snapshot.level)), "levers": .array(snapshot.taken.map { .string($0.rawValue) }),
            "unavailable": .array(snapshot.skipped.map { .object(["lever": .string($0.lever.rawValue), "why": .string($0.unavailable ?? "")]) }),
            "over_budget": .bool(snapshot.overBudget),
        ]
        let requests = snapshot.requests
        var stage2: [String: JSONValue] = ["requests": .number(Double(requests.count)), "cpu_s": rounded(requests.cpuSeconds, 1e4),
                                           "mj_total": rounded(requests.millijoules, 10)]
        if let mean = requests.meanMillijoules { stage2["mj_mean"] = rounded(mean, 10) }
        if let last = requests.lastMillijoules { stage2["mj_last"] = rounded(last, 10) }
        object["stage2"] = .object(stage2)
        return .object(object)
    }

    /// `status`: version, uptime, the audio pipeline and its counters, wake words, devices, the socket.
    func statusJSON() -> JSONValue {
        let live = state.current
        var object: [String: JSONValue] = [
            "version": .string(harkVersion),
            "pid": .number(Double(getpid())),
            "uptime_s": .number((((ContinuousClock.now - started) / .seconds(1)) * 10).rounded() / 10),
            "started_at": .number(startedAt),
            "dry_run": .bool(live.settings.devices.dryRun),
            "ready": .bool(notifier.isReady),
            "wake_words": .array(live.settings.wake.wakeWords.map { word in
                .object(["word": .string(word.word), "model": .string(word.model), "threshold": .number(Double(word.threshold))])
            }),
        ]
        if let audio {
            let status = audio.status
            var audioObject: [String: JSONValue] = [
                "input": .string(status.input), "state": .string(status.state.rawValue), "frames_moving": .bool(status.framesMoving),
                "audio_s": .number((status.seconds * 1000).rounded() / 1000), "chunks": .number(Double(status.chunks)),
                "chunks_computed": .number(Double(status.chunksComputed)), "overruns": .number(Double(status.counters.overruns)),
                "suspends": .number(Double(status.counters.suspends)), "reopens": .number(Double(status.counters.reopens)),
                "listening": .bool(status.listening), "commands_enabled": .bool(status.hasCommands),
                "wakes": .number(Double(status.wakes)), "commands": .number(Double(status.commands)), "rejected": .number(Double(status.rejected)),
            ]
            if let open = status.gateOpenChunks { audioObject["gate_open_chunks"] = .number(Double(open)) }
            if let wake = status.lastWake {
                audioObject["last_wake"] = .object(["word": .string(wake.word), "score": .number(wake.score), "t": .number(wake.t)])
            }
            object["audio"] = .object(audioObject)
        } else {
            object["audio"] = .object(["state": .string("none")])
        }
        if let devices = live.devices {
            object["devices"] = .object(["catalog": .string(devices.catalogPath), "count": .number(Double(devices.catalog.devices.count)),
                                         "database": .string(live.settings.devices.database)])
        }
        if let server = controlServer {
            let statistics = server.statistics
            object["control"] = .object([
                "socket": .string(server.configuration.path), "connections": .number(Double(statistics.connections)),
                "subscribers": .number(Double(statistics.subscribers)), "requests": .number(Double(statistics.requests)),
                "errors": .number(Double(statistics.errors)), "evicted": .number(Double(statistics.evicted)),
                "dropped_subscribers": .number(Double(statistics.droppedSubscribers)),
            ])
        }
        if let power { object["power"] = Self.powerJSON(power.snapshot) }
        let reloadInfo = reloads.withLock { $0 }
        var reloadObject: [String: JSONValue] = ["count": .number(Double(reloadInfo.count))]
        if let at = reloadInfo.lastAt { reloadObject["last_at"] = .number(at) }
        object["reloads"] = .object(reloadObject)
        return .object(object)
    }
}
