#if canImport(Glibc)
import Glibc
#endif
import HarkDevices
import HarkPower
import Logging
import Yams

/// Board profiles from `devices/boards/NAME.yaml` (installed under share/hark/boards):
///
///     name: Raspberry Pi Zero 2 W
///     idle_mw: 600          # the whole board, idle (each figure with its public source in a comment)
///     busy_core_mw: 410     # one core fully busy, above idle
///     speed: 0.35           # single-core speed, Raspberry Pi 4 = 1.0
///     cores: 4
///
/// A board without a profile falls back to ``BoardProfile/generic`` with a warning; a profile that
/// exists but is wrong is an error naming the file, the line and the key.
public enum BoardProfiles {
    /// A board name: lower-case letters, digits, dots and dashes (it names a file).
    public static func isName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, text.utf8.count <= 64 else { return false }
        return (first.properties.isLowercase || ("0"..."9").contains(first))
            && text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "." }
    }

    /// The profile `name` in `directory`; nil when there is no such file.
    public static func load(_ name: String, directory: String) throws(DaemonError) -> BoardProfile? {
        guard isName(name) else { throw DaemonError("'\(name)' is not a board name") }
        let path = "\(directory)/\(name).yaml"
        guard access(path, F_OK) == 0 else { return nil }
        do {
            let reader = ProfileReader(file: path)
            return try reader.read(try reader.readFile(what: "the board profile"), id: name)
        } catch let error as DeviceError {
            throw DaemonError(error.message)
        } catch {
            throw DaemonError("\(path): \(error)")
        }
    }

    /// The profile `name`, else the generic one with a warning naming what was looked for.
    public static func resolve(_ name: String?, directory: String, role: String, logger: Logger) throws(DaemonError) -> BoardProfile {
        guard let name else { return .generic }
        if let profile = try load(name, directory: directory) { return profile }
        logger.warning("unknown board '\(name)' (no \(directory)/\(name).yaml): the \(role) uses the generic profile (Pi-Zero-2-class figures, README: Power)")
        return .generic
    }

    /// Every profile in `directory`, sorted by name.
    public static func all(directory: String) throws(DaemonError) -> [BoardProfile] {
        guard let dir = opendir(directory) else {
            throw DaemonError("cannot list the board profiles in '\(directory)': \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name.hasSuffix(".yaml") { names.append(String(name.dropLast(5))) }
        }
        var profiles: [BoardProfile] = []
        for name in names.sorted() where isName(name) {
            if let profile = try load(name, directory: directory) { profiles.append(profile) }
        }
        return profiles
    }
}

struct ProfileReader: YAMLNodeReader {
    let file: String

    func read(_ yaml: String, id: String) throws -> BoardProfile {
        guard let root = try compose(yaml) else { throw DeviceError(.catalog, "\(file): empty board profile") }
        let top = try fields(root, "the board profile", allowed: ["name", "idle_mw", "busy_core_mw", "speed", "cores"])
        func required(_ key: String) throws(DeviceError) -> Node {
            guard let node = top[key] else { throw DeviceError(.catalog, "\(file): \(key) is missing (README: Power lists the keys)") }
            return node
        }
        // In the order of the file's keys, so the first missing one is named.
        let name = try scalar(try required("name"), "name")
        let idle = try number(try required("idle_mw"), "idle_mw")
        let busy = try number(try required("busy_core_mw"), "busy_core_mw")
        let speed = try number(try required("speed"), "speed")
        let cores = try number(try required("cores"), "cores")
        guard cores == cores.rounded(), cores >= 1, cores <= 256 else { throw error(try required("cores"), "cores", "must be a whole number 1–256") }
        let profile = BoardProfile(id: id, name: name, idleMilliwatts: idle, busyCoreMilliwatts: busy, speed: speed, cores: Int(cores))
        do throws(PowerError) { return try profile.validated(source: file) } catch { throw DeviceError(.catalog, error.message) }
    }
}

/// The `power:` settings, resolved.
public struct PowerSettings: Sendable, Equatable {
    /// The board the estimate is for; nil: the generic profile.
    public var board: String?
    /// The machine harkd runs on, when it is not the board; nil: the board itself.
    public var host: String?
    public var budgetMilliwatts: Double?
    public var boards = "devices/boards"
    public init() {}
}
