/// The one error type of `HarkDevices`: a code that can grow, a one-line message saying what failed,
/// on what, and what to do, and the underlying cause where there is one.
public struct DeviceError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The catalog file cannot be read or parsed, or an entry is wrong.
        public static let catalog = Code("catalog")
        /// An action is not shaped like one (not an object, missing device or command).
        public static let invalidAction = Code("invalid_action")
        /// The device does not exist in the catalog.
        public static let unknownDevice = Code("unknown_device")
        /// The command is not one of the device type's commands.
        public static let unknownCommand = Code("unknown_command")
        /// An argument is missing, of the wrong type, out of range or not expected.
        public static let badArgument = Code("bad_argument")
        /// A transport could not deliver the action (broker down, exit status, HTTP error, timeout).
        public static let transport = Code("transport")
        /// The transport needed by a device is not configured or not running.
        public static let unavailable = Code("unavailable")
        /// A state message from a device could not be understood.
        public static let badState = Code("bad_state")
    }

    public let code: Code
    public let message: String
    public let cause: String?

    public init(_ code: Code, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { cause.map { "\(message) (\($0))" } ?? message }
}
