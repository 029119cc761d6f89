#if canImport(Glibc)
import Glibc
#endif

/// The `file` transport: writes a value to the one path the catalog declares for a device, as
/// `echo 40 > /sys/class/leds/led0/brightness` would, without a shell.
///
/// The path is opened `O_WRONLY | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC`:
/// - no `O_CREAT`: sysfs attributes exist or the driver is missing; nothing is ever created;
/// - `O_NOFOLLOW`: a symbolic link in place of the file is refused (links in the directories above,
///   such as /sys/class/leds/led0, are followed as usual);
/// - `O_NONBLOCK`: a FIFO without a reader fails at once instead of blocking the caller; the file
///   must then be a regular file (sysfs attributes are), so FIFOs and device nodes are refused;
/// - `O_TRUNC`: a regular file holds exactly the value afterwards (sysfs ignores it).
/// The value is written whole (short writes continued, EINTR retried) with no newline added.
///
/// These calls take microseconds on sysfs and are made on the caller's thread.
///
/// Receipt: "wrote N bytes".
public struct FileTransport: Transport {
    public let serves: Set<String> = ["file"]

    public init() {}

    public func perform(_ action: ValidatedAction) async throws -> String {
        try write(action)
    }

    private func write(_ action: ValidatedAction) throws(DeviceError) -> String {
        let what = "device '\(action.device.id)' \(action.command.name)"
        guard case let .file(spec) = action.device.transport else {
            throw DeviceError(.unavailable, "\(what): the file transport was given a device reached via \(action.device.transport.via)")
        }
        let value = try Self.value(for: action, spec: spec)
        try Self.write(value, to: spec.path, what: what)
        return "wrote \(value.utf8.count) bytes"
    }

    /// The rendered value; control characters (newline and NUL included) are refused.
    static func value(for action: ValidatedAction, spec: FileSpec) throws(DeviceError) -> String {
        let what = "device '\(action.device.id)' \(action.command.name)"
        guard let template = spec.values[action.command.name] else {
            throw DeviceError(.unavailable, "\(what): the catalog gives no value for this command; add transport.values.\(action.command.name)")
        }
        switch template.render(action.templateValues) {
        case let .success(value):
            // The catalog refuses these in templates and validated values have none; checked again
            // because a newline or NUL would let one write carry a second value.
            guard !CatalogReader.hasControl(value) else {
                throw DeviceError(.transport, "\(what): refused to write '\(CatalogReader.escaped(value))' to \(spec.path): it contains control characters")
            }
            return value
        case let .failure(missing):
            throw DeviceError(.transport, "\(what): transport.values.\(action.command.name) uses {\(missing.name)}, which this command has no value for")
        }
    }

    static func write(_ value: String, to path: String, what: String) throws(DeviceError) {
        let fd = try call("open", path: path, what: what) {
            open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        }
        var closed = false
        defer { if !closed { close(fd) } }

        var info = stat()
        try call("fstat", path: path, what: what) { fstat(fd, &info) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw DeviceError(.transport, "\(what): refused to write to \(path): it is not a regular file (a FIFO, device or socket); point transport.path at a file such as a sysfs attribute")
        }

        let bytes = Array(value.utf8)
        var done = 0
        while done < bytes.count {
            let n = try call("write", path: path, what: what) {
                bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            }
            // write never returns 0 for a non-empty regular-file write; guard against a loop anyway.
            guard n > 0 else { throw DeviceError(.transport, "\(what): writing to \(path) made no progress (\(done) of \(bytes.count) bytes written)") }
            done += n
        }

        closed = true
        // Some drivers report a rejected value only when the file is closed.
        try call("close", path: path, what: what, retryOnEINTR: false) { close(fd) }
    }

    /// Runs one POSIX call that fails with -1 and errno: EINTR is retried (not for close, whose
    /// descriptor is gone either way on Linux), anything else becomes a `DeviceError` naming the
    /// call, the path and errno's text, with advice for the usual causes.
    @discardableResult
    private static func call<Result: BinaryInteger>(
        _ function: String, path: String, what: String, retryOnEINTR: Bool = true, _ body: () -> Result
    ) throws(DeviceError) -> Result {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR && retryOnEINTR { continue }
            let cause = "\(function): \(String(cString: strerror(code)))"
            switch (function, code) {
            case ("open", ENOENT):
                throw DeviceError(.transport, "\(what): \(path) does not exist (is the driver loaded? the file transport never creates files)", cause: cause)
            case ("open", ELOOP):
                throw DeviceError(.transport, "\(what): refused to write to \(path): it is a symbolic link, which the file transport does not follow; point transport.path at the file itself", cause: cause)
            case ("open", ENXIO):
                throw DeviceError(.transport, "\(what): refused to write to \(path): it is a FIFO or device nobody is reading", cause: cause)
            case ("open", EACCES), ("open", EPERM):
                throw DeviceError(.transport, "\(what): no permission to write \(path) (give harkd's user write access, e.g. with a udev rule)", cause: cause)
            case ("open", EISDIR):
                throw DeviceError(.transport, "\(what): \(path) is a directory; transport.path must name a file", cause: cause)
            default:
                throw DeviceError(.transport, "\(what): cannot write '\(path)'", cause: cause)
            }
        }
    }
}
