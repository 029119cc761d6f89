/// The one error type of `HarkGGUF`: a code that can grow, a one-line message saying what failed,
/// on what, and what to do, and an optional underlying cause.
public struct GGUFError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case fileUnreadable, corrupt, unsupported, missingKey, wrongType, missingTensor, inconsistentModel
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// The file could not be opened, inspected or mapped (missing, permissions, not a regular file).
        public static let fileUnreadable = Code(.fileUnreadable)
        /// The bytes break the GGUF format: truncated, counts or sizes that do not fit, bad offsets,
        /// duplicate names, invalid UTF-8.
        public static let corrupt = Code(.corrupt)
        /// Well-formed, but something Hark does not read: another GGUF version, big-endian, a tensor
        /// type Hark does not compute.
        public static let unsupported = Code(.unsupported)
        /// A metadata key the caller requires is absent.
        public static let missingKey = Code(.missingKey)
        /// A metadata value is present but of another type, or does not fit the type asked for.
        public static let wrongType = Code(.wrongType)
        /// A tensor the architecture requires is absent.
        public static let missingTensor = Code(.missingTensor)
        /// The header's figures disagree with each other or with the tensors (layer count, heads,
        /// vocabulary, experts, shapes).
        public static let inconsistentModel = Code(.inconsistentModel)
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
