#if canImport(Glibc)
import Glibc
#endif
import HarkTestSupport
import Logging
import Synchronization
import Testing
@testable import HarkDevices

/// The Home Assistant transport against a real HTTP/1.1 server on a loopback port
/// (`HTTPTestServer`), which records what libcurl sends.
@Suite(.timeLimit(.minutes(2))) struct HomeAssistantTransportTests {
    static let token = "test-token.eyJhbGciOiJIUzI1NiJ9-123"

    let transport = HomeAssistantTransport(logger: TransportTesting.quietLogger)

    /// A catalog of one device per Home Assistant domain, all at `url`, with `token` as given.
    static func catalog(url: String, token: String, timeout: Double = 20) -> String {
        func device(_ id: String, _ type: String, _ entity: String) -> String {
            """
              \(id):
                type: \(type)
                room: home
                names: [\(id.split(separator: "_").joined(separator: " "))]
                transport: {via: home_assistant, url: "\(url)/", entity_id: \(entity), \(token), timeout: \(timeout)}

            """
        }
        return "rooms: {home: home}\ndevices:\n"
            + device("kitchen_light", "light", "light.kitchen")
            + device("coffee_maker", "switch", "switch.coffee_maker")
            + device("ceiling_fan", "fan", "fan.ceiling")
            + device("heating", "thermostat", "climate.bedroom")
            + device("blinds", "cover", "cover.bedroom_blinds")
            + device("tv", "media", "media_player.living_room_tv")
            + device("front_door", "lock", "lock.front_door")
            + device("misnamed_light", "light", "switch.not_a_light")
    }

    /// A token file in `dir` and the catalog reading it.
    static func catalog(url: String, dir: TransportTestDirectory, fileContents: String = token + "\n", timeout: Double = 20) throws -> Catalog {
        try dir.write("token", fileContents, mode: 0o600)
        return try Catalog.parse(yaml: catalog(url: url, token: "token_file: \(dir.file("token"))", timeout: timeout))
    }

    // MARK: Service calls

    struct Case: Sendable, CustomTestStringConvertible {
        let device: String
        let command: String
        let args: [String: JSONValue]
        let path: String
        let body: [String: JSONValue]
        var testDescription: String { "\(device).\(command) → \(path)" }
    }

    static let cases: [Case] = [
        Case(device: "kitchen_light", command: "turn_on", args: [:], path: "/api/services/light/turn_on", body: ["entity_id": .string("light.kitchen")]),
        Case(device: "kitchen_light", command: "turn_off", args: [:], path: "/api/services/light/turn_off", body: ["entity_id": .string("light.kitchen")]),
        Case(device: "kitchen_light", command: "set_brightness", args: ["percent": .number(40)], path: "/api/services/light/turn_on",
             body: ["entity_id": .string("light.kitchen"), "brightness_pct": .number(40)]),
        Case(device: "coffee_maker", command: "turn_off", args: [:], path: "/api/services/switch/turn_off", body: ["entity_id": .string("switch.coffee_maker")]),
        Case(device: "ceiling_fan", command: "turn_on", args: [:], path: "/api/services/fan/turn_on", body: ["entity_id": .string("fan.ceiling")]),
        Case(device: "ceiling_fan", command: "set_speed", args: ["level": .string("low")], path: "/api/services/fan/set_percentage",
             body: ["entity_id": .string("fan.ceiling"), "percentage": .number(33)]),
        Case(device: "ceiling_fan", command: "set_speed", args: ["level": .string("medium")], path: "/api/services/fan/set_percentage",
             body: ["entity_id": .string("fan.ceiling"), "percentage": .number(67)]),
        Case(device: "ceiling_fan", command: "set_speed", args: ["level": .string("high")], path: "/api/services/fan/set_percentage",
             body: ["entity_id": .string("fan.ceiling"), "percentage": .number(100)]),
        Case(device: "heating", command: "turn_off", args: [:], path: "/api/services/climate/turn_off", body: ["entity_id": .string("climate.bedroom")]),
        Case(device: "heating", command: "set_temperature", args: ["celsius": .number(21.5)], path: "/api/services/climate/set_temperature",
             body: ["entity_id": .string("climate.bedroom"), "temperature": .number(21.5)]),
        Case(device: "blinds", command: "open", args: [:], path: "/api/services/cover/open_cover", body: ["entity_id": .string("cover.bedroom_blinds")]),
        Case(device: "blinds", command: "close", args: [:], path: "/api/services/cover/close_cover", body: ["entity_id": .string("cover.bedroom_blinds")]),
        Case(device: "blinds", command: "set_position", args: ["percent": .number(30)], path: "/api/services/cover/set_cover_position",
             body: ["entity_id": .string("cover.bedroom_blinds"), "position": .number(30)]),
        Case(device: "tv", command: "turn_on", args: [:], path: "/api/services/media_player/turn_on", body: ["entity_id": .string("media_player.living_room_tv")]),
        Case(device: "tv", command: "set_volume", args: ["percent": .number(40)], path: "/api/services/media_player/volume_set",
             body: ["entity_id": .string("media_player.living_room_tv"), "volume_level": .number(0.4)]),
        Case(device: "tv", command: "volume_up", args: [:], path: "/api/services/media_player/volume_up", body: ["entity_id": .string("media_player.living_room_tv")]),
        Case(device: "tv", command: "volume_down", args: [:], path: "/api/services/media_player/volume_down", body: ["entity_id": .string("media_player.living_room_tv")]),
        Case(device: "tv", command: "mute", args: [:], path: "/api/services/media_player/volume_mute",
             body: ["entity_id": .string("media_player.living_room_tv"), "is_volume_muted": .bool(true)]),
        Case(device: "tv", command: "unmute", args: [:], path: "/api/services/media_player/volume_mute",
             body: ["entity_id": .string("media_player.living_room_tv"), "is_volume_muted": .bool(false)]),
        Case(device: "front_door", command: "lock", args: [:], path: "/api/services/lock/lock", body: ["entity_id": .string("lock.front_door")]),
        Case(device: "front_door", command: "unlock", args: [:], path: "/api/services/lock/unlock", body: ["entity_id": .string("lock.front_door")]),
    ]

    @Test(arguments: cases)
    func givenAnEntity_whenACommandRuns_thenItsServiceIsPostedWithTheBearerTokenAndJSONData(_ testCase: Case) async throws {
        let server = try HTTPTestServer()
        defer { server.stop() }
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let catalog = try Self.catalog(url: server.url, dir: dir)

        // When
        let receipt = try await transport.perform(try TransportTesting.validated(catalog, testCase.device, testCase.command, testCase.args))

        // Then
        #expect(receipt == "HTTP 200")
        let requests = server.requests
        try #require(requests.count == 1)
        let request = requests[0]
        #expect(request.method == "POST")
        #expect(request.path == testCase.path)
        #expect(request.headers["authorization"] == "Bearer \(Self.token)")
        #expect(request.headers["content-type"] == "application/json")
        #expect(try JSONValue.parse(request.body) == .object(testCase.body), "body: \(request.body)")
    }

    @Test func givenAnEntityOfAnotherDomain_whenACommandItsDomainLacksRuns_thenItIsUnavailableAndNothingIsSent() async throws {
        let server = try HTTPTestServer()
        defer { server.stop() }
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let catalog = try Self.catalog(url: server.url, dir: dir)

        let error = await TransportTesting.deviceError {
            try await transport.perform(try TransportTesting.validated(catalog, "misnamed_light", "set_brightness", ["percent": .number(10)]))
        }

        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("switch.not_a_light") == true, "\(String(describing: error))")
        #expect(server.requests.isEmpty)
    }

    // MARK: Failures

    @Test func givenHomeAssistantRefusesTheToken_whenACommandRuns_thenTheFailureSays401AndPointsAtTheTokenWithoutShowingIt() async throws {
        let server = try HTTPTestServer { _ in .respond(status: 401, body: "401: Unauthorized") }
        defer { server.stop() }
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let catalog = try Self.catalog(url: server.url, dir: dir)
        let records = HomeAssistantLogRecords()
        let transport = HomeAssistantTransport(logger: Logger(label: "test") { _ in records })

        let error = await TransportTesting.deviceError { try await transport.perform(try TransportTesting.validated(catalog, "kitchen_light", "turn_on")) }

        #expect(error?.code == .transport)
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("'kitchen_light'") && text.contains("/api/services/light/turn_on"), "\(text)")
        #expect(text.contains("HTTP 401"), "\(text)")
        #expect(text.contains("token") && text.contains(dir.file("token")), "\(text)")
        #expect(!text.contains(Self.token))
        #expect(!records.lines.isEmpty, "the transport logs each request at debug level")
        #expect(!records.lines.contains { $0.contains(Self.token) }, "the token was logged")
    }

    @Test func givenHomeAssistantFails_whenACommandRuns_thenTheFailureNamesDevicePathStatusAndTheBodysFirstLine() async throws {
        let server = try HTTPTestServer { _ in .respond(status: 500, body: "\nService call failed: light.kitchen is gone\nTraceback…") }
        defer { server.stop() }
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let catalog = try Self.catalog(url: server.url, dir: dir)

        let error = await TransportTesting.deviceError { try await transport.perform(try TransportTesting.validated(catalog, "kitchen_light", "turn_on")) }

        #expect(error?.code == .transport)
        let message = error?.message ?? ""
        #expect(message.contains("'kitchen_light'") && message.contains("\(server.url)/api/services/light/turn_on"), "\(message)")
        #expect(message.hasSuffix("answered HTTP 500: Service call failed: light.kitchen is gone"), "\(message)")
    }

    @Test func givenARedirect_whenACommandRuns_thenItIsNotFollowedAndTheActionFails() async throws {
        let server = try HTTPTestServer { request in
            request.path == "/elsewhere" ? .respond(status: 200) : .respond(status: 302, headers: ["Location": "/elsewhere"])
        }
        defer { server.stop() }
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let catalog = try Self.catalog(url: server.url, dir: dir)

        let error = await TransportTesting.deviceError { try await transport.perform(try TransportTesting.validated(catalog, "kitchen_light", "turn_on")) }

        #expect(error?.message.contains("HTTP 302") == true, "\(String(describing: error))")
        #expect(server.requests.map(\.path) == ["/api/services/light/turn_on"])
    }

    @Test func givenAServerThatNeverAnswers_whenACommandRunsWithA1sTimeout_thenItFailsWithinTheTimeoutPlusSlack() async throws {
        let server = try HTTPTestServer { _ in .silent }
        defer { server.stop() }
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let catalog = try Self.catalog(url: server.url, dir: dir, timeout: 1)
        let action = try TransportTesting.validated(catalog, "kitchen_light", "turn_on")

        let started = ContinuousClock.now
        let error = await TransportTesting.deviceError { try await transport.perform(action) }
        let elapsed = ContinuousClock.now - started

        #expect(error?.code == .transport)
        #expect(error?.message.contains("did not answer") == true && error?.message.contains("within 1 s") == true, "\(String(describing: error))")
        #expect(elapsed >= .milliseconds(900), "took \(elapsed)")
        #expect(elapsed < .seconds(11), "took \(elapsed)")
        #expect(server.requests.count == 1, "the request reached the server before it fell silent")
    }

    @Test func givenNothingListensOnThePort_whenACommandRuns_thenItFailsSayingHomeAssistantCannotBeReached() async throws {
        let closed = try HTTPTestServer()
        closed.stop()
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let catalog = try Self.catalog(url: closed.url, dir: dir)

        let error = await TransportTesting.deviceError { try await transport.perform(try TransportTesting.validated(catalog, "kitchen_light", "turn_on")) }

        #expect(error?.code == .transport)
        #expect(error?.message.contains("cannot reach Home Assistant") == true, "\(String(describing: error))")
    }

    // MARK: Tokens

    @Test func givenTheTokenInAnEnvironmentVariable_whenACommandRuns_thenItsValueIsTheBearerToken() async throws {
        // PATH is already in the test runner's environment: setting a variable here would race with
        // getenv on other threads of the test process.
        let path = try #require(getenv("PATH").map { String(cString: $0) })
        try #require(!path.isEmpty && path.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f }, "PATH must look like a token for this test")
        let server = try HTTPTestServer()
        defer { server.stop() }
        let catalog = try Catalog.parse(yaml: Self.catalog(url: server.url, token: "token_env: PATH"))

        let receipt = try await transport.perform(try TransportTesting.validated(catalog, "coffee_maker", "turn_on"))

        #expect(receipt == "HTTP 200")
        #expect(server.requests.first?.headers["authorization"] == "Bearer \(path)")
    }

    @Test func givenAnUnsetEnvironmentVariable_whenACommandRuns_thenItIsUnavailableAndNothingIsSent() async throws {
        let server = try HTTPTestServer()
        defer { server.stop() }
        let catalog = try Catalog.parse(yaml: Self.catalog(url: server.url, token: "token_env: HARK_TEST_TOKEN_THAT_IS_NEVER_SET_7F3A"))

        let error = await TransportTesting.deviceError { try await transport.perform(try TransportTesting.validated(catalog, "coffee_maker", "turn_on")) }

        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("$HARK_TEST_TOKEN_THAT_IS_NEVER_SET_7F3A is not set") == true, "\(String(describing: error))")
        #expect(server.requests.isEmpty)
    }

    @Test func givenATokenFileWithSurroundingWhitespace_whenACommandRuns_thenTheTrimmedTokenIsSent() async throws {
        let server = try HTTPTestServer()
        defer { server.stop() }
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let catalog = try Self.catalog(url: server.url, dir: dir, fileContents: "  \(Self.token)\r\n\n")

        _ = try await transport.perform(try TransportTesting.validated(catalog, "kitchen_light", "turn_on"))

        #expect(server.requests.first?.headers["authorization"] == "Bearer \(Self.token)")
    }

    @Test func givenTheTokenFileIsRotated_whenTheNextCommandRuns_thenTheNewTokenIsSent() async throws {
        let server = try HTTPTestServer()
        defer { server.stop() }
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let catalog = try Self.catalog(url: server.url, dir: dir)

        _ = try await transport.perform(try TransportTesting.validated(catalog, "kitchen_light", "turn_on"))
        try dir.write("token", "rotated-token\n", mode: 0o600)
        _ = try await transport.perform(try TransportTesting.validated(catalog, "kitchen_light", "turn_off"))

        #expect(server.requests.map { $0.headers["authorization"] } == ["Bearer \(Self.token)", "Bearer rotated-token"])
    }

    @Test func givenNoTokenFile_whenACommandRuns_thenItIsUnavailableAndNothingIsSent() async throws {
        let server = try HTTPTestServer()
        defer { server.stop() }
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let catalog = try Catalog.parse(yaml: Self.catalog(url: server.url, token: "token_file: \(dir.file("missing-token"))"))

        let error = await TransportTesting.deviceError { try await transport.perform(try TransportTesting.validated(catalog, "kitchen_light", "turn_on")) }

        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("cannot read the Home Assistant token file \(dir.file("missing-token"))") == true, "\(String(describing: error))")
        #expect(error?.cause == "open: No such file or directory")
        #expect(server.requests.isEmpty)
    }

    @Test(arguments: ["", "\n\n", "abc\r\nX-Injected: 1", "two words", "tok\u{0}en", String(repeating: "a", count: 9000)])
    func givenATokenFileThatIsNotOneToken_whenACommandRuns_thenItIsUnavailableAndNothingIsSent(contents: String) async throws {
        let server = try HTTPTestServer()
        defer { server.stop() }
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let catalog = try Self.catalog(url: server.url, dir: dir, fileContents: contents)

        let error = await TransportTesting.deviceError { try await transport.perform(try TransportTesting.validated(catalog, "kitchen_light", "turn_on")) }

        #expect(error?.code == .unavailable, "\(String(describing: error))")
        #expect(error?.message.contains(dir.file("token")) == true, "\(String(describing: error))")
        #expect(server.requests.isEmpty)
    }
}

/// A log handler that keeps every message with its metadata as text, to check what is logged.
final class HomeAssistantLogRecords: LogHandler, Sendable {
    private let stored = Mutex<[String]>([])
    var lines: [String] { stored.withLock { $0 } }

    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }
    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }
    subscript(metadataKey _: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    func log(event: LogEvent) {
        let line = "\(event.level) \(event.message) \(event.metadata.map { "\($0)" } ?? "")"
        stored.withLock { $0.append(line) }
    }
}
