import HarkDevices

/// The loop's requests and events: a line becomes a request (or a JSON-RPC error), is checked
/// against the peer's roles, and runs as a task; events go to the subscribers that want them.
extension EventLoop {
    // MARK: - Requests

    func handle(_ bytes: [UInt8], on connection: Connection) {
        shared.statistics.withLock { $0.requests += 1 }
        var line = bytes[...]
        while let last = line.last, last == UInt8(ascii: "\r") || last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { line = line.dropLast() }
        while let first = line.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { line = line.dropFirst() }
        guard !line.isEmpty else { return }
        guard let text = String(validating: line, as: UTF8.self) else {
            answerError(connection, id: .null, ControlError(.parseError, "parse error: the message is not valid UTF-8"))
            return
        }
        let value: JSONValue
        do { value = try JSONValue.parse(text) } catch {
            answerError(connection, id: .null, ControlError(.parseError, "parse error: the message is not valid JSON"))
            return
        }
        if case let .array(items) = value {
            handleBatch(items, on: connection)
            return
        }
        switch Wire.parse(value) {
        case let .invalid(id, error, notification):
            if notification { shared.statistics.withLock { $0.errors += 1 } } else { answerError(connection, id: id, error) }
        case let .request(id, method, params):
            if let refusal = refusal(method, on: connection) {
                if let id { answerError(connection, id: id, refusal) } else { shared.statistics.withLock { $0.errors += 1 } }
                return
            }
            connection.validRequests += 1
            if method == .eventsSubscribe {
                subscribe(connection, id: id, params: params)
                return
            }
            let request = ControlRequest(method: method, params: params, peer: connection.peer)
            run(on: connection) { handler in
                do throws(ControlError) {
                    let result = try await handler.handle(request)
                    return (id.map { Wire.result(id: $0, result) }, 0)
                } catch {
                    return (id.map { Wire.error(id: $0, error) }, 1)
                }
            }
        }
    }

    /// A batch (JSON-RPC 2.0 §6): each request in order, one array of answers (none if all were notifications).
    func handleBatch(_ items: [JSONValue], on connection: Connection) {
        guard !items.isEmpty, items.count <= configuration.maxBatch else {
            answerError(connection, id: .null, ControlError(.invalidRequest, "a batch must hold 1–\(configuration.maxBatch) requests, not \(items.count)"))
            return
        }
        // A batch costs one token per request.
        connection.tokens -= Double(items.count - 1)
        var steps: [(id: JSONValue?, outcome: Result<ControlRequest, ControlError>)] = []
        for item in items {
            switch Wire.parse(item) {
            case let .invalid(id, error, notification):
                steps.append((notification ? nil : id, .failure(error)))
            case let .request(id, method, params):
                if let refusal = refusal(method, on: connection) {
                    steps.append((id, .failure(refusal)))
                } else if method == .eventsSubscribe {
                    steps.append((id, .failure(ControlError(.invalidRequest, "events.subscribe cannot be part of a batch: send it on its own line"))))
                } else {
                    connection.validRequests += 1
                    steps.append((id, .success(ControlRequest(method: method, params: params, peer: connection.peer))))
                }
            }
        }
        run(on: connection) { [steps] handler in
            var answers: [String] = []
            var errors = 0
            for step in steps {
                switch step.outcome {
                case let .failure(error):
                    errors += 1
                    if let id = step.id { answers.append(Wire.error(id: id, error)) }
                case let .success(request):
                    do throws(ControlError) {
                        let result = try await handler.handle(request)
                        if let id = step.id { answers.append(Wire.result(id: id, result)) }
                    } catch {
                        errors += 1
                        if let id = step.id { answers.append(Wire.error(id: id, error)) }
                    }
                }
            }
            return (answers.isEmpty ? nil : "[" + answers.joined(separator: ",") + "]", errors)
        }
    }

    /// Why the connection may not call `method` now (shutting down, or missing the role); nil if it may.
    func refusal(_ method: ControlMethod, on connection: Connection) -> ControlError? {
        if draining { return ControlError(.shuttingDown, "harkd is shutting down: \(method.rawValue) not run") }
        let roles = shared.policy.withLock { $0.roles(for: connection.peer) }
        guard !roles.contains(method.role) else { return nil }
        let peer = connection.peer
        if !connection.refusalLogged {
            connection.refusalLogged = true
            logger.warning("control request refused", metadata: ["uid": "\(peer.uid)", "gid": "\(peer.gid)", "pid": "\(peer.pid)",
                                                                 "method": "\(method.rawValue)", "roles": "\(roles.map(\.rawValue).sorted())"])
        }
        let held = roles.isEmpty ? "no role" : "only the \(roles.map(\.rawValue).sorted().joined(separator: " and ")) role"
        return ControlError(.permissionDenied, "permission denied: \(method.rawValue) needs the \(method.role.rawValue) role; uid \(peer.uid) has \(held)")
    }

    /// Runs `work` as a task; its answer comes back through the inbox. The connection reads no
    /// further request until then.
    func run(on connection: Connection, _ work: @escaping @Sendable (any ControlHandler) async -> (line: String?, errors: Int)) {
        connection.busy = true
        let id = connection.id
        let shared = self.shared
        let handler = self.handler
        shared.inFlight.add(1, ordering: .acquiringAndReleasing)
        Task {
            let (line, errors) = await work(handler)
            if errors > 0 { shared.statistics.withLock { $0.errors += errors } }
            shared.post { $0.completions.append((id, line)) }
            shared.inFlight.subtract(1, ordering: .acquiringAndReleasing)
        }
    }

    func subscribe(_ connection: Connection, id: JSONValue?, params: [String: JSONValue]) {
        var types: Set<String> = []
        if let extra = params.keys.first(where: { $0 != "types" }) {
            if let id { answerError(connection, id: id, ControlError(.invalidParams, "events.subscribe: unknown parameter '\(Wire.shown(extra))' (it takes types)")) }
            return
        }
        switch params["types"] {
        case nil, .null?: break
        case let .array(items)?:
            for item in items {
                guard case let .string(type) = item, Wire.eventTypes.contains(type) else {
                    if let id {
                        answerError(connection, id: id, ControlError(.invalidParams, "events.subscribe: unknown event type \(Wire.shown(item.jsonText)) (types: \(Wire.eventTypes.joined(separator: ", ")))"))
                    }
                    return
                }
                types.insert(type)
            }
        default:
            if let id { answerError(connection, id: id, ControlError(.invalidParams, "events.subscribe: 'types' must be a list of event types")) }
            return
        }
        if connection.subscription == nil {
            subscribers += 1
            shared.statistics.withLock { $0.subscribers = subscribers }
        }
        connection.subscription = types
        if let id {
            let listed: JSONValue = types.isEmpty ? .string("all") : .array(types.sorted().map(JSONValue.string))
            connection.append(Wire.result(id: id, .object(["subscribed": .bool(true), "types": listed])))
        }
    }

    func answerError(_ connection: Connection, id: JSONValue, _ error: ControlError) {
        shared.statistics.withLock { $0.errors += 1 }
        connection.append(Wire.error(id: id, error))
    }

    // MARK: - Events

    func deliver(type: String, line: [UInt8], now: Double) {
        for connection in Array(connections.values) {
            guard let subscription = connection.subscription, subscription.isEmpty || subscription.contains(type) else { continue }
            if connection.pendingOutput + line.count > configuration.subscriberBacklogBytes {
                logger.warning("event subscriber not reading: dropped", metadata: ["uid": "\(connection.peer.uid)", "pid": "\(connection.peer.pid)",
                                                                                   "unread_bytes": "\(connection.pendingOutput)"])
                closeConnection(connection, reason: nil)
                shared.statistics.withLock { $0.droppedSubscribers += 1 }
                continue
            }
            connection.output.append(contentsOf: line)
            settle(connection, now: now)
        }
    }
}
