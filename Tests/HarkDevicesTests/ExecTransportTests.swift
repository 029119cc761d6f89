#if canImport(Glibc)
import Glibc
#endif
import HarkTestSupport
import Testing
@testable import HarkDevices

/// The exec transport against real programs: /bin/sh scripts written by each test into a temporary
/// directory. Timing bounds are generous (the tests run on a loaded 2-core machine).
@Suite struct ExecTransportTests {
    let transport = ExecTransport(logger: TransportTesting.quietLogger)

    /// A script that records each argument followed by a NUL byte in `args` (an argument cannot hold
    /// NUL, so the split is exact), and its environment, stdin, working directory, pid and process group.
    static func recorder(in dir: TransportTestDirectory) throws -> String {
        try dir.script("record.sh", """
            out='\(dir.path)'
            for a in "$@"; do printf '%s\\000' "$a" >> "$out/args"; done
            env > "$out/env"
            cat > "$out/stdin"
            pwd > "$out/cwd"
            echo $$ > "$out/pid"
            cut -d' ' -f5 /proc/$$/stat > "$out/pgid"
            """)
    }

    static func catalog(_ transport: String, type: String = "light") throws -> Catalog {
        try Catalog.parse(yaml: """
            rooms: {kitchen: kitchen}
            devices:
              relay:
                type: \(type)
                room: kitchen
                names: [relay]
                transport:
            \(transport.split(separator: "\n").map { "      " + $0 }.joined(separator: "\n"))
            """)
    }

    static func arguments(_ dir: TransportTestDirectory) -> [String]? {
        dir.read("args").map { bytes in bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) } }
    }

    // MARK: Arguments reach the program unchanged

    @Test func givenShellSyntaxInCatalogArgv_whenTheActionRuns_thenEachElementIsOneUnchangedArgumentAndNoShellRunsIt() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let program = try Self.recorder(in: dir)
        let hostile = [
            "a;b", "$(touch \(dir.path)/pwned)", "`touch \(dir.path)/pwned`", "two words", "'single quoted'", "\"double quoted\"",
            "*", "line1\nline2", "&& touch \(dir.path)/pwned", "| tee \(dir.path)/pwned", "> \(dir.path)/pwned", "$HOME", "",
        ]
        let yamlList = ([program, "{device}", "{command}"] + hostile).map(JSONValue.quote).joined(separator: ", ")
        let catalog = try Self.catalog("via: exec\nargv: [\(yamlList)]")

        // When
        let receipt = try await transport.perform(try TransportTesting.validated(catalog, "relay", "turn_on"))

        // Then
        #expect(receipt == "exit 0")
        #expect(Self.arguments(dir) == ["relay", "turn_on"] + hostile)
        #expect(!dir.entries().contains("pwned"), "a shell interpreted an argument")
        #expect(dir.entries() == ["args", "cwd", "env", "pgid", "pid", "record.sh", "stdin"])
    }

    @Test func givenPlaceholdersInsideArguments_whenSetBrightnessRuns_thenEachRendersWithinItsOneArgument() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let program = try Self.recorder(in: dir)
        let catalog = try Self.catalog("""
            via: exec
            argv: ["\(program)", "{command}"]
            commands:
              set_brightness: ["\(program)", "--level={percent}", "{percent} %", "{device}:{command}"]
            """)

        let receipt = try await transport.perform(try TransportTesting.validated(catalog, "relay", "set_brightness", ["percent": .number(40)]))
        #expect(receipt == "exit 0")
        #expect(Self.arguments(dir) == ["--level=40", "40 %", "relay:set_brightness"])

        // And the device's argv serves the commands without their own.
        _ = try await transport.perform(try TransportTesting.validated(catalog, "relay", "turn_off"))
        #expect(Self.arguments(dir) == ["--level=40", "40 %", "relay:set_brightness", "turn_off"])
    }

    @Test func givenAProgram_whenItRuns_thenStdinIsEmptyTheEnvironmentMinimalTheDirectoryRootAndItLeadsItsOwnProcessGroup() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let program = try Self.recorder(in: dir)
        let catalog = try Self.catalog("via: exec\nargv: [\"\(program)\"]")

        _ = try await transport.perform(try TransportTesting.validated(catalog, "relay", "turn_on"))

        #expect(dir.read("stdin") == [])
        #expect(dir.text("cwd") == "/\n")
        let environment = Set((dir.text("env") ?? "").split(separator: "\n").compactMap { $0.split(separator: "=").first.map(String.init) })
        // /bin/sh adds PWD (and some shells SHLVL and _) of its own; nothing comes from the test runner.
        #expect(environment.isSubset(of: ["PATH", "LANG", "PWD", "SHLVL", "_", "OLDPWD"]), "unexpected variables: \(environment.sorted())")
        #expect(environment.isSuperset(of: ["PATH", "LANG"]))
        let pid = dir.text("pid")?.split(separator: "\n").first.flatMap { Int32($0) }
        let group = dir.text("pgid")?.split(separator: "\n").first.flatMap { Int32($0) }
        #expect(pid != nil && group == pid, "the child must lead a new process group")
        #expect(group != getpgrp())
    }

    // MARK: NUL and hostile arguments

    @Test func givenANulInACatalogArgvElement_whenTheCatalogLoads_thenItIsRefused() throws {
        #expect {
            try Self.catalog(#"via: exec\#nargv: ["/bin/echo", "a\0b"]"#)
        } throws: { error in
            (error as? DeviceError)?.code == .catalog && "\(error)".contains("NUL")
        }
    }

    @Test func givenANulThatGotPastTheCatalog_whenTheArgvIsRendered_thenTheTransportRefusesToRunIt() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let program = try Self.recorder(in: dir)
        // Built in code: the YAML reader would have refused it.
        let spec = ExecSpec(argv: ["default": [Template(program), Template("a\u{0}b")]], timeout: 10)
        let device = Device(id: "relay", type: .switch, names: ["relay"], transport: .exec(spec))
        let catalog = try Catalog(rooms: [:], devices: [device])

        let error = await TransportTesting.deviceError { try await transport.perform(try TransportTesting.validated(catalog, "relay", "turn_on")) }

        #expect(error?.code == .transport)
        #expect(error?.message.contains("NUL") == true)
        #expect(dir.read("args") == nil, "the program must not have run")
    }

    static let hostileArguments: [(command: String, args: [String: JSONValue])] = [
        ("set_speed", ["level": .string("low; rm -rf /")]),
        ("set_speed", ["level": .string("low\nhigh")]),
        ("set_speed", ["level": .string("$(reboot)")]),
        ("set_speed", ["level": .number(1)]),
        ("set_speed", ["level": .string("low"), "extra": .string("`id`")]),
    ]

    @Test(arguments: hostileArguments)
    func givenHostileActionArguments_whenValidated_thenRefusedBeforeAnyTransport(command: String, args: [String: JSONValue]) throws {
        let catalog = try Self.catalog("via: exec\nargv: [\"/bin/true\", \"{command}\"]\ncommands:\n  set_speed: [\"/bin/true\", \"{level}\"]", type: "fan")
        #expect {
            try Validator(catalog: catalog).validate(Action(device: "relay", command: command, args: args))
        } throws: { error in
            (error as? DeviceError)?.code == .badArgument
        }
    }

    @Test(arguments: [JSONValue.string("40"), .number(101), .number(-1), .number(40.5), .string("40; reboot"), .null])
    func givenAPercentThatIsNotAWholeNumberFrom0To100_whenValidated_thenRefused(percent: JSONValue) throws {
        let catalog = try Self.catalog("via: exec\nargv: [\"/bin/true\"]\ncommands:\n  set_brightness: [\"/bin/true\", \"{percent}\"]")
        #expect {
            try Validator(catalog: catalog).validate(Action(device: "relay", command: "set_brightness", args: ["percent": percent]))
        } throws: { error in
            (error as? DeviceError)?.code == .badArgument
        }
    }

    // MARK: How the program ends

    @Test func givenAProgramThatExitsWith3_whenTheActionRuns_thenItFailsNamingDeviceProgramStatusAndFirstStderrLine() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let program = try dir.script("relay.sh", """
            echo "this goes to stdout"
            echo "" >&2
            echo "relay: board 3 not found" >&2
            echo "second line" >&2
            exit 3
            """)
        let catalog = try Self.catalog("via: exec\nargv: [\"\(program)\"]")

        let error = await TransportTesting.deviceError { try await transport.perform(try TransportTesting.validated(catalog, "relay", "turn_on")) }

        #expect(error?.code == .transport)
        let message = error?.message ?? ""
        #expect(message.contains("'relay'") && message.contains("turn_on"), "\(message)")
        #expect(message.contains(program), "\(message)")
        #expect(message.contains("status 3"), "\(message)")
        #expect(message.hasSuffix(": relay: board 3 not found"), "\(message)")
    }

    @Test func givenAProgramKilledByASignal_whenTheActionRuns_thenItFailsNamingTheSignal() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let program = try dir.script("crash.sh", "kill -KILL $$")
        let catalog = try Self.catalog("via: exec\nargv: [\"\(program)\"]")

        let error = await TransportTesting.deviceError { try await transport.perform(try TransportTesting.validated(catalog, "relay", "turn_on")) }

        #expect(error?.message.contains("killed by signal 9") == true, "\(String(describing: error))")
    }

    @Test func givenAProgramThatWritesMegabytes_whenTheActionRuns_thenItIsNotBlockedOnAFullPipeAndSucceeds() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let program = try dir.script("chatty.sh", "head -c 2000000 /dev/zero\nhead -c 2000000 /dev/zero >&2\nexit 0")
        let catalog = try Self.catalog("via: exec\ntimeout: 60\nargv: [\"\(program)\"]")

        let receipt = try await transport.perform(try TransportTesting.validated(catalog, "relay", "turn_on"))

        #expect(receipt == "exit 0")
    }

    @Test func givenAProgramThatSleeps60s_whenTheTimeoutOf1sPasses_thenItsProcessGroupIsKilledAndTheActionFails() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        // The script and a background child in its process group, both sleeping.
        let program = try dir.script("slow.sh", """
            /bin/sleep 60 &
            echo $! > '\(dir.path)/grandchild'
            echo $$ > '\(dir.path)/pid'
            wait
            """)
        let catalog = try Self.catalog("via: exec\ntimeout: 1\nargv: [\"\(program)\"]")
        let action = try TransportTesting.validated(catalog, "relay", "turn_on")

        let started = ContinuousClock.now
        let error = await TransportTesting.deviceError { try await transport.perform(action) }
        let elapsed = ContinuousClock.now - started

        #expect(error?.code == .transport)
        #expect(error?.message.contains("did not finish within 1 s") == true, "\(String(describing: error))")
        #expect(elapsed >= .milliseconds(900))
        // 1 s timeout + 1 s SIGTERM grace at most, plus slack for a loaded machine.
        #expect(elapsed < .seconds(12), "took \(elapsed)")
        let pid = try #require(dir.text("pid").flatMap { Int32($0.split(separator: "\n").first ?? "") })
        let grandchild = try #require(dir.text("grandchild").flatMap { Int32($0.split(separator: "\n").first ?? "") })
        #expect(TransportTesting.processEnded(pid))
        #expect(await eventually { TransportTesting.processEnded(grandchild) }, "the background sleep in the group survived")
    }

    @Test func givenAProgramThatIgnoresSIGTERM_whenTheTimeoutPasses_thenSIGKILLEndsIt() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let program = try dir.script("stubborn.sh", """
            trap '' TERM
            echo $$ > '\(dir.path)/pid'
            /bin/sleep 60 &
            echo $! > '\(dir.path)/grandchild'
            while true; do wait; done
            """)
        let catalog = try Self.catalog("via: exec\ntimeout: 1\nargv: [\"\(program)\"]")
        let action = try TransportTesting.validated(catalog, "relay", "turn_on")

        let started = ContinuousClock.now
        let error = await TransportTesting.deviceError { try await transport.perform(action) }
        let elapsed = ContinuousClock.now - started

        #expect(error?.message.contains("did not finish within 1 s") == true, "\(String(describing: error))")
        // The timeout, then the grace before SIGKILL.
        #expect(elapsed >= .milliseconds(1800), "took \(elapsed)")
        #expect(elapsed < .seconds(12), "took \(elapsed)")
        let pid = try #require(dir.text("pid").flatMap { Int32($0.split(separator: "\n").first ?? "") })
        let grandchild = try #require(dir.text("grandchild").flatMap { Int32($0.split(separator: "\n").first ?? "") })
        #expect(TransportTesting.processEnded(pid))
        #expect(await eventually { TransportTesting.processEnded(grandchild) })
    }

    @Test func givenARunningProgram_whenTheCallingTaskIsCancelled_thenTheProgramIsKilledAndTheActionFails() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let program = try dir.script("slow.sh", "echo $$ > '\(dir.path)/pid.tmp'; mv '\(dir.path)/pid.tmp' '\(dir.path)/pid'; exec /bin/sleep 60")
        let catalog = try Self.catalog("via: exec\ntimeout: 120\nargv: [\"\(program)\"]")
        let action = try TransportTesting.validated(catalog, "relay", "turn_on")
        let transport = self.transport

        let task = Task { try await transport.perform(action) }
        #expect(await eventually { dir.read("pid") != nil })
        let started = ContinuousClock.now
        task.cancel()
        let error = await TransportTesting.deviceError { try await task.value }

        #expect(error?.message.contains("cancelled") == true, "\(String(describing: error))")
        #expect(ContinuousClock.now - started < .seconds(10))
        let pid = try #require(dir.text("pid").flatMap { Int32($0.split(separator: "\n").first ?? "") })
        #expect(TransportTesting.processEnded(pid))
    }

    // MARK: Programs that cannot run

    @Test func givenAMissingProgram_whenTheActionRuns_thenItFailsSayingNoSuchProgram() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        let catalog = try Self.catalog("via: exec\nargv: [\"\(dir.path)/no-such-program\", \"x\"]")

        let error = await TransportTesting.deviceError { try await transport.perform(try TransportTesting.validated(catalog, "relay", "turn_on")) }

        #expect(error?.code == .transport)
        #expect(error?.message.contains("cannot run \(dir.path)/no-such-program: no such program") == true, "\(String(describing: error))")
    }

    @Test func givenAScriptThatIsNotExecutable_whenTheActionRuns_thenItFailsSayingPermissionDenied() async throws {
        let dir = TransportTestDirectory()
        defer { dir.remove() }
        try dir.write("plain.sh", "#!/bin/sh\nexit 0\n", mode: 0o644)
        let catalog = try Self.catalog("via: exec\nargv: [\"\(dir.file("plain.sh"))\"]")

        let error = await TransportTesting.deviceError { try await transport.perform(try TransportTesting.validated(catalog, "relay", "turn_on")) }

        // root may execute a file without x bits only if some x bit is set, so this holds for root too.
        #expect(error?.message.contains("permission denied") == true, "\(String(describing: error))")
    }

    @Test func givenARelativeProgramPath_whenTheCatalogLoads_thenItIsRefused() throws {
        #expect {
            try Self.catalog("via: exec\nargv: [\"sh\", \"-c\", \"id\"]")
        } throws: { error in
            (error as? DeviceError)?.code == .catalog && "\(error)".contains("absolute")
        }
    }
}
