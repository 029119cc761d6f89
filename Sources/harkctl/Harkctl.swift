import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import HarkControl
import HarkDevices

@main
struct Harkctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "harkctl",
        abstract: "Control a running harkd through its control socket.",
        discussion: """
            Readable output by default; --json prints harkd's answer as one JSON
            line (events: one line each).

            Exit status:
              0   done
              1   harkd answered, but it did not happen: an action failed or was
                  refused or invalid, the text was not understood, the reload
                  was refused
              64  bad command line
              65  harkd refused the request as malformed (say, an unknown device)
              69  harkd is not reachable, or what was asked is not running
                  (no audio input, no catalog)
              70  harkd failed inside
              75  no answer in time, or harkd is too busy
              76  harkd's answer was not understood
              77  permission denied (the socket, or your user's or group's role)
            """,
        version: harkVersion,
        subcommands: [Status.self, Devices.self, Do.self, Say.self, Listen.self, Events.self, History.self, Timers.self, Reload.self]
    )
}

/// The options every subcommand takes.
struct Connection: ParsableArguments {
    @Option(help: "The control socket. Default $HARK_SOCKET, else /run/hark/control.sock.")
    var socket: String?

    @Flag(help: "Print harkd's answer as JSON (one line) for scripts.")
    var json = false

    @Option(help: "Seconds to wait for an answer.")
    var timeout: Double = 10

    var path: String { socket ?? getenv("HARK_SOCKET").map { String(cString: $0) } ?? ControlClient.defaultPath }

    /// Calls one method; errors end harkctl with their exit status.
    func call(_ method: ControlMethod, _ params: [String: JSONValue] = [:]) throws -> JSONValue {
        do {
            let client = try ControlClient(path: path, timeout: timeout)
            return try client.call(method.rawValue, params)
        } catch {
            throw fail(error)
        }
    }

    /// Prints the answer: JSON, or the readable form.
    func show(_ result: JSONValue, readable: (JSONValue) -> String) {
        let text = json ? result.jsonText : readable(result)
        if !text.isEmpty { output(text) }
    }
}

/// One line on stdout, flushed (a shell loop reading harkctl's output sees it at once).
func output(_ text: String) {
    print(text)
    fflush(nil)
}

/// Says what went wrong on stderr and returns the exit status for it.
func fail(_ error: ControlError) -> ExitCode {
    var line = "harkctl: \(error.message)\n"
    line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    switch error.code {
    case .unreachable, .unavailable, .shuttingDown: return ExitCode(69)
    case .permissionDenied: return ExitCode(77)
    case .invalidParams, .methodNotFound, .invalidRequest, .parseError, .messageTooLarge: return ExitCode(65)
    case .reloadRefused: return ExitCode(1)
    case .timeout, .tooManyConnections: return ExitCode(75)
    case .protocolError: return ExitCode(76)
    default: return ExitCode(70)
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "What harkd is doing: version, uptime, audio, wake words, devices, the socket.")
    @OptionGroup var connection: Connection

    func run() throws {
        connection.show(try connection.call(.status), readable: Format.status)
    }
}

struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The devices of the catalog with their current state, or one device in detail.")
    @OptionGroup var connection: Connection
    @Argument(help: "A device id: show its commands and arguments.")
    var device: String?

    func run() throws {
        if let device {
            connection.show(try connection.call(.devicesGet, ["id": .string(device)]), readable: Format.device)
        } else {
            connection.show(try connection.call(.devicesList), readable: Format.devices)
        }
    }
}

struct Do: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an action: validated, journaled and dispatched as voice actions are.",
        discussion: """
            harkctl do kitchen_light turn_on
            harkctl do kitchen_light set_brightness percent=40
            harkctl do speaker start_timer seconds=600 --id tea-1

            An --id makes a retry safe: an id already in the journal is not run
            again. Values that read as numbers are numbers, true and false are
            booleans, anything else is a string.
            """)
    @OptionGroup var connection: Connection
    @Argument(help: "The device id, e.g. kitchen_light.") var device: String
    @Argument(help: "The command, e.g. set_brightness.") var command: String
    @Argument(help: "Arguments as key=value, e.g. percent=40.") var arguments: [String] = []
    @Option(help: "An id for the action (1–128 printable characters): an id already in the journal is not run again.")
    var id: String?

    func run() throws {
        var args: [String: JSONValue] = [:]
        for argument in arguments {
            guard let equals = argument.firstIndex(of: "="), equals != argument.startIndex else {
                throw ValidationError("argument '\(argument)': expected key=value, e.g. percent=40")
            }
            args[String(argument[..<equals])] = Format.value(String(argument[argument.index(after: equals)...]))
        }
        var action: JSONValue = .object(["device": .string(device), "command": .string(command), "args": .object(args)])
        if let id { action = .object(["id": .string(id), "action": action]) }
        let result = try connection.call(.actionsExecute, ["actions": .array([action])])
        connection.show(result, readable: Format.results)
        if result.objectValue?["ok"] != .bool(true) { throw ExitCode(1) }
    }
}

struct Say: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Text through the stage-1 grammar, as if spoken after the wake word (held to the voice policy).")
    @OptionGroup var connection: Connection
    @Argument(help: "What to say, e.g. \"turn off the kitchen light\".") var text: String
    @Flag(help: "Only parse and validate: say what would run, run nothing.") var dryRun = false

    func run() throws {
        let result = try connection.call(.say, ["text": .string(text), "dry_run": .bool(dryRun)])
        connection.show(result, readable: Format.said)
        let object = result.objectValue ?? [:]
        let failed = object["understood"] != .bool(true)
            || (dryRun ? object["actions"]?.arrayItems.contains { $0.objectValue?["status"] != .string("valid") } ?? true : object["ok"] != .bool(true))
        if failed { throw ExitCode(1) }
    }
}

struct Listen: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Push-to-talk: harkd listens for a command now, as if it had heard the wake word.")
    @OptionGroup var connection: Connection

    func run() throws {
        connection.show(try connection.call(.listen)) { result in
            "listening for a command on \(result.objectValue?["input"]?.stringValue ?? "the audio input")"
        }
    }
}

struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print harkd's events as they happen (wake, utterance, transcript, actions, rejected, state, timer, error, listen).",
        discussion: "Ends after --count events (status 0), or when harkd goes away (status 69).")
    @OptionGroup var connection: Connection
    @Option(name: .customLong("type"), help: "Only events of this type (repeatable).") var types: [String] = []
    @Option(help: "Stop after this many events.") var count: Int?

    func run() throws {
        let client: ControlClient
        do {
            client = try ControlClient(path: connection.path, timeout: connection.timeout)
            var params: [String: JSONValue] = [:]
            if !types.isEmpty { params["types"] = .array(types.map(JSONValue.string)) }
            _ = try client.call(ControlMethod.eventsSubscribe.rawValue, params)
        } catch {
            throw fail(error)
        }
        var seen = 0
        while count.map({ seen < $0 }) ?? true {
            let text: String?
            do { text = try client.nextEventText() } catch { throw fail(error) }
            guard let text else {
                throw fail(ControlError(.unreachable, "harkd closed the connection (it stopped, or dropped this slow reader)"))
            }
            // --json: the event as harkd wrote it, the same line as on its event stream.
            if connection.json {
                output(text)
            } else {
                output((try? JSONValue.parse(text)).map(Format.event) ?? text)
            }
            seen += 1
        }
    }
}

struct History: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The action journal, newest first.")
    @OptionGroup var connection: Connection
    @Option(help: "At most this many entries (1–1000).") var limit: Int = 20
    @Option(help: "Only entries since: a duration back (90s, 10m, 2h, 1d), a time (YYYY-MM-DD[THH:MM[:SS]], local), or seconds since 1970.")
    var since: String?
    @Option(help: "Only this device's entries.") var device: String?

    func run() throws {
        var params: [String: JSONValue] = ["limit": .number(Double(limit))]
        if let since {
            guard let seconds = Format.parseSince(since) else {
                throw ValidationError("--since '\(since)': expected a duration (90s, 10m, 2h, 1d), YYYY-MM-DD[THH:MM[:SS]], or seconds since 1970")
            }
            params["since"] = .number(seconds)
        }
        if let device { params["device"] = .string(device) }
        connection.show(try connection.call(.history, params), readable: Format.history)
    }
}

struct Timers: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The speaker's running timers.")
    @OptionGroup var connection: Connection

    func run() throws {
        connection.show(try connection.call(.timersList), readable: Format.timers)
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reload the configuration and the device catalog; harkd checks them first and keeps running as it was if they are wrong.")
    @OptionGroup var connection: Connection

    func run() throws {
        connection.show(try connection.call(.configReload), readable: Format.reloaded)
    }
}

extension JSONValue {
    var arrayItems: [JSONValue] { if case let .array(items) = self { items } else { [] } }
}
