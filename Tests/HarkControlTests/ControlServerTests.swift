import Foundation
import HarkControl
import HarkDevices
import HarkTestSupport
import Logging
import Testing

/// The socket server on its own, in this process, with a small handler: framing, JSON-RPC errors,
/// roles from the real peer credentials, limits, subscribers and shutdown.
@Suite struct ControlServerTests {
    struct Handler: ControlHandler {
        func handle(_ request: ControlRequest) async throws(ControlError) -> JSONValue {
            switch request.method {
            case .status:
                return .object(["ok": .bool(true)])
            case .say:
                try request.allow(["text", "dry_run"])
                return .string(try request.string("text", required: true)!)
            case .listen:
                // A slow method: shutdown must wait for it.
                try? await Task.sleep(for: .milliseconds(400))
                return .object(["finished": .bool(true)])
            default:
                throw ControlError(.unavailable, "\(request.method.rawValue) is not part of this test")
            }
        }
    }

    final class Server: Sendable {
        let directory = makeTemporaryDirectory("hark-control-server")
        var path: String { directory + "/control.sock" }
        let server: ControlServer

        init(policy: AccessPolicy = AccessPolicy(fullAccessUIDs: [0, geteuid()]), configure: (inout ControlServer.Configuration) -> Void = { _ in }) throws {
            var configuration = ControlServer.Configuration(path: directory + "/control.sock")
            configure(&configuration)
            server = try ControlServer(configuration: configuration, policy: policy, handler: Handler(), logger: Logger(label: "test"))
            try server.start()
        }

        func client(timeout: Double = 10) throws -> ControlClient { try ControlClient(path: path, timeout: timeout) }

        func stop() async {
            await server.shutdown()
            rmdir(directory)
        }
    }

    /// Sends `line` and returns the answer's error code (nil for a result).
    static func errorCode(_ client: ControlClient, _ bytes: [UInt8]) throws -> Int? {
        try client.send(bytes: bytes)
        let answer = try #require(try client.readMessage(timeout: 10))
        return answer["error"]?["code"]?.numberValue.map { Int($0) }
    }

    @Test func givenAClient_whenItCallsAMethod_thenTheAnswerCarriesItsIDAndResult() async throws {
        let server = try Server()
        try await offThePool {
            let client = try server.client()
            try client.send(line: #"{"jsonrpc":"2.0","id":"abc","method":"say","params":{"text":"hello"}}"#)
            let answer = try #require(try client.readLine(timeout: 10))
            #expect(answer == #"{"jsonrpc":"2.0","id":"abc","result":"hello"}"#)
            #expect(try client.call("status")["ok"] == .bool(true))
        }
        await server.stop()
    }

    @Test func givenMalformedLines_whenSent_thenEachGetsTheRightJSONRPCErrorAndTheConnectionStaysUsable() async throws {
        let server = try Server()
        try await offThePool {
            let client = try server.client()
            let cases: [(String, [UInt8], Int)] = [
                ("not JSON", Array("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\n".utf8), -32700),
                ("invalid UTF-8", [0x7B, 0xFF, 0xFE, 0x7D, 0x0A], -32700),
                ("NUL bytes", [0x7B, 0x00, 0x22, 0x7D, 0x0A], -32700),
                ("deep nesting", Array((String(repeating: "[", count: 20_000) + "\n").utf8), -32700),
                ("a number, not a request", Array("42\n".utf8), -32600),
                ("no jsonrpc member", Array(#"{"id":1,"method":"status"}"#.utf8) + [0x0A], -32600),
                ("an object as id", Array(#"{"jsonrpc":"2.0","id":{},"method":"status"}"#.utf8) + [0x0A], -32600),
                ("unknown method", Array(#"{"jsonrpc":"2.0","id":1,"method":"rm -rf /"}"#.utf8) + [0x0A], -32601),
                ("positional params", Array(#"{"jsonrpc":"2.0","id":1,"method":"say","params":["x"]}"#.utf8) + [0x0A], -32602),
                ("unknown parameter", Array(#"{"jsonrpc":"2.0","id":1,"method":"say","params":{"text":"x","shell":"sh"}}"#.utf8) + [0x0A], -32602),
                ("control characters", Array(#"{"jsonrpc":"2.0","id":1,"method":"say","params":{"text":"a\u001b[2Jb"}}"#.utf8) + [0x0A], -32602),
                ("empty batch", Array("[]\n".utf8), -32600),
            ]
            for (name, bytes, code) in cases {
                #expect(try Self.errorCode(client, bytes) == code, "\(name)")
            }
            #expect(try client.call("status")["ok"] == .bool(true))
        }
        await server.stop()
    }

    @Test func givenALineOverTheLimit_whenSent_thenItIsAnsweredTooLargeAndTheNextLineWorks() async throws {
        let server = try Server()
        try await offThePool {
            let client = try server.client()
            // 100 KiB with its newline, then 300 KiB that arrives without one before the next request.
            let long = Array(#"{"jsonrpc":"2.0","id":1,"method":"say","params":{"text":""#.utf8) + [UInt8](repeating: 0x61, count: 100_000) + Array("\"}}\n".utf8)
            #expect(try Self.errorCode(client, long) == -32003)
            try client.send(bytes: [UInt8](repeating: 0x20, count: 300_000))
            let answer = try #require(try client.readMessage(timeout: 10))
            #expect(answer["error"]?["code"] == .number(-32003))
            try client.send(bytes: Array("\n".utf8))
            #expect(try client.call("say", ["text": .string("still here")]) == .string("still here"))
        }
        await server.stop()
    }

    /// `echo '…' | socat - UNIX-CONNECT:…` sends, shuts down its sending side and waits: every
    /// request is answered (an unterminated last line too), then the server closes.
    @Test func givenAClientThatHalfCloses_whenItWaits_thenEveryRequestIsAnsweredAndTheConnectionEnds() async throws {
        let server = try Server()
        try await offThePool {
            let client = try server.client()
            try client.send(bytes: Array(#"{"jsonrpc":"2.0","id":1,"method":"status"}"#.utf8) + [0x0A] + Array(#"{"jsonrpc":"2.0","id":2,"method":"say","params":{"text":"last"}}"#.utf8))
            client.finishSending()
            #expect(try client.readMessage(timeout: 5)?["id"] == .number(1))
            #expect(try client.readMessage(timeout: 5)?["result"] == .string("last"))
            #expect(try client.readLine(timeout: 5) == nil)
        }
        await server.stop()
    }

    @Test func givenNotificationsAndABatch_whenSent_thenOnlyRequestsWithAnIDAreAnswered() async throws {
        let server = try Server()
        try await offThePool {
            let client = try server.client()
            try client.send(line: #"{"jsonrpc":"2.0","method":"say","params":{"text":"no answer"}}"#)
            try client.send(line: #"{"jsonrpc":"2.0","method":"nosuch"}"#)
            try client.send(line: #"[{"jsonrpc":"2.0","id":1,"method":"say","params":{"text":"a"}},{"jsonrpc":"2.0","method":"status"},{"jsonrpc":"2.0","id":2,"method":"nosuch"}]"#)
            let answer = try #require(try client.readMessage(timeout: 10))
            let items = answer.items
            #expect(items.count == 2, "\(answer)")
            #expect(items.first?["result"] == .string("a"))
            #expect(items.last?["error"]?["code"] == .number(-32601) && items.last?["id"] == .number(2))
        }
        await server.stop()
    }

    /// Roles come from the kernel's peer credentials: this test runs as root (uid 0, gid 0), and a
    /// policy that gives root no full access and group 0 only `read` holds it to reading.
    @Test func givenAPeerWhoseGroupHasOnlyRead_whenItCallsAControlMethod_thenItIsRefusedWithItsUID() async throws {
        #expect(getuid() == 0 && getgid() == 0, "the test runs as root")
        let server = try Server(policy: AccessPolicy(fullAccessUIDs: [], groupRoles: [0: [.read]]))
        try await offThePool {
            let client = try server.client()
            #expect(try client.call("status")["ok"] == .bool(true))
            var refused: ControlError?
            do throws(ControlError) { _ = try client.call("say", ["text": .string("x")]) } catch { refused = error }
            #expect(refused?.code == .permissionDenied)
            #expect(refused?.message.contains("say needs the control role; uid 0 has only the read role") == true, "\(String(describing: refused))")
        }
        await server.stop()
        let nobody = try Server(policy: AccessPolicy(fullAccessUIDs: [], groupRoles: [12_345: [.read, .control]]))
        try await offThePool {
            var refused: ControlError?
            let client = try nobody.client()
            do throws(ControlError) { _ = try client.call("status") } catch { refused = error }
            #expect(refused?.code == .permissionDenied && refused?.message.contains("uid 0 has no role") == true)
        }
        await nobody.stop()
    }

    @Test func givenATokenBucket_whenAClientSendsAFastBurst_thenItIsServedAtTheConfiguredRate() async throws {
        let server = try Server { $0.requestsPerSecond = 20; $0.burst = 10 }
        let elapsed = try await offThePool {
            let client = try server.client()
            let started = Date()
            var lines: [UInt8] = []
            for id in 0..<50 { lines += Array(#"{"jsonrpc":"2.0","id":\#(id),"method":"status"}"#.utf8) + [0x0A] }
            try client.send(bytes: lines)
            for _ in 0..<50 { _ = try #require(try client.readMessage(timeout: 10)) }
            return Date().timeIntervalSince(started)
        }
        // 10 at once, then 40 at 20 per second: never faster (a busy machine only makes it slower).
        #expect(elapsed > 1.7, "50 requests took \(elapsed) s")
        await server.stop()
    }

    @Test func givenTheConnectionCap_whenAnotherClientConnects_thenTheIdlestConnectionMakesRoom() async throws {
        let server = try Server { $0.maxConnections = 8 }
        try await offThePool {
            let idle = try (0..<8).map { _ in try server.client() }
            usleep(100_000)
            let newcomer = try server.client()
            #expect(try newcomer.call("status")["ok"] == .bool(true))
            // The oldest idle connection was closed; the others and the newcomer stay.
            #expect(try idle[0].readLine(timeout: 5) == nil)
            #expect(server.server.statistics.evicted == 1 && server.server.statistics.connections == 8)
            withExtendedLifetime((idle, newcomer)) {}
        }
        await server.stop()
    }

    @Test func givenASubscriberThatNeverReads_whenEventsPileUp_thenPublishingNeverBlocksAndTheSubscriberIsDropped() async throws {
        let server = try Server { $0.subscriberBacklogBytes = 256 << 10 }
        let (slow, reader) = try await offThePool {
            let slow = try server.client()
            _ = try slow.call("events.subscribe")
            let reader = try server.client()
            _ = try reader.call("events.subscribe", ["types": .array([.string("wake")])])
            return (Unchecked(slow), Unchecked(reader))
        }
        let payload = String(repeating: "x", count: 1000)
        var publishing = Duration.zero
        for index in 0..<10_000 {
            let before = ContinuousClock.now
            server.server.publish(type: index % 100 == 0 ? "wake" : "state", json: #"{"type":"state","n":\#(index),"pad":"\#(payload)"}"#)
            publishing += ContinuousClock.now - before
            // Bursts of 1000 events, a little faster than a daemon ever makes them.
            if index % 1000 == 999 { try await Task.sleep(for: .milliseconds(20)) }
        }
        // 10 MB of events for a reader that takes none: publishing stays a queue append.
        #expect(publishing < .seconds(1), "10 000 publishes took \(publishing)")
        let delivered = try await offThePool {
            var count = 0
            while let event = try reader.value.nextEvent(timeout: 2) {
                #expect(event["type"] == .string("state"))
                count += 1
                if count == 100 { break }
            }
            return count
        }
        #expect(delivered == 100, "the subscriber to wake events got each of them")
        #expect(server.server.statistics.droppedEvents == 0)
        #expect(try await offThePool { eventually { server.server.statistics.droppedSubscribers == 1 } })
        try await offThePool {
            // Whatever it had buffered, the slow subscriber's connection ends.
            var lines = 0
            while try slow.value.readLine(timeout: 5) != nil { lines += 1 }
            #expect(lines < 10_000)
        }
        await server.stop()
    }

    @Test func givenARequestRunning_whenTheServerShutsDown_thenItIsAnsweredAndTheSocketIsGone() async throws {
        let server = try Server()
        let client = try await offThePool { () -> Unchecked<ControlClient> in
            let client = try server.client()
            try client.send(line: #"{"jsonrpc":"2.0","id":7,"method":"listen"}"#)
            usleep(100_000)
            return Unchecked(client)
        }
        await server.server.shutdown()
        #expect(access(server.path, F_OK) != 0, "the socket file is removed")
        try await offThePool {
            let answer = try #require(try client.value.readMessage(timeout: 5))
            #expect(answer["result"]?["finished"] == .bool(true))
            #expect(throws: ControlError.self) { try ControlClient(path: server.path) }
        }
        rmdir(server.directory)
    }

    @Test func givenASocketPath_whenAnotherServerOrAFileHoldsIt_thenStartingFailsWithoutTouchingIt() async throws {
        let first = try Server()
        var configuration = ControlServer.Configuration(path: first.path)
        #expect(throws: ControlError.self) {
            _ = try ControlServer(configuration: configuration, policy: AccessPolicy(fullAccessUIDs: [0]), handler: Handler(), logger: Logger(label: "test"))
        }
        #expect(try await offThePool { try first.client().call("status")["ok"] == .bool(true) })
        await first.stop()

        let directory = makeTemporaryDirectory("hark-control-file")
        configuration.path = directory + "/control.sock"
        writeFile(configuration.path, "not a socket")
        var error: ControlError?
        do { _ = try ControlServer(configuration: configuration, policy: AccessPolicy(fullAccessUIDs: [0]), handler: Handler(), logger: Logger(label: "test")) }
        catch let caught { error = caught }
        #expect(error?.message.contains("is not a socket") == true)
        #expect(readTextFile(configuration.path) == "not a socket")
        unlink(configuration.path)
        rmdir(directory)
    }

    @Test func givenAStaleSocketFile_whenTheServerStarts_thenItReplacesItWith0660() async throws {
        let directory = makeTemporaryDirectory("hark-control-stale")
        let path = directory + "/sub/control.sock"
        // A server that went away without removing its socket: bind a socket and never listen.
        mkdir(directory + "/sub", 0o750)
        let stale = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(stale)
        let server = try ControlServer(configuration: .init(path: path), policy: AccessPolicy(fullAccessUIDs: [0]), handler: Handler(), logger: Logger(label: "test"))
        try server.start()
        var info = stat()
        stat(path, &info)
        #expect(info.st_mode & 0o777 == 0o660)
        #expect(try await offThePool { try ControlClient(path: path).call("status")["ok"] == .bool(true) })
        await server.shutdown()
        rmdir(directory + "/sub")
        rmdir(directory)
    }
}
