#if canImport(Glibc)
import Glibc
#endif

/// How Hark reaches its MQTT broker.
///
/// The password is never given on a command line or in the catalog: `passwordFile` names a file whose
/// first line is the password (a trailing newline is dropped), read once when the client is made.
public struct MQTTSettings: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// The MQTT client id; the broker allows one connection per id.
    public var clientID: String
    /// Seconds between keepalive pings: 0 (none) or 5–65535 (libmosquitto refuses 1–4).
    public var keepalive: Int
    public var username: String?
    public var passwordFile: String?
    /// Where Hark says whether it is up: a retained `online` on every (re)connect, and the retained
    /// last will `offline` the broker publishes when Hark vanishes. Default `hark/<clientID>/availability`.
    public var availabilityTopic: String
    /// Seconds before the first reconnection attempt, and the cap. libmosquitto's "exponential" backoff
    /// waits min·1², min·2², min·3², … seconds, capped at max (lib/loop.c, mosquitto_loop_forever).
    public var reconnectDelayMin: Int
    public var reconnectDelayMax: Int
    /// How long `publish` and `subscribe` wait for the connection and then the broker's acknowledgement.
    public var timeout: Duration
    /// A clean session forgets subscriptions and queued messages at each connection (Hark's default: it
    /// resubscribes on every connect and devices republish retained state). A persistent session (false)
    /// has the broker queue QoS 1 messages for this client while it is away.
    public var cleanSession: Bool

    public init(host: String = "127.0.0.1", port: Int = 1883, clientID: String = "hark", keepalive: Int = 30,
                username: String? = nil, passwordFile: String? = nil, availabilityTopic: String? = nil,
                reconnectDelayMin: Int = 1, reconnectDelayMax: Int = 30, timeout: Duration = .seconds(5),
                cleanSession: Bool = true) {
        self.host = host
        self.port = port
        self.clientID = clientID
        self.keepalive = keepalive
        self.username = username
        self.passwordFile = passwordFile
        self.availabilityTopic = availabilityTopic ?? "hark/\(clientID)/availability"
        self.reconnectDelayMin = reconnectDelayMin
        self.reconnectDelayMax = reconnectDelayMax
        self.timeout = timeout
        self.cleanSession = cleanSession
    }

    /// "127.0.0.1:1883", for messages.
    public var broker: String { "\(host):\(port)" }

    /// Checks every value before libmosquitto sees it, so a mistake reads as one line naming the setting.
    func validate() throws(DeviceError) {
        func bad(_ message: String) -> DeviceError { DeviceError(.unavailable, "MQTT settings: \(message)") }
        guard !host.isEmpty, !CatalogReader.hasControl(host) else { throw bad("the broker host is empty or has control characters") }
        guard (1...65_535).contains(port) else { throw bad("port \(port) is outside 1–65535") }
        guard !clientID.isEmpty, clientID.utf8.count <= 65_535, !CatalogReader.hasControl(clientID) else {
            throw bad("the client id must be non-empty text without control characters")
        }
        guard keepalive == 0 || (5...65_535).contains(keepalive) else { throw bad("keepalive must be 0 or 5–65535 seconds, got \(keepalive)") }
        guard reconnectDelayMin >= 1, reconnectDelayMax >= reconnectDelayMin, reconnectDelayMax <= 86_400 else {
            throw bad("reconnect delays must satisfy 1 ≤ min ≤ max ≤ 86400 seconds, got \(reconnectDelayMin)…\(reconnectDelayMax)")
        }
        guard !availabilityTopic.isEmpty, !availabilityTopic.contains("+"), !availabilityTopic.contains("#"),
              !CatalogReader.hasControl(availabilityTopic) else {
            throw bad("the availability topic '\(CatalogReader.escaped(availabilityTopic))' must be a publishable topic (no wildcards)")
        }
        guard timeout > .zero else { throw bad("the timeout must be positive") }
        if passwordFile != nil && username == nil { throw bad("a password file needs a username") }
    }

    /// The password from `passwordFile`: its first line.
    func password() throws(DeviceError) -> String? {
        guard let path = passwordFile else { return nil }
        let bytes: [UInt8]
        do throws(BoundedFile.Failure) { bytes = try BoundedFile.read(path, limit: 65_536) }
        catch .tooLarge { throw DeviceError(.unavailable, "the MQTT password file '\(path)' is larger than 64 KiB") }
        catch { throw DeviceError(.unavailable, "cannot read the MQTT password file '\(path)': \(String(cString: strerror(error.code ?? EIO)))") }
        let line = bytes.prefix { $0 != 0x0A && $0 != 0x0D }
        guard let text = String(validating: line, as: UTF8.self), !text.isEmpty else {
            throw DeviceError(.unavailable, "the MQTT password file '\(path)' has no password on its first line (or it is not UTF-8)")
        }
        return text
    }
}
