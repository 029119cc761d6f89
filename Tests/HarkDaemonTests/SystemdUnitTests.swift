import Foundation
import HarkTestSupport
import Testing

/// The service files in systemd/ as systemd itself reads them (systemd-analyze and systemd-sysusers
/// run offline), and `make install` / `make uninstall` staged under a DESTDIR.
@Suite struct SystemdUnitTests {
    struct Output {
        let status: Int32
        let text: String
    }

    static func run(_ program: String, _ arguments: [String], directory: String = repositoryRoot) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = ReadAll(pipe.fileHandleForReading)
        try process.run()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, text: output.wait())
    }

    /// The units as shipped, with harkd and harkctl where this build put them (verify checks that
    /// the programs exist).
    @Test func givenTheShippedUnits_whenSystemdVerifiesThem_thenItFindsNothingToSay() async throws {
        try await offThePool { try Self.verifyUnits() }
    }

    static func verifyUnits() throws {
        let directory = makeTemporaryDirectory("hark-units")
        defer { _ = try? run("/bin/rm", ["-rf", directory]) }
        let service = try #require(readTextFile(repositoryRoot + "/systemd/harkd.service")).replacing("/usr/local/bin", with: productsDirectory)
        writeFile(directory + "/harkd.service", service)
        writeFile(directory + "/harkd-retry.timer", try #require(readTextFile(repositoryRoot + "/systemd/harkd-retry.timer")))
        let verify = try run("/usr/bin/systemd-analyze", ["verify", directory + "/harkd.service", directory + "/harkd-retry.timer"])
        #expect(verify.status == 0 && verify.text.isEmpty, "\(verify.text)")
        #expect(service.contains("\nType=notify\n") && service.contains("\nWatchdogSec=") && service.contains("\nRestart=on-failure\n"))
        #expect(service.contains("\nUser=hark\n") && service.contains("\nSupplementaryGroups=audio\n") && service.contains("\nCapabilityBoundingSet=\n"))
    }

    @Test func givenTheServiceUnit_whenSystemdRatesItsExposure_thenItIs2Point5OrLower() async throws {
        let security = try await offThePool { try Self.run("/usr/bin/systemd-analyze", ["security", "--offline=yes", "systemd/harkd.service"]) }
        let line = try #require(security.text.split(separator: "\n").first { $0.contains("Overall exposure level for harkd.service") }, "\(security.text)")
        let score = try #require(line.firstMatch(of: /: ([0-9]+\.[0-9]+)/).flatMap { Double($0.1) })
        print("systemd-analyze security --offline=yes systemd/harkd.service: exposure \(score) (\(line.split(separator: " ").suffix(2).joined(separator: " ")))")
        #expect(score <= 2.5, "\(security.text)")
    }

    @Test func givenTheSysusersFile_whenSystemdSysusersReadsIt_thenItCreatesTheHarkUser() async throws {
        let root = makeTemporaryDirectory("hark-sysusers")
        defer { _ = try? Self.run("/bin/rm", ["-rf", root]) }
        let dryRun = try await offThePool { try Self.run("/usr/bin/systemd-sysusers", ["--dry-run", "--root=" + root, repositoryRoot + "/systemd/hark.sysusers"]) }
        #expect(dryRun.status == 0, "\(dryRun.text)")
        #expect(dryRun.text.contains("Creating user 'hark' (Hark voice daemon)"), "\(dryRun.text)")
        #expect(dryRun.text.contains("Creating group 'hark'"))
    }

    @Test func givenAStagingDirectory_whenInstalledAndUninstalled_thenEveryFileComesAndGoesWithThePrefixsPaths() async throws {
        try await offThePool { try Self.installAndUninstall() }
    }

    static func installAndUninstall() throws {
        let destination = makeTemporaryDirectory("hark-install")
        defer { _ = try? Self.run("/bin/rm", ["-rf", destination]) }
        let make = ["install-files", "DESTDIR=" + destination, "PREFIX=/usr", "BIN=" + productsDirectory]
        let install = try Self.run("/usr/bin/make", ["--no-print-directory"] + make)
        #expect(install.status == 0, "\(install.text)")
        for path in ["/usr/bin/harkd", "/usr/bin/harkctl", "/usr/bin/hark-whisper", "/usr/bin/hark-stage2", "/usr/share/hark/models/whisper-tiny.en/model.bin", "/usr/lib/systemd/system/harkd.service", "/usr/lib/systemd/system/harkd-retry.timer",
                     "/usr/lib/sysusers.d/hark.conf", "/etc/hark/harkd.yaml", "/etc/hark/devices/demo-home.yaml",
                     "/usr/share/hark/models/hey_jarvis_v0.1.onnx", "/usr/share/hark/models/melspectrogram.onnx",
                     "/usr/share/hark/models/embedding_model.onnx", "/usr/share/doc/hark/README.md",
                     "/usr/share/hark/boards/raspberry-pi-zero-2w.yaml", "/usr/share/hark/boards/generic-x86.yaml"] {
            #expect(access(destination + path, R_OK) == 0, "\(path) is installed")
        }
        let unit = readTextFile(destination + "/usr/lib/systemd/system/harkd.service") ?? ""
        #expect(unit.contains("ExecStart=/usr/bin/harkd --config /etc/hark/harkd.yaml") && !unit.contains("/usr/local"))
        #expect(readTextFile(destination + "/etc/hark/harkd.yaml")?.contains("models: /usr/share/hark/models") == true)
        // The installed harkd reads the installed configuration.
        let check = try Self.run(destination + "/usr/bin/harkd", ["--config", destination + "/etc/hark/harkd.yaml", "--catalog",
                                                                  destination + "/etc/hark/devices", "--print-read-write-paths"])
        #expect(check.status == 0 && check.text.hasPrefix("# harkd.service drop-in"), "\(check.text)")

        // An edited configuration survives both a second install and the uninstall.
        writeFile(destination + "/etc/hark/harkd.yaml", "log_level: debug\n")
        #expect(try Self.run("/usr/bin/make", ["--no-print-directory"] + make).text.contains("keeping \(destination)/etc/hark/harkd.yaml"))
        let uninstall = try Self.run("/usr/bin/make", ["--no-print-directory", "uninstall", "DESTDIR=" + destination, "PREFIX=/usr"])
        #expect(uninstall.status == 0 && uninstall.text.contains("keeping the edited"), "\(uninstall.text)")
        let left = try Self.run("/usr/bin/find", [destination, "-type", "f"]).text.split(separator: "\n")
        #expect(left == [Substring(destination + "/etc/hark/harkd.yaml")], "\(left)")
    }

    /// Devices written through sysfs need their paths writable despite ProtectSystem=strict: harkd
    /// prints the drop-in for exactly those.
    @Test func givenACatalogWithFileDevices_whenAskedForReadWritePaths_thenItPrintsExactlyTheirPaths() async throws {
        try await offThePool { try Self.readWritePaths() }
    }

    static func readWritePaths() throws {
        let directory = makeTemporaryDirectory("hark-rwpaths")
        defer { _ = try? Self.run("/bin/rm", ["-rf", directory]) }
        mkdir(directory + "/leds", 0o755)
        writeFile(directory + "/leds/brightness", "0\n")
        writeFile(directory + "/catalog.yaml", """
            devices:
              status_led:
                type: light
                names: [status light]
                transport: {via: file, path: \(directory)/leds/brightness, values: {turn_on: "1", turn_off: "0", set_brightness: "{percent}"}}
              kitchen_light:
                type: light
                names: [kitchen light]
                transport: {via: zigbee2mqtt, name: kitchen_light}

            """)
        let printed = try Self.run(productsDirectory + "/harkd", ["--catalog", directory + "/catalog.yaml", "--print-read-write-paths"])
        #expect(printed.status == 0, "\(printed.text)")
        #expect(printed.text.split(separator: "\n").filter { !$0.hasPrefix("#") } == ["[Service]", Substring("ReadWritePaths=\(directory)/leds/brightness")])
    }
}
