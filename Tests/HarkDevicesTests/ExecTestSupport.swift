#if canImport(Glibc)
import Glibc
#endif
import HarkTestSupport
import Logging
import Testing
@testable import HarkDevices

/// A fresh directory under /tmp for one test, removed with everything in it by `remove()`.
struct TransportTestDirectory {
    let path: String

    init() {
        path = makeTemporaryDirectory("hark-transport")
    }

    func file(_ name: String) -> String { path + "/" + name }

    /// Writes `contents` to `name` (created or replaced) with `mode`.
    func write(_ name: String, _ contents: String, mode: mode_t = 0o644) throws {
        let fd = open(file(name), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        try #require(fd >= 0, "open \(name): \(String(cString: strerror(errno)))")
        defer { close(fd) }
        let bytes = Array(contents.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        try #require(written == bytes.count)
        try #require(fchmod(fd, mode) == 0)
    }

    /// A /bin/sh script named `name`, executable.
    func script(_ name: String, _ body: String) throws -> String {
        try write(name, "#!/bin/sh\n" + body + "\n", mode: 0o755)
        return file(name)
    }

    /// The bytes of `name`, or nil if it cannot be read.
    func read(_ name: String) -> [UInt8]? {
        let fd = open(file(name), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return n == 0 ? bytes : nil }
            bytes += chunk[..<n]
        }
    }

    func text(_ name: String) -> String? { read(name).map { String(decoding: $0, as: UTF8.self) } }

    /// The names in the directory, sorted.
    func entries() -> [String] { Self.entries(of: path) }

    func remove() { Self.remove(path) }

    private static func entries(of path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    private static func remove(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            for name in entries(of: path) { remove(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

/// Helpers shared by the exec, file and Home Assistant transport tests (a namespace, so their names
/// cannot meet other tests' helpers in this target).
enum TransportTesting {
    /// A logger that drops everything.
    static let quietLogger = Logger(label: "hark.test.transport", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Whether process `pid` has ended: gone, or a zombie nobody has reaped yet (a container's init may not).
    static func processEnded(_ pid: pid_t) -> Bool {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return true }
        // "pid (comm) S ...": the state follows the last ')'.
        let text = String(decoding: buffer[..<n], as: UTF8.self)
        guard let paren = text.lastIndex(of: ")") else { return true }
        let state = text[text.index(after: paren)...].drop { $0 == " " }.first
        return state == "Z" || state == "X"
    }

    /// The action validated against `catalog`; fails the test if it is not valid.
    static func validated(_ catalog: Catalog, _ device: String, _ command: String, _ args: [String: JSONValue] = [:]) throws -> ValidatedAction {
        try Validator(catalog: catalog).validate(Action(device: device, command: command, args: args))
    }

    /// Runs `body` expecting a `DeviceError`, and returns it.
    static func deviceError(_ body: () async throws -> String) async -> DeviceError? {
        do {
            let receipt = try await body()
            Issue.record("expected a DeviceError, got the receipt '\(receipt)'")
            return nil
        } catch let error as DeviceError {
            return error
        } catch {
            Issue.record("expected a DeviceError, got \(error)")
            return nil
        }
    }
}
