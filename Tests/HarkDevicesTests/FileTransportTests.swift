#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import HarkDevices

/// The file transport against real files in a temporary directory, standing in for
/// /sys/class/leds/<led>/brightness.
@Suite(.timeLimit(.minutes(1))) struct FileTransportTests {
    let transport = FileTransport()

    static func catalog(path: String, values: String = #"{turn_on: "1", turn_off: "0", set_brightness: "{percent}"}"#) throws -> Catalog {
        try Catalog.parse(yaml: """
            rooms: {kitchen: kitchen}
            devices:
              board_led:
                type: light
                room: kitchen
                names: [board led]
                transport: {via: file, path: "\(path)", values: \(values)}
            """)
    }

    @Test func givenASysfsLikeFileHolding255_whenSetBrightness40_thenItHoldsExactly40AndNothingElseIsCreated() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        try dir.write("brightness", "255\n")
        let catalog = try Self.catalog(path: dir.file("brightness"))

        let receipt = try await transport.perform(try TransportTesting.validated(catalog, "board_led", "set_brightness", ["percent": .number(40)]))

        #expect(receipt == "wrote 2 bytes")
        #expect(dir.text("brightness") == "40")
        #expect(dir.entries() == ["brightness"])
    }

    @Test func givenTheFile_whenTurnOnThenTurnOff_thenItHolds1Then0() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        try dir.write("brightness", "0")
        let catalog = try Self.catalog(path: dir.file("brightness"))

        #expect(try await transport.perform(try TransportTesting.validated(catalog, "board_led", "turn_on")) == "wrote 1 bytes")
        #expect(dir.text("brightness") == "1")
        _ = try await transport.perform(try TransportTesting.validated(catalog, "board_led", "turn_off"))
        #expect(dir.text("brightness") == "0")
        #expect(dir.entries() == ["brightness"])
    }

    @Test func givenASymlinkAtThePath_whenTheActionRuns_thenItIsRefusedAndItsTargetUntouched() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        try dir.write("target", "secret")
        try #require(symlink(dir.file("target"), dir.file("brightness")) == 0)
        let catalog = try Self.catalog(path: dir.file("brightness"))

        let error = await TransportTesting.deviceError {
            try await transport.perform(try TransportTesting.validated(catalog, "board_led", "turn_on"))
        }

        #expect(error?.code == .transport)
        #expect(error?.message.contains("symbolic link") == true, "\(String(describing: error))")
        #expect(error?.message.contains(dir.file("brightness")) == true)
        #expect(dir.text("target") == "secret")
    }

    @Test func givenAMissingFile_whenTheActionRuns_thenItFailsClearlyAndCreatesNothing() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let catalog = try Self.catalog(path: dir.file("brightness"))

        let error = await TransportTesting.deviceError {
            try await transport.perform(try TransportTesting.validated(catalog, "board_led", "turn_on"))
        }

        #expect(error?.code == .transport)
        #expect(error?.message.contains("\(dir.file("brightness")) does not exist") == true, "\(String(describing: error))")
        #expect(error?.cause == "open: No such file or directory")
        #expect(dir.entries() == [])
    }

    @Test func givenAFIFOWithoutReaderAtThePath_whenTheActionRuns_thenItFailsAtOnceInsteadOfBlocking() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        try #require(mkfifo(dir.file("brightness"), 0o644) == 0)
        let catalog = try Self.catalog(path: dir.file("brightness"))

        let error = await TransportTesting.deviceError {
            try await transport.perform(try TransportTesting.validated(catalog, "board_led", "turn_on"))
        }

        #expect(error?.code == .transport)
        #expect(error?.message.contains("FIFO") == true, "\(String(describing: error))")
    }

    @Test func givenADirectoryAtThePath_whenTheActionRuns_thenItFailsNamingThePath() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        try #require(mkdir(dir.file("brightness"), 0o755) == 0)
        let catalog = try Self.catalog(path: dir.file("brightness"))

        let error = await TransportTesting.deviceError {
            try await transport.perform(try TransportTesting.validated(catalog, "board_led", "turn_on"))
        }

        #expect(error?.code == .transport)
        #expect(error?.message.contains("\(dir.file("brightness")) is a directory") == true, "\(String(describing: error))")
    }

    @Test func givenAControlCharacterInACatalogValue_whenTheCatalogLoads_thenItIsRefused() throws {
        #expect {
            try Self.catalog(path: "/sys/class/leds/led0/brightness", values: #"{turn_on: "1\n0"}"#)
        } throws: { error in
            (error as? DeviceError)?.code == .catalog && "\(error)".contains("control characters")
        }
    }

    @Test(arguments: ["led0/brightness", "/sys/class/leds/../../../etc/passwd"])
    func givenARelativeOrDotDotPath_whenTheCatalogLoads_thenItIsRefused(path: String) throws {
        #expect {
            try Self.catalog(path: path)
        } throws: { error in
            (error as? DeviceError)?.code == .catalog && "\(error)".contains("absolute path")
        }
    }

    @Test(arguments: ["1\n0", "1\u{0}", "\r1"])
    func givenAControlCharacterThatGotPastTheCatalog_whenTheValueIsRendered_thenTheWriteIsRefused(value: String) async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        try dir.write("brightness", "0")
        // Built in code: the YAML reader would have refused it.
        let device = Device(id: "board_led", type: .switch, names: ["board led"],
                            transport: .file(FileSpec(path: dir.file("brightness"), values: ["turn_on": Template(value)])))
        let catalog = try Catalog(rooms: [:], devices: [device])

        let error = await TransportTesting.deviceError {
            try await transport.perform(try TransportTesting.validated(catalog, "board_led", "turn_on"))
        }

        #expect(error?.code == .transport)
        #expect(error?.message.contains("control characters") == true, "\(String(describing: error))")
        #expect(dir.text("brightness") == "0")
    }

    @Test func givenACommandWithoutAValueInTheCatalog_whenItRuns_thenItIsUnavailable() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        try dir.write("brightness", "0")
        let catalog = try Self.catalog(path: dir.file("brightness"), values: #"{turn_on: "1"}"#)

        let error = await TransportTesting.deviceError {
            try await transport.perform(try TransportTesting.validated(catalog, "board_led", "turn_off"))
        }

        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("transport.values.turn_off") == true, "\(String(describing: error))")
        #expect(dir.text("brightness") == "0")
    }
}
