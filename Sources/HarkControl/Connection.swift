/// One client connection, owned by the loop thread: its buffers, its rate-limit tokens and what it
/// is doing. Only the loop thread touches it.
final class Connection {
    let id: UInt64
    let fd: Int32
    let peer: PeerCredentials
    /// Bytes received and not yet taken as lines, from `inputStart`.
    var input: [UInt8] = []
    var inputStart = 0
    /// Where the search for the next newline resumes (bytes before it hold none).
    var scanFrom = 0
    /// Inside a line that was too long: bytes are dropped up to its newline.
    var discarding = false
    /// Bytes to send, from `outputStart`.
    var output: [UInt8] = []
    var outputStart = 0
    /// A request of this connection is with the handler; later lines wait.
    var busy = false
    /// The peer shut down its sending side: answer what it sent, then close.
    var readClosed = false
    /// nil: not subscribed; empty: every event type.
    var subscription: Set<String>?
    var tokens: Double
    var refilledAt: Double
    var lastActivity: Double
    /// The epoll events registered for it.
    var interest: UInt32 = 0
    var refusalLogged = false
    /// Requests it sent that were well-formed and allowed: a connection that has sent none yet
    /// (idle since connect, or only garbage) is the first to go when room is needed.
    var validRequests = 0

    init(id: UInt64, fd: Int32, peer: PeerCredentials, tokens: Double, now: Double) {
        self.id = id
        self.fd = fd
        self.peer = peer
        self.tokens = tokens
        refilledAt = now
        lastActivity = now
    }

    var pendingOutput: Int { output.count - outputStart }
    var bufferedInput: Int { input.count - inputStart }

    /// Adds tokens for the time since the last refill (a token bucket of `burst` tokens filling at `rate`).
    func refill(now: Double, rate: Double, burst: Double) {
        tokens = min(burst, tokens + (now - refilledAt) * rate)
        refilledAt = now
    }

    /// Seconds until a whole token is available.
    func secondsUntilToken(rate: Double) -> Double { tokens >= 1 ? 0 : (1 - tokens) / rate }

    func append(_ line: String) {
        output.append(contentsOf: line.utf8)
        output.append(UInt8(ascii: "\n"))
    }

    /// Drops consumed input from the front of the buffer (amortised: only when it is most of it).
    func compactInput() {
        guard inputStart > 0 else { return }
        if inputStart == input.count {
            input.removeAll(keepingCapacity: input.capacity <= 1 << 17)
            scanFrom = 0
        } else if inputStart >= input.count / 2 {
            input.removeSubrange(0..<inputStart)
            scanFrom -= inputStart
        } else {
            return
        }
        inputStart = 0
    }

    func compactOutput() {
        if outputStart == output.count {
            output.removeAll(keepingCapacity: output.capacity <= 1 << 16)
            outputStart = 0
        } else if outputStart >= 1 << 16 {
            output.removeSubrange(0..<outputStart)
            outputStart = 0
        }
    }
}
