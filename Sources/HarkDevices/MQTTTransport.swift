import Logging

/// The transport for every MQTT device of the catalog: Zigbee2MQTT, Tasmota and generic topics, over
/// one `MQTTClient`. Actions are published at QoS 1 and acknowledged by the broker's PUBACK (the receipt
/// is "puback <topic>"); state and availability messages are mapped by `MQTTMessages` and given to the
/// `StateObserver`.
///
/// A broker that is down at start is not an error: the client keeps reconnecting, and an action fails
/// with `unavailable` when no connection comes within the settings' timeout.
public final class MQTTTransport: Transport {
    public let serves: Set<String> = ["zigbee2mqtt", "tasmota", "mqtt"]
    public let client: MQTTClient
    /// State topic → the devices reporting on it (two catalog entries may share a topic).
    private let routes: [String: [Device]]

    /// `devices`: the catalog's devices; those not reached over MQTT are ignored.
    public init(devices: [Device], settings: MQTTSettings, observer: @escaping StateObserver, logger: Logger) throws(DeviceError) {
        var routes: [String: [Device]] = [:]
        for device in devices where device.transport.usesMQTT {
            for topic in MQTTMessages.stateTopics(for: device) { routes[topic, default: []].append(device) }
        }
        self.routes = routes
        client = try MQTTClient(settings: settings, logger: logger) { [routes] message in
            MQTTTransport.deliver(message, routes: routes, observer: observer, logger: logger)
        }
    }

    public convenience init(catalog: Catalog, settings: MQTTSettings, observer: @escaping StateObserver, logger: Logger) throws(DeviceError) {
        try self.init(devices: catalog.devices, settings: settings, observer: observer, logger: logger)
    }

    /// The state topics subscribed, sorted.
    public var stateTopics: [String] { routes.keys.sorted() }

    public func start() async throws {
        try client.start()
        client.keepSubscribed(to: stateTopics)
    }

    public func perform(_ action: ValidatedAction) async throws -> String {
        let message = try MQTTMessages.command(for: action)
        try await client.publish(topic: message.topic, payload: message.payload)
        return "puback \(message.topic)"
    }

    public func shutdown() async {
        await client.shutdown()
    }

    /// Runs on the client's network thread: map, warn about what was not understood, report.
    private static func deliver(_ message: MQTTClient.Message, routes: [String: [Device]], observer: StateObserver, logger: Logger) {
        guard let devices = routes[message.topic] else { return }
        for device in devices {
            let reading = MQTTMessages.state(of: device, topic: message.topic, payload: message.payload)
            if !reading.problems.isEmpty {
                let ignored = reading.values.isEmpty ? "ignored" : "partly ignored"
                logger.warning("MQTT state on '\(CatalogReader.escaped(message.topic))' \(ignored): \(reading.problems.joined(separator: "; "))",
                               metadata: ["device": "\(device.id)"])
            }
            if !reading.values.isEmpty {
                observer(StateUpdate(device: device.id, values: reading.values, origin: "mqtt"))
            }
        }
    }
}
