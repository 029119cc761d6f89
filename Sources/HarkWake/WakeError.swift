/// The one error type of `HarkWake`: a code that can grow, a one-line message saying what failed,
/// on what, and what to do, and an optional underlying cause.
public struct WakeError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case fileUnreadable, notOnnx, unsupportedModel, unsupportedOperator, invalidGraph, shapeMismatch, invalidArgument
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }
        /// The model file could not be read (missing, permissions, too large).
        public static let fileUnreadable = Code(.fileUnreadable)
        /// The file is not a well-formed ONNX protobuf (truncated or corrupt).
        public static let notOnnx = Code(.notOnnx)
        /// The model is valid ONNX but uses something Hark does not implement (opset, data type, attribute).
        public static let unsupportedModel = Code(.unsupportedModel)
        /// A node uses an operator Hark does not implement.
        public static let unsupportedOperator = Code(.unsupportedOperator)
        /// The graph is malformed: undefined inputs, bad tensors, missing attributes.
        public static let invalidGraph = Code(.invalidGraph)
        /// Shapes do not fit together.
        public static let shapeMismatch = Code(.shapeMismatch)
        /// The caller passed something that does not fit the model.
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

/// A problem found inside one operator; the planner turns it into a `WakeError` naming file and node.
struct OpError: Error {
    let code: WakeError.Code
    let message: String
    init(_ code: WakeError.Code = .invalidGraph, _ message: String) {
        self.code = code
        self.message = message
    }
}
