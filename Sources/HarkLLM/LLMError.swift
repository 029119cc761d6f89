/// The one error type of `HarkLLM`: a code that can grow, a one-line message saying what failed, on
/// what, and what to do, and an optional underlying cause.
public struct LLMError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case corruptModel, unsupportedModel, invalidArgument
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// A model file whose contents do not add up (a merge naming no token, ids outside the vocabulary).
        public static let corruptModel = Code(.corruptModel)
        /// A well-formed model Hark does not implement (another tokenizer, pre-tokenizer or architecture).
        public static let unsupportedModel = Code(.unsupportedModel)
        /// The caller passed something that does not fit (a token id outside the vocabulary).
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
