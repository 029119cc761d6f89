/// What went wrong between harkd and its stage-2 worker, with a one-line message naming what and where.
public struct Stage2Error: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        /// A frame that breaks the protocol (length over the limit, unknown kind, bad JSON).
        case badFrame = "bad_frame"
        /// The worker could not be started (posix_spawn, pipes).
        case spawnFailed = "spawn_failed"
        /// The worker ended (crashed, killed, or exited) while a request was outstanding.
        case workerEnded = "worker_ended"
        /// The worker did not answer within the request's time limit (it is then killed).
        case timedOut = "timed_out"
        /// The worker answered with an error (a model file it cannot load, a request it refuses).
        case workerError = "worker_error"
        /// A request that cannot be made as asked (an action grammar without devices, say).
        case invalidRequest = "invalid_request"
        /// A read or write on the pipes failed.
        case io
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
