/// The one error type of `HarkWhisper`: a code that can grow, a one-line message saying what failed,
/// on what, and what to do, and an optional underlying cause.
public struct WhisperError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case fileUnreadable, corruptModel, unsupportedModel, invalidArgument
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// A model file could not be read (missing, permissions, not a regular file, too large).
        public static let fileUnreadable = Code(.fileUnreadable)
        /// A model file is malformed: truncated, sizes that do not add up, bad names, bad JSON.
        public static let corruptModel = Code(.corruptModel)
        /// A well-formed model that is not the Whisper Hark implements (other dimensions, data types).
        public static let unsupportedModel = Code(.unsupportedModel)
        /// The caller passed something that does not fit (empty grammar, bad audio).
        public static let invalidArgument = Code(.invalidArgument)
        public var description: String { "\(value)" }
    }

    public let code: Code
    public let message: String
    public let underlying: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, underlying: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }
}
