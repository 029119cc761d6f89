/// The one error type of `HarkPower`: a code that can grow, a one-line message saying what failed,
/// on what, and what to do, and the underlying cause where there is one.
public struct PowerError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// A CPU clock could not be read (`clock_gettime`, `pthread_getcpuclockid`).
        public static let clock = Code("clock")
        /// A board profile is missing a figure or has one out of range.
        public static let profile = Code("profile")
        /// A power setting is out of range (a negative budget).
        public static let configuration = Code("configuration")
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
