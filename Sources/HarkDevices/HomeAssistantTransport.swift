import CCurl
#if canImport(Glibc)
import Glibc
#endif
import HarkAudio
import Logging

/// The `home_assistant` transport: calls a service of Home Assistant's REST API for the device's
/// entity (https://developers.home-assistant.io/docs/api/rest/, "POST /api/services/<domain>/<service>":
/// the body is a JSON object with `entity_id` and the service's data; any 2xx status is success).
///
/// Hark's commands map to services by the entity's domain (the part of `entity_id` before the dot):
///
///     turn_on, turn_off   <domain>.turn_on / turn_off   (light, switch, fan, climate, media_player, …)
///     set_brightness      light.turn_on                 {"brightness_pct": percent}
///     set_speed           fan.set_percentage            {"percentage": 33 | 67 | 100}  (low, medium, high)
///     set_temperature     climate.set_temperature       {"temperature": celsius}
///     open, close         cover.open_cover / close_cover
///     set_position        cover.set_cover_position      {"position": percent}
///     set_volume          media_player.volume_set       {"volume_level": percent / 100}
///     volume_up, _down    media_player.volume_up / volume_down
///     mute, unmute        media_player.volume_mute      {"is_volume_muted": true | false}
///     lock, unlock        lock.lock / lock.unlock
///
/// Each request sends `Authorization: Bearer <token>` and `Content-Type: application/json`, uses the
/// device's `timeout` for connecting and for the whole request, follows no redirect and uses no proxy
/// (the token goes to the configured host only). The token is read at each request: from the token
/// file (so a rotated token works without a restart) or from harkd's environment. It is never logged
/// and never part of an error message.
///
/// libcurl's easy interface blocks, so each request runs on a POSIX thread of its own (one easy
/// handle per request, freed after it); the calling task waits on a continuation and no thread of
/// Swift's cooperative pool is held. The thread is bounded by the timeout, which libcurl enforces.
///
/// Receipt: "HTTP 200" (or whichever 2xx came back).
public struct HomeAssistantTransport: Transport {
    public let serves: Set<String> = ["home_assistant"]
    private let logger: Logger

    /// Bytes of a token file read at most; Home Assistant's long-lived tokens are about 180.
    static let tokenLimit = 8192
    /// Bytes of a response body kept for an error message.
    static let bodyLimit = 4096

    public init(logger: Logger) {
        self.logger = logger
    }

    public func start() async throws {
        try Self.initializeCurl()
    }

    public func perform(_ action: ValidatedAction) async throws -> String {
        try await call(action)
    }

    private func call(_ action: ValidatedAction) async throws(DeviceError) -> String {
        let what = "device '\(action.device.id)' \(action.command.name)"
        guard case let .homeAssistant(spec) = action.device.transport else {
            throw DeviceError(.unavailable, "\(what): the home_assistant transport was given a device reached via \(action.device.transport.via)")
        }
        try Self.initializeCurl()
        let service = try Self.serviceCall(for: action, entityID: spec.entityID)
        let url = "\(spec.url)/api/services/\(service.domain)/\(service.service)"
        let body = JSONValue.object(service.data).jsonText

        let started = ContinuousClock.now
        let result: Result<HTTPExchange.Response, DeviceError> = await Self.onOwnThread {
            do throws(DeviceError) {
                let token = try Self.token(spec.token, what: what)
                return .success(try HTTPExchange.post(url: url, json: body, bearer: token, timeout: spec.timeout, bodyLimit: Self.bodyLimit,
                                                     service: "Home Assistant", settings: ("transport.url", "transport.timeout"), what: what))
            } catch {
                return .failure(error)
            }
        } ?? .failure(DeviceError(.transport, "\(what): cannot start a thread for the request to Home Assistant"))
        let response = try result.get()
        logger.debug("home assistant answered", metadata: [
            "device": "\(action.device.id)", "command": "\(action.command.name)", "url": "\(url)",
            "status": "\(response.status)", "ms": "\(Int((ContinuousClock.now - started) / .milliseconds(1)))",
        ])

        switch response.status {
        case 200..<300:
            return "HTTP \(response.status)"
        case 401:
            throw DeviceError(.transport, "\(what): Home Assistant refused the token: POST \(url) answered HTTP \(response.status); make a new long-lived access token (Home Assistant: your profile, Security) and put it in \(Self.describe(spec.token))")
        default:
            let detail = Self.firstLine(of: response.body).map { ": \($0)" } ?? ""
            throw DeviceError(.transport, "\(what): POST \(url) answered HTTP \(response.status)\(detail)")
        }
    }

    // MARK: Services

    /// A Home Assistant service call: `POST /api/services/<domain>/<service>` with `data` as the body.
    struct ServiceCall: Equatable {
        let domain: String
        let service: String
        let data: [String: JSONValue]
    }

    /// Domains that have `turn_on` and `turn_off` services.
    static let switchableDomains = ["light", "switch", "fan", "climate", "media_player", "input_boolean", "humidifier", "siren", "remote"]

    /// Hark's command for this entity as a service call (see the table above).
    static func serviceCall(for action: ValidatedAction, entityID: String) throws(DeviceError) -> ServiceCall {
        let domain = String(entityID.prefix { $0 != "." })
        let command = action.command.name
        var data: [String: JSONValue] = ["entity_id": .string(entityID)]
        func require(_ expected: String) throws(DeviceError) {
            guard domain == expected else {
                throw DeviceError(.unavailable, "device '\(action.device.id)': Home Assistant entity '\(entityID)' cannot \(command): Hark calls a \(expected) service for it; use a \(expected).* entity")
            }
        }
        func percent() -> Double { Double(action.integer(.percent) ?? 0) }

        switch command {
        case "turn_on", "turn_off":
            guard switchableDomains.contains(domain) else {
                throw DeviceError(.unavailable, "device '\(action.device.id)': Home Assistant entity '\(entityID)' has no \(command) service (Hark turns on and off entities of \(switchableDomains.joined(separator: ", ")))")
            }
            return ServiceCall(domain: domain, service: command, data: data)
        case "set_brightness":
            try require("light")
            data["brightness_pct"] = .number(percent())
            return ServiceCall(domain: domain, service: "turn_on", data: data)
        case "set_speed":
            try require("fan")
            let percentage: Double = switch action.word(.level) {
            case "low": 33
            case "medium": 67
            default: 100
            }
            data["percentage"] = .number(percentage)
            return ServiceCall(domain: domain, service: "set_percentage", data: data)
        case "set_temperature":
            try require("climate")
            data["temperature"] = .number(action.decimal(.celsius) ?? 0)
            return ServiceCall(domain: domain, service: "set_temperature", data: data)
        case "open", "close":
            try require("cover")
            return ServiceCall(domain: domain, service: command + "_cover", data: data)
        case "set_position":
            try require("cover")
            data["position"] = .number(percent())
            return ServiceCall(domain: domain, service: "set_cover_position", data: data)
        case "set_volume":
            try require("media_player")
            data["volume_level"] = .number(percent() / 100)
            return ServiceCall(domain: domain, service: "volume_set", data: data)
        case "volume_up", "volume_down":
            try require("media_player")
            return ServiceCall(domain: domain, service: command, data: data)
        case "mute", "unmute":
            try require("media_player")
            data["is_volume_muted"] = .bool(command == "mute")
            return ServiceCall(domain: domain, service: "volume_mute", data: data)
        case "lock", "unlock":
            try require("lock")
            return ServiceCall(domain: domain, service: command, data: data)
        default:
            throw DeviceError(.unavailable, "device '\(action.device.id)': Hark has no Home Assistant service for \(command)")
        }
    }

    // MARK: Token

    /// The token, read now; `.unavailable` when it is missing, empty, too long or not printable ASCII.
    /// Messages name where the token comes from, never what it holds.
    static func token(_ source: HomeAssistantSpec.TokenSource, what: String) throws(DeviceError) -> String {
        let raw: [UInt8]
        switch source {
        case let .file(path):
            raw = try readTokenFile(path, what: what)
        case let .environment(name):
            guard let value = getenv(name) else {
                throw DeviceError(.unavailable, "\(what): the Home Assistant token variable $\(name) is not set in harkd's environment")
            }
            raw = Array(String(cString: value).utf8)
            guard raw.count <= tokenLimit else {
                throw DeviceError(.unavailable, "\(what): the Home Assistant token in $\(name) is longer than \(tokenLimit) bytes")
            }
        }
        // Surrounding whitespace (a file's final newline) is not part of the token.
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d }
        let trimmed = raw.drop(while: isSpace).reversed().drop(while: isSpace).reversed()
        guard !trimmed.isEmpty else {
            throw DeviceError(.unavailable, "\(what): the Home Assistant token in \(describe(source)) is empty")
        }
        // A control character could end the Authorization header and start another one.
        guard trimmed.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw DeviceError(.unavailable, "\(what): the Home Assistant token in \(describe(source)) holds spaces, control or non-ASCII characters; it must be the token alone")
        }
        return String(decoding: trimmed, as: UTF8.self)
    }

    private static func readTokenFile(_ path: String, what: String) throws(DeviceError) -> [UInt8] {
        do throws(BoundedFile.Failure) {
            return try BoundedFile.read(path, limit: tokenLimit)
        } catch .tooLarge {
            throw DeviceError(.unavailable, "\(what): the Home Assistant token file \(path) is larger than \(tokenLimit) bytes; it must hold the token alone")
        } catch {
            let advice = error.code == ENOENT ? "; create a long-lived access token in Home Assistant (your profile, Security) and store it there" : ""
            throw DeviceError(.unavailable, "\(what): cannot read the Home Assistant token file \(path)\(advice)", cause: error.describe(limit: tokenLimit))
        }
    }

    static func describe(_ source: HomeAssistantSpec.TokenSource) -> String {
        switch source {
        case let .file(path): "the file \(path)"
        case let .environment(name): "$\(name)"
        }
    }

    // MARK: Threads and text

    private static let curlInitialized: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

    /// curl_global_init, once per process (libcurl asks for it before any other call).
    static func initializeCurl() throws(DeviceError) {
        guard curlInitialized == CURLE_OK else {
            throw DeviceError(.unavailable, "libcurl cannot be initialised: \(String(cString: curl_easy_strerror(curlInitialized)))")
        }
    }

    /// Runs `body` on a new detached POSIX thread and returns its result; nil if no thread could be made.
    private static func onOwnThread<Value: Sendable>(_ body: @escaping @Sendable () -> Value) async -> Value? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
            if !startDetachedThread({ continuation.resume(returning: body()) }) { continuation.resume(returning: nil) }
        }
    }

    /// The first non-empty line of a response body, printable and at most 200 characters.
    static func firstLine(of bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let trimmed = line.trimmingPrefix(while: \.isWhitespace)
            guard !trimmed.isEmpty else { continue }
            return String(String.UnicodeScalarView(trimmed.unicodeScalars.prefix(200).map { $0.value < 0x20 || $0.value == 0x7f ? "?" : $0 }))
        }
        return nil
    }
}
