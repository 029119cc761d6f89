#if canImport(Glibc)
import Glibc
#endif
import Logging

/// The `exec` transport: runs the program the catalog names for a device, without a shell.
///
/// Each argv element of the catalog is a template rendered to exactly one argument, whatever the
/// value holds (spaces, quotes, `;`, `$(…)` reach the program as text). The argv is the command's own
/// (`transport.commands.<command>`) or the device's `transport.argv`. How the program is started and
/// waited for is in ``ProcessRunner``: no shell, no PATH search, stdin /dev/null, a minimal
/// environment, its own process group, killed (SIGTERM, then SIGKILL) after `transport.timeout`.
///
/// Receipt: "exit 0". Anything else fails with a message naming the device, the program, how it
/// ended and the first line it wrote to stderr.
public struct ExecTransport: Transport {
    public let serves: Set<String> = ["exec"]
    private let logger: Logger

    /// All the child sees of the environment: a PATH for the programs a script calls, and a UTF-8 locale.
    static let environment = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG=C.UTF-8",
    ]

    public init(logger: Logger) {
        self.logger = logger
    }

    public func perform(_ action: ValidatedAction) async throws -> String {
        try await execute(action)
    }

    private func execute(_ action: ValidatedAction) async throws(DeviceError) -> String {
        let what = "device '\(action.device.id)' \(action.command.name)"
        guard case let .exec(spec) = action.device.transport else {
            throw DeviceError(.unavailable, "\(what): the exec transport was given a device reached via \(action.device.transport.via)")
        }
        let argv = try Self.arguments(for: action, spec: spec)
        let program = argv[0]
        let started = ContinuousClock.now
        let ending = await ProcessRunner.run(argv, environment: Self.environment, timeout: .seconds(spec.timeout))
        let elapsed = ContinuousClock.now - started
        logger.debug("exec finished", metadata: [
            "device": "\(action.device.id)", "command": "\(action.command.name)", "program": "\(program)",
            "ending": "\(ending.summary)", "ms": "\(Int(elapsed / .milliseconds(1)))",
        ])

        switch ending {
        case .ended(.exited(0), _):
            return "exit 0"
        case let .ended(termination, output):
            let detail = output.firstErrorLine.map { ": \($0)" } ?? " (it wrote nothing to stderr)"
            throw DeviceError(.transport, "\(what): \(program) \(termination)\(detail)")
        case let .timedOut(output):
            let detail = output.firstErrorLine.map { " (stderr: \($0))" } ?? ""
            throw DeviceError(.transport, "\(what): \(program) did not finish within \(JSONValue.formatNumber(spec.timeout)) s and was killed with its process group\(detail); make it finish sooner or raise transport.timeout")
        case .cancelled:
            throw DeviceError(.transport, "\(what): cancelled while \(program) ran; it was killed with its process group")
        case let .spawnFailed(call, code):
            throw DeviceError(.transport, "\(what): cannot run \(program): \(Self.spawnAdvice(code))", cause: "\(call): \(String(cString: strerror(code)))")
        case let .waitFailed(code):
            throw DeviceError(.transport, "\(what): started \(program) but cannot learn how it ended (is SIGCHLD ignored in harkd?)", cause: "waitpid: \(String(cString: strerror(code)))")
        }
    }

    /// The rendered argv: one argument per catalog element, never split or joined.
    static func arguments(for action: ValidatedAction, spec: ExecSpec) throws(DeviceError) -> [String] {
        let what = "device '\(action.device.id)' \(action.command.name)"
        guard let templates = spec.argv[action.command.name] ?? spec.argv["default"], !templates.isEmpty else {
            throw DeviceError(.unavailable, "\(what): the catalog gives no argv for this command; add transport.argv or transport.commands.\(action.command.name)")
        }
        let values = action.templateValues
        var argv: [String] = []
        for (index, template) in templates.enumerated() {
            switch template.render(values) {
            case let .success(argument):
                // Validated values never hold NUL and the catalog refuses it, but C would cut the argument there.
                guard !argument.utf8.contains(0) else {
                    throw DeviceError(.transport, "\(what): refused: argv[\(index)] contains a NUL byte, which no program argument can carry")
                }
                argv.append(argument)
            case let .failure(missing):
                throw DeviceError(.transport, "\(what): argv[\(index)] uses {\(missing.name)}, which this command has no value for")
            }
        }
        guard argv[0].hasPrefix("/") else {
            throw DeviceError(.transport, "\(what): refused: argv[0] '\(CatalogReader.escaped(argv[0]))' is not an absolute path (there is no PATH search)")
        }
        return argv
    }

    private static func spawnAdvice(_ code: Int32) -> String {
        switch code {
        case ENOENT: "no such program (check argv[0] in the catalog; it must be an absolute path)"
        case EACCES: "permission denied (the program must be executable by harkd's user)"
        case ENOEXEC: "not an executable (a script needs a #! line)"
        default: String(cString: strerror(code))
        }
    }
}

extension ProcessRunner.Ending {
    /// For the debug log: how the run ended, without its output.
    var summary: String {
        switch self {
        case let .ended(termination, _): "\(termination)"
        case .timedOut: "timed out"
        case .cancelled: "cancelled"
        case let .spawnFailed(call, code): "\(call) failed: \(String(cString: strerror(code)))"
        case let .waitFailed(code): "waitpid failed: \(String(cString: strerror(code)))"
        }
    }
}
