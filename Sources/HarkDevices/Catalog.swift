/// The device catalog: rooms and devices, read from YAML files in `devices/` (see devices/README.md).
/// Everything in it is checked when it loads; an action can only name what is here.
public struct Catalog: Sendable, Equatable {
    /// Room key → spoken room name ("living_room" → "living room").
    public let rooms: [String: String]
    /// Devices in file order.
    public let devices: [Device]
    private let byID: [String: Int]
    private let bySpokenName: [String: Int]

    public init(rooms: [String: String], devices: [Device]) throws(DeviceError) {
        self.rooms = rooms
        self.devices = devices
        var byID: [String: Int] = [:]
        var bySpokenName: [String: Int] = [:]
        for (index, device) in devices.enumerated() {
            if let other = byID[device.id] {
                throw DeviceError(.catalog, "\(device.origin): device '\(device.id)': duplicate id (first defined at \(devices[other].origin))")
            }
            byID[device.id] = index
            for name in device.names {
                if let other = bySpokenName[name] {
                    throw DeviceError(.catalog, "\(device.origin): device '\(device.id)': spoken name '\(name)' is already a name of '\(devices[other].id)'")
                }
                bySpokenName[name] = index
            }
            if let room = device.room, rooms[room] == nil {
                throw DeviceError(.catalog, "\(device.origin): device '\(device.id)': unknown room '\(room)' (rooms: \(rooms.keys.sorted().joined(separator: ", ")))")
            }
        }
        if devices.filter(\.thisDevice).count > 1 {
            throw DeviceError(.catalog, "\(devices.filter(\.thisDevice)[1].origin): more than one device has this_device: true (\(devices.filter(\.thisDevice).map(\.id).joined(separator: ", ")))")
        }
        self.byID = byID
        self.bySpokenName = bySpokenName
    }

    public func device(id: String) -> Device? { byID[id].map { devices[$0] } }

    /// The device a spoken name refers to ("lamp" → living_room_lamp).
    public func device(spokenName: String) -> Device? { bySpokenName[Catalog.normalize(name: spokenName)].map { devices[$0] } }

    /// The speaker Hark runs on, if the catalog declares it.
    public var thisDevice: Device? { devices.first(where: \.thisDevice) }

    /// Whether any device is reached over MQTT (then harkd needs a broker).
    public var usesMQTT: Bool { devices.contains { $0.transport.usesMQTT } }

    /// Lowercase, single spaces: the form spoken names are compared in.
    public static func normalize(name: String) -> String {
        name.lowercased().split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }
}
