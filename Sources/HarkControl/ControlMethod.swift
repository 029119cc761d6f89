import HarkDevices

/// The methods of the control socket (one JSON-RPC 2.0 request per line) and the role each needs.
///
///     read     status, devices.list, devices.get, history, events.subscribe
///     control  actions.execute, say, listen, timers.list, config.reload
///
/// Root and harkd's own user hold every role; members of configured groups hold what the
/// configuration gives their group (``AccessPolicy``).
public enum ControlMethod: String, CaseIterable, Sendable {
    case status
    case devicesList = "devices.list"
    case devicesGet = "devices.get"
    case actionsExecute = "actions.execute"
    case say
    case listen
    case eventsSubscribe = "events.subscribe"
    case history
    case timersList = "timers.list"
    case configReload = "config.reload"

    public var role: Role {
        switch self {
        case .status, .devicesList, .devicesGet, .history, .eventsSubscribe: .read
        case .actionsExecute, .say, .listen, .timersList, .configReload: .control
        }
    }
}

/// What a peer may do on the socket.
public enum Role: String, CaseIterable, Sendable, Comparable {
    /// status, devices, history, events.
    case read
    /// actions, say, listen, timers, reload.
    case control

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The kernel's word on who is at the other end of a connection: `SO_PEERCRED` (pid, uid, primary
/// gid) and `SO_PEERGROUPS` (supplementary groups), both taken when the peer called `connect`.
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    public let pid: Int32
    public let uid: UInt32
    public let gid: UInt32
    public let groups: [UInt32]

    public init(pid: Int32, uid: UInt32, gid: UInt32, groups: [UInt32] = []) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    public var description: String { "pid \(pid) uid \(uid) gid \(gid)" }
}

/// Who gets which roles: identity comes only from the socket's peer credentials, never from anything
/// the peer says.
public struct AccessPolicy: Sendable, Equatable {
    /// Users with every role: root and the user harkd runs as.
    public var fullAccessUIDs: Set<UInt32>
    /// Group id → the roles its members get (primary or supplementary group).
    public var groupRoles: [UInt32: Set<Role>]

    public init(fullAccessUIDs: Set<UInt32>, groupRoles: [UInt32: Set<Role>] = [:]) {
        self.fullAccessUIDs = fullAccessUIDs
        self.groupRoles = groupRoles
    }

    public func roles(for peer: PeerCredentials) -> Set<Role> {
        if fullAccessUIDs.contains(peer.uid) { return Set(Role.allCases) }
        var roles = Set<Role>()
        for gid in [peer.gid] + peer.groups { roles.formUnion(groupRoles[gid] ?? []) }
        return roles
    }
}

/// One request for the daemon's handler: the method, its named parameters and who asked. The
/// helpers read a parameter or throw the `invalid_params` error that names it.
public struct ControlRequest: Sendable {
    public let method: ControlMethod
    public let params: [String: JSONValue]
    public let peer: PeerCredentials

    public init(method: ControlMethod, params: [String: JSONValue] = [:], peer: PeerCredentials) {
        self.method = method
        self.params = params
        self.peer = peer
    }

    /// Refuses parameters the method does not take.
    public func allow(_ names: Set<String>) throws(ControlError) {
        if let extra = params.keys.sorted().first(where: { !names.contains($0) }) {
            let takes = names.isEmpty ? "no parameters" : names.sorted().joined(separator: ", ")
            throw ControlError(.invalidParams, "\(method.rawValue): unknown parameter '\(Wire.shown(extra))' (it takes \(takes))")
        }
    }

    /// A string without control characters, at most `maxBytes` of UTF-8.
    public func string(_ name: String, required: Bool = false, maxBytes: Int = 1024) throws(ControlError) -> String? {
        guard let value = params[name], value != .null else {
            if required { throw ControlError(.invalidParams, "\(method.rawValue): missing parameter '\(name)' (a string)") }
            return nil
        }
        guard case let .string(text) = value else {
            throw ControlError(.invalidParams, "\(method.rawValue): '\(name)' must be a string")
        }
        guard text.utf8.count <= maxBytes else {
            throw ControlError(.invalidParams, "\(method.rawValue): '\(name)' is \(text.utf8.count) bytes; at most \(maxBytes)")
        }
        guard !Wire.hasControlCharacters(text) else {
            throw ControlError(.invalidParams, "\(method.rawValue): '\(name)' contains control characters, which are refused")
        }
        return text
    }

    /// A whole number within `range`.
    public func integer(_ name: String, in range: ClosedRange<Int>) throws(ControlError) -> Int? {
        guard let value = params[name], value != .null else { return nil }
        guard case let .number(number) = value, number == number.rounded(), Double(range.lowerBound)...Double(range.upperBound) ~= number else {
            throw ControlError(.invalidParams, "\(method.rawValue): '\(name)' must be a whole number \(range.lowerBound)–\(range.upperBound)")
        }
        return Int(number)
    }

    /// A number (seconds since 1970, for instance).
    public func number(_ name: String) throws(ControlError) -> Double? {
        guard let value = params[name], value != .null else { return nil }
        guard case let .number(number) = value, number.isFinite else {
            throw ControlError(.invalidParams, "\(method.rawValue): '\(name)' must be a number")
        }
        return number
    }

    public func bool(_ name: String) throws(ControlError) -> Bool? {
        guard let value = params[name], value != .null else { return nil }
        guard case let .bool(flag) = value else { throw ControlError(.invalidParams, "\(method.rawValue): '\(name)' must be true or false") }
        return flag
    }
}
