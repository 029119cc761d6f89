#if canImport(Glibc)
import Glibc
#endif

/// The worker's side of the protocol: answers harkd's requests on stdin/stdout until `quit` or end
/// of input. A request it cannot serve gets an `error` with the request's id and the worker goes on;
/// a frame that breaks the protocol gets an `error` without an id and the worker exits (status 2).
public struct Stage2Server {
    public typealias Transcribe = ([Int16]) throws -> Stage2Message
    public typealias Generate = (Stage2Message) throws -> Stage2Message

    let channel: Stage2Channel

    /// Serves on `fd` (the worker's stdin, which is also its stdout: one end of a socket pair).
    public init(fd: Int32 = STDIN_FILENO) {
        channel = Stage2Channel(fd: dup(fd), source: "stage-2 worker's input")
    }

    /// Sends one message (`ready` after loading, or a fatal `error`).
    public func send(_ message: Stage2Message) throws(Stage2Error) {
        try channel.send(.message(message))
    }

    /// Serves until `quit` or end of input; returns the exit status.
    public func serve(transcribe: Transcribe, generate: Generate, prime: Generate) -> Int32 {
        while true {
            let frame: Stage2Frame
            do {
                frame = try channel.receive(until: .infinity)
            } catch {
                if error.code == .workerEnded { return 0 }
                fail(nil, error.message)
                return 2
            }
            guard case let .message(request) = frame else {
                fail(nil, "stage-2 worker: audio without a 'transcribe' request before it")
                return 2
            }
            var answer: Stage2Message
            switch request.op {
            case "quit":
                return 0
            case "transcribe":
                let audio: Stage2Frame
                do { audio = try channel.receive(until: .infinity) } catch {
                    fail(nil, error.message)
                    return 2
                }
                guard case let .audio(samples) = audio else {
                    fail(nil, "stage-2 worker: 'transcribe' request \(request.id ?? 0) without its audio frame")
                    return 2
                }
                do { answer = try transcribe(samples) } catch {
                    fail(request.id, "stage-2 worker: 'transcribe' failed: \(error)")
                    continue
                }
            case "generate", "prime":
                guard let prompt = request.prompt, !prompt.isEmpty else {
                    fail(request.id, "stage-2 worker: '\(request.op)' request without a prompt")
                    continue
                }
                do { answer = try request.op == "generate" ? generate(request) : prime(request) } catch {
                    fail(request.id, "stage-2 worker: '\(request.op)' failed: \(error)")
                    continue
                }
            default:
                fail(request.id, "stage-2 worker: unknown request '\(request.op)'")
                continue
            }
            answer.id = request.id
            do { try channel.send(.message(answer)) } catch { return 0 }
        }
    }

    private func fail(_ id: Int?, _ message: String) {
        var error = Stage2Message(op: "error", id: id)
        error.message = message
        try? channel.send(.message(error))
    }
}
