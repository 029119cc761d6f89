import HarkTestSupport
import Testing
@testable import HarkDevices

@Suite struct CatalogTests {
    static let demoPath = repositoryRoot + "/devices/demo-home.yaml"

    /// DESIGN §4: the demo home, a public contract.
    static let demoHome: [(id: String, type: DeviceType, room: String?, names: [String])] = [
        ("kitchen_light", .light, "kitchen", ["kitchen light"]),
        ("kitchen_fan", .fan, "kitchen", ["kitchen fan", "fan"]),
        ("coffee_maker", .switch, "kitchen", ["coffee maker", "coffee machine"]),
        ("living_room_lamp", .light, "living room", ["living room lamp", "lamp"]),
        ("living_room_tv", .media, "living room", ["tv", "television", "living room tv"]),
        ("bedroom_light", .light, "bedroom", ["bedroom light"]),
        ("bedroom_thermostat", .thermostat, "bedroom", ["thermostat", "bedroom thermostat", "heating"]),
        ("bedroom_blinds", .cover, "bedroom", ["blinds", "bedroom blinds"]),
        ("hallway_light", .light, "hallway", ["hallway light"]),
        ("front_door", .lock, "hallway", ["front door"]),
        ("speaker", .media, nil, []),
    ]

    @Test func givenTheShippedDemoHome_whenLoaded_thenIdsTypesRoomsAndNamesAreExactlyTheDesigns() throws {
        let catalog = try Catalog.load(path: Self.demoPath)
        #expect(catalog.devices.map(\.id) == Self.demoHome.map(\.id))
        for expected in Self.demoHome {
            let device = try #require(catalog.device(id: expected.id))
            #expect(device.type == expected.type, "\(expected.id)")
            #expect(device.room.map { catalog.rooms[$0] } ?? nil == expected.room, "\(expected.id)")
            #expect(device.names == expected.names, "\(expected.id)")
        }
        #expect(catalog.thisDevice?.id == "speaker")
        #expect(catalog.device(spokenName: "Lamp")?.id == "living_room_lamp")
        #expect(catalog.device(spokenName: "heating")?.id == "bedroom_thermostat")
    }

    @Test func givenTheDemoHome_thenItIsWiredToZigbee2MQTTAndTasmotaAndTheSpeaker() throws {
        let catalog = try Catalog.load(path: Self.demoPath)
        #expect(catalog.device(id: "kitchen_light")?.transport == .zigbee2mqtt(base: "zigbee2mqtt", name: "kitchen_light"))
        #expect(catalog.device(id: "coffee_maker")?.transport == .tasmota(topic: "coffee_maker"))
        #expect(catalog.device(id: "speaker")?.transport == .speaker(SpeakerSpec()))
        #expect(catalog.usesMQTT)
        let door = try #require(catalog.device(id: "front_door"))
        #expect(!door.voiceAllows(.unlock) && door.voiceAllows(.lock))
        #expect(catalog.device(id: "bedroom_thermostat")?.celsius == 10...28)
    }

    @Test func givenTheDevicesDirectory_whenLoadedAsADirectory_thenItIsTheDemoHome() throws {
        let catalog = try Catalog.load(path: repositoryRoot + "/devices")
        #expect(catalog.devices.count == Self.demoHome.count)
    }

    static let minimal = """
        rooms: {kitchen: kitchen}
        devices:
          lamp_1:
            type: light
            room: kitchen
            names: [desk lamp]
            transport: {via: zigbee2mqtt}
        """

    @Test func givenAMinimalDevice_thenDefaultsApply() throws {
        let device = try #require(try Catalog.parse(yaml: Self.minimal).device(id: "lamp_1"))
        #expect(device.transport == .zigbee2mqtt(base: "zigbee2mqtt", name: "lamp_1"))
        #expect(device.celsius == Parameter.defaultCelsius)
        #expect(device.origin == "<catalog>:3")
    }

    /// Each broken catalog gives one line naming the file, the line, the entry and the problem.
    @Test(arguments: [
        ("devices:\n  a:\n    type: lamp\n    names: [a]\n    transport: {via: zigbee2mqtt}\n", "home.yaml:3: device 'a': unknown type 'lamp'"),
        ("devices:\n  a:\n    type: light\n    names: [x]\n    transport: {via: zigbee2mqtt}\n  a:\n    type: light\n    names: [y]\n    transport: {via: zigbee2mqtt}\n", "home.yaml: not valid YAML: Parser: expected all keys to be unique but found the following duplicated key(s): 'a'"),
        ("devices:\n  a:\n    type: light\n    names: [lamp]\n    transport: {via: zigbee2mqtt}\n  b:\n    type: light\n    names: [Lamp]\n    transport: {via: zigbee2mqtt}\n", "device 'b': spoken name 'lamp' is already a name of 'a'"),
        ("devices:\n  a:\n    type: light\n    names: [a]\n    transport: {via: zigbee2mqtt, name: \"lights/#\"}\n", "device 'a' transport.name: bad topic 'lights/#'"),
        ("devices:\n  a:\n    type: switch\n    names: [a]\n    transport: {via: tasmota}\n", "home.yaml:5: device 'a': transport (via tasmota): missing parameter 'topic'"),
        ("devices:\n  a:\n    type: light\n    names: [a]\n", "home.yaml:3: device 'a': missing parameter 'transport'"),
        ("devices:\n  a:\n    type: light\n    names: [a]\n    colour: red\n    transport: {via: zigbee2mqtt}\n", "home.yaml:5: device 'a': unknown key 'colour'"),
        ("devices:\n  a:\n    type: light\n    room: attic\n    names: [a]\n    transport: {via: zigbee2mqtt}\n", "device 'a': unknown room 'attic'"),
        ("devices:\n  a:\n    type: light\n    names: [a]\n    transport: {via: exec, argv: [run.sh]}\n", "argv[0] must be an absolute program path"),
        ("devices:\n  a:\n    type: light\n    names: [a]\n    transport: {via: exec, argv: [/bin/x, \"{percent}\"]}\n", "placeholder '{percent}' has no value for command 'turn_on'"),
        ("devices:\n  a:\n    type: light\n    names: [a]\n    transport: {via: exec, argv: [/bin/x, \"{volume}\"]}\n", "unknown placeholder '{volume}'"),
        ("devices:\n  a:\n    type: light\n    names: [a]\n    transport: {via: exec, argv: [/bin/x, \"a\\0b\"]}\n", "argv[1] contains a NUL byte"),
        ("devices:\n  a:\n    type: light\n    names: [a]\n    transport: {via: file, path: /sys/../etc/passwd, values: {turn_on: \"1\"}}\n", "transport.path must be an absolute path without '..'"),
        ("devices:\n  a:\n    type: light\n    names: [a]\n    transport: {via: file, path: /tmp/x, values: {turn_on: \"1\\n2\"}}\n", "control characters are not allowed"),
        ("devices:\n  a:\n    type: light\n    names: [a]\n    voice: {unlock: allow}\n    transport: {via: zigbee2mqtt}\n", "voice policy for unknown command 'unlock'"),
        ("devices:\n  a:\n    type: lock\n    names: [a]\n    voice: {unlock: maybe}\n    transport: {via: zigbee2mqtt}\n", "voice.unlock must be allow or deny"),
        ("devices:\n  a:\n    type: light\n    names: [a]\n    limits: {celsius: {min: 10, max: 20}}\n    transport: {via: zigbee2mqtt}\n", "limits.celsius applies to thermostats only"),
        ("devices:\n  a:\n    type: thermostat\n    names: [a]\n    limits: {celsius: {min: 30, max: 20}}\n    transport: {via: zigbee2mqtt}\n", "limits.celsius must have min < max"),
        ("devices:\n  a:\n    type: light\n    names: [a]\n    transport: {via: carrier_pigeon}\n", "home.yaml:5: device 'a': unknown transport 'carrier_pigeon'"),
        ("devices:\n  a:\n    type: light\n    names: [a]\n    transport: {via: home_assistant, url: \"ftp://x\", entity_id: light.a, token_env: HA}\n", "transport.url must be an http:// or https:// URL"),
        ("devices:\n  a:\n    type: light\n    names: [a]\n    transport: {via: home_assistant, url: \"http://ha:8123\", entity_id: light.a}\n", "give exactly one of 'token_file' or 'token_env'"),
        ("devices:\n  a:\n    type: media\n    names: [a]\n    transport: {via: speaker}\n", "transport via speaker is for the device with this_device: true"),
        ("devices:\n  a:\n    type: light\n    transport: {via: zigbee2mqtt}\n", "missing parameter 'names'"),
        ("devices:\n  A-1:\n    type: light\n    names: [a]\n    transport: {via: zigbee2mqtt}\n", "device 'A-1': the id must start with a lowercase letter"),
        ("devices: [\n", "home.yaml: not valid YAML"),
        ("rooms: {}\n", "home.yaml:1: the catalog: has no 'devices' section"),
    ])
    func givenABrokenCatalog_whenParsed_thenOneLineNamesFileEntryAndProblem(yaml: String, expected: String) {
        let error = #expect(throws: DeviceError.self) { try Catalog.parse(yaml: yaml, file: "home.yaml") }
        #expect(error?.code == .catalog)
        #expect(error?.message.contains(expected) == true, "got: \(error?.message ?? "no error")")
        #expect(error?.message.contains("\n") == false)
        #expect(error?.message.hasPrefix("home.yaml") == true)
    }

    @Test func givenTwoFilesInADirectory_whenAnIdRepeatsAcrossThem_thenTheErrorNamesBothPlaces() throws {
        let dir = makeTemporaryDirectory()
        writeFile(dir + "/a.yaml", "devices:\n  lamp:\n    type: light\n    names: [lamp]\n    transport: {via: zigbee2mqtt}\n")
        writeFile(dir + "/b.yaml", "devices:\n  fan:\n    type: fan\n    names: [fan]\n    transport: {via: tasmota, topic: fan}\n  lamp:\n    type: light\n    names: [other lamp]\n    transport: {via: zigbee2mqtt}\n")
        let error = #expect(throws: DeviceError.self) { try Catalog.load(path: dir) }
        #expect(error?.message.contains("\(dir)/b.yaml:6: device 'lamp': duplicate id (first defined at \(dir)/a.yaml:2)") == true, "got: \(error?.message ?? "")")
    }

    @Test func givenTwoFilesInADirectory_whenDistinct_thenTheyMerge() throws {
        let dir = makeTemporaryDirectory()
        writeFile(dir + "/a.yaml", "rooms: {den: den}\ndevices:\n  lamp:\n    type: light\n    room: den\n    names: [lamp]\n    transport: {via: zigbee2mqtt}\n")
        writeFile(dir + "/b.yml", "devices:\n  fan:\n    type: fan\n    room: den\n    names: [fan]\n    transport: {via: tasmota, topic: fan}\n")
        writeFile(dir + "/notes.txt", "not a catalog")
        let catalog = try Catalog.load(path: dir)
        #expect(catalog.devices.map(\.id) == ["lamp", "fan"])
    }

    @Test func givenAMissingFile_whenLoaded_thenTheErrorNamesIt() {
        let error = #expect(throws: DeviceError.self) { try Catalog.load(path: "/nonexistent/home.yaml") }
        #expect(error?.message.contains("/nonexistent/home.yaml") == true)
    }

    @Test func givenAllTransportKinds_whenParsed_thenEachIsRead() throws {
        let catalog = try Catalog.parse(yaml: """
            devices:
              tv:
                type: media
                names: [tv]
                transport:
                  via: mqtt
                  state_topic: home/tv/state
                  commands:
                    set_volume: {topic: home/tv/volume, payload: "{percent}"}
              plug:
                type: switch
                names: [plug]
                transport: {via: exec, argv: [/usr/bin/plug, "{device}", "{command}"], timeout: 2}
              fan:
                type: fan
                names: [fan]
                transport:
                  via: exec
                  argv: [/usr/bin/fan, "{command}"]
                  commands: {set_speed: [/usr/bin/fan, speed, "{level}"]}
              led:
                type: light
                names: [led]
                transport: {via: file, path: /sys/class/leds/led0/brightness, values: {turn_on: "1", turn_off: "0", set_brightness: "{percent}"}}
              heater:
                type: thermostat
                names: [heater]
                transport: {via: home_assistant, url: "http://ha.local:8123/", entity_id: climate.heater, token_file: /etc/hark/ha-token}
            """)
        guard case let .mqtt(tv)? = catalog.device(id: "tv")?.transport else { Issue.record("tv"); return }
        #expect(tv.stateTopic == "home/tv/state" && tv.commands["set_volume"]?.payload.text == "{percent}")
        guard case let .exec(plug)? = catalog.device(id: "plug")?.transport else { Issue.record("plug"); return }
        #expect(plug.timeout == 2 && plug.argv["default"]?.map(\.text) == ["/usr/bin/plug", "{device}", "{command}"])
        guard case let .exec(fan)? = catalog.device(id: "fan")?.transport else { Issue.record("fan"); return }
        #expect(fan.argv["set_speed"]?.map(\.text) == ["/usr/bin/fan", "speed", "{level}"])
        guard case let .homeAssistant(heater)? = catalog.device(id: "heater")?.transport else { Issue.record("heater"); return }
        #expect(heater.url == "http://ha.local:8123" && heater.token == .file("/etc/hark/ha-token"))
    }

    @Test func givenATemplate_whenRendered_thenPlaceholdersAreFilledAndMissingOnesNamed() throws {
        let template = Template("dim {device} to {percent}%")
        #expect(template.placeholders == ["device", "percent"])
        #expect(try template.render(["device": "lamp", "percent": "40"]).get() == "dim lamp to 40%")
        guard case let .failure(missing) = template.render(["device": "lamp"]) else { Issue.record("rendered"); return }
        #expect(missing.name == "percent")
    }
}
