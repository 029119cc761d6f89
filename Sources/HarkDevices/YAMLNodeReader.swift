#if canImport(Glibc)
import Glibc
#endif
import Yams

/// Reading YAML files (the catalog, the daemon's configuration) node by node, so that every problem is
/// one line naming the file, the line and the entry: `devices/home.yaml:14: device 'lamp': unknown key 'colour'`.
/// Scalars are read as text and converted here, never by YAML 1.1's implicit typing (`on` is not `true`).
public protocol YAMLNodeReader {
    /// The file's name as errors show it.
    var file: String { get }
}

extension YAMLNodeReader {
    /// Reads the whole file as UTF-8 (at most 4 MiB); `what` names it in errors ("the device catalog").
    public func readFile(what: String) throws(DeviceError) -> String {
        let limit = 4 << 20
        let bytes: [UInt8]
        do throws(BoundedFile.Failure) { bytes = try BoundedFile.read(file, limit: limit) }
        catch .tooLarge { throw DeviceError(.catalog, "\(file): larger than 4 MiB") }
        catch { throw DeviceError(.catalog, "cannot read \(what) '\(file)': \(String(cString: strerror(error.code ?? EIO)))") }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw DeviceError(.catalog, "\(file): not valid UTF-8")
        }
        return text
    }

    /// The document's root node, or nil for an empty document.
    public func compose(_ yaml: String) throws(DeviceError) -> Node? {
        do { return try Yams.compose(yaml: yaml) }
        catch let error as YamlError { throw DeviceError(.catalog, "\(file): not valid YAML: \(Self.describe(error))") }
        catch { throw DeviceError(.catalog, "\(file): not valid YAML: \(error)") }
    }

    /// A mapping's keys and values; `allowed` rejects unknown keys (typos), duplicates are always rejected.
    public func fields(_ node: Node, _ what: String, allowed: Set<String>? = nil) throws(DeviceError) -> [String: Node] {
        try readMapping(node, what, allowed: allowed).fields
    }

    /// A mapping's pairs in file order.
    public func pairs(_ node: Node, _ what: String) throws(DeviceError) -> [(String, Node)] {
        try readMapping(node, what, allowed: nil).pairs
    }

    private func readMapping(_ node: Node, _ what: String, allowed: Set<String>?) throws(DeviceError) -> (pairs: [(String, Node)], fields: [String: Node]) {
        guard case let .mapping(map) = node else { throw error(node, what, "expected a mapping of key: value") }
        var pairs: [(String, Node)] = []
        var fields: [String: Node] = [:]
        for (keyNode, value) in map {
            let key = try scalar(keyNode, what)
            if fields[key] != nil { throw error(keyNode, what, "duplicate key '\(key)'") }
            if let allowed, !allowed.contains(key) {
                throw error(keyNode, what, "unknown key '\(key)' (expected \(allowed.sorted().joined(separator: ", ")))")
            }
            fields[key] = value
            pairs.append((key, value))
        }
        return (pairs, fields)
    }

    public func sequence(_ node: Node, _ what: String) throws(DeviceError) -> [Node] {
        guard case let .sequence(items) = node else { throw error(node, what, "expected a list, e.g. [a, b]") }
        return Array(items)
    }

    public func scalar(_ node: Node, _ what: String) throws(DeviceError) -> String {
        guard case let .scalar(value) = node else { throw error(node, what, "expected a single value, not a list or mapping") }
        return value.string
    }

    public func number(_ node: Node, _ what: String) throws(DeviceError) -> Double {
        let text = try scalar(node, what)
        guard let value = Double(text), value.isFinite else { throw error(node, what, "expected a number, got '\(Self.escaped(text))'") }
        return value
    }

    public func bool(_ node: Node, _ what: String) throws(DeviceError) -> Bool {
        switch try scalar(node, what) {
        case "true": return true
        case "false": return false
        case let text: throw error(node, what, "expected true or false, got '\(Self.escaped(text))'")
        }
    }

    public func origin(_ node: Node) -> String { node.mark.map { "\(file):\($0.line)" } ?? file }

    public func error(_ node: Node, _ what: String, _ problem: String) -> DeviceError {
        DeviceError(.catalog, "\(origin(node)): \(what): \(problem)")
    }

    public static func hasControl(_ text: String) -> Bool { text.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f } }

    /// Control characters shown as escapes, so a message stays on one line.
    public static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f { out += "\\x" + String(scalar.value, radix: 16) } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    static func describe(_ error: YamlError) -> String {
        "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
    }
}
