/// The one error type of `HarkControl`: a code that can grow, and a one-line message saying what
/// failed, on what, and what to do. Errors the daemon answers with carry their JSON-RPC 2.0 error
/// code (`rpcCode`); errors of the client side (no socket, a timeout, a reply that is not JSON-RPC)
/// never travel on the wire.
public struct ControlError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        /// The JSON-RPC `error.code`: -32700…-32600 are the specification's, -32099…-32000 ours.
        public let rpcCode: Int
        private init(_ name: String, _ rpcCode: Int) {
            self.name = name
            self.rpcCode = rpcCode
        }
        public var description: String { name }

        // JSON-RPC 2.0 §5.1.
        /// The line is not JSON.
        public static let parseError = Code("parse_error", -32700)
        /// JSON, but not a JSON-RPC 2.0 request object.
        public static let invalidRequest = Code("invalid_request", -32600)
        public static let methodNotFound = Code("method_not_found", -32601)
        public static let invalidParams = Code("invalid_params", -32602)
        public static let internalError = Code("internal_error", -32603)

        // Hark's own (the server-error range of JSON-RPC 2.0 §5.1).
        /// The peer's uid and groups (SO_PEERCRED) do not carry the role the method needs.
        public static let permissionDenied = Code("permission_denied", -32001)
        /// What the method needs is not running (no audio input, no device catalog).
        public static let unavailable = Code("unavailable", -32002)
        /// A line longer than the per-message limit.
        public static let messageTooLarge = Code("message_too_large", -32003)
        /// `config.reload` found a problem in the new files; the running configuration is unchanged.
        public static let reloadRefused = Code("reload_refused", -32004)
        /// harkd is stopping and takes no new requests.
        public static let shuttingDown = Code("shutting_down", -32005)
        /// The connection cap is reached and no idle connection could make room.
        public static let tooManyConnections = Code("too_many_connections", -32006)

        // The client side: never sent by the server.
        /// The socket cannot be reached (no such file, refused, no permission to connect).
        public static let unreachable = Code("unreachable", -32090)
        /// No reply in time.
        public static let timeout = Code("timeout", -32091)
        /// The daemon's reply is not JSON-RPC 2.0, or the connection dropped mid-reply.
        public static let protocolError = Code("protocol_error", -32092)
        /// The socket server itself could not be set up (bind, listen, epoll).
        public static let system = Code("system", -32093)

        static let all: [Code] = [.parseError, .invalidRequest, .methodNotFound, .invalidParams, .internalError,
                                  .permissionDenied, .unavailable, .messageTooLarge, .reloadRefused, .shuttingDown,
                                  .tooManyConnections, .unreachable, .timeout, .protocolError, .system]

        /// The code for an `error.code` received on the wire; unknown codes keep their number.
        public init(rpcCode: Int) {
            self = Self.all.first { $0.rpcCode == rpcCode } ?? Code("error_\(rpcCode)", rpcCode)
        }
    }

    public let code: Code
    public let message: String
    /// The errno of a failed system call, when that is the cause.
    public let systemErrorCode: Int32?

    public init(_ code: Code, _ message: String, systemErrorCode: Int32? = nil) {
        self.code = code
        self.message = message
        self.systemErrorCode = systemErrorCode
    }

    public var description: String { message }
}
