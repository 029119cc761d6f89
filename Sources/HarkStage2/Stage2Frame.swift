/// The framing between harkd and its stage-2 worker, over the worker's stdin and stdout.
///
/// A frame is a 4-byte little-endian payload length, a 1-byte kind and the payload:
///   kind 1, a JSON message (`Stage2Message`);
///   kind 2, audio: 16 kHz mono signed 16-bit little-endian samples, for the request just before it.
/// A length over `maxPayload` or an unknown kind is a protocol error: the reader stops there (the
/// stream cannot be resynchronised), and the side that sees it ends the worker.
public enum Stage2Frame: Sendable, Equatable {
    case message(Stage2Message)
    case audio([Int16])

    /// 10 minutes of audio; no message comes near it.
    public static let maxPayload = 10 * 60 * 16_000 * 2
    static let headerBytes = 5

    enum Kind: UInt8 {
        case message = 1
        case audio = 2
    }

    /// The frame's bytes.
    public func encoded() throws(Stage2Error) -> [UInt8] {
        let kind: Kind
        var payload: [UInt8]
        switch self {
        case let .message(message):
            kind = .message
            payload = try message.jsonBytes()
        case let .audio(samples):
            kind = .audio
            payload = []
            payload.reserveCapacity(samples.count * 2)
            for sample in samples {
                let bits = UInt16(bitPattern: sample)
                payload.append(UInt8(bits & 0xff))
                payload.append(UInt8(bits >> 8))
            }
        }
        guard payload.count <= Self.maxPayload else {
            throw Stage2Error(.badFrame, "stage-2 frame: payload of \(payload.count) bytes is over the \(Self.maxPayload)-byte limit")
        }
        let n = UInt32(payload.count)
        return [UInt8(n & 0xff), UInt8((n >> 8) & 0xff), UInt8((n >> 16) & 0xff), UInt8(n >> 24), kind.rawValue] + payload
    }
}

/// Collects bytes as they arrive and hands out whole frames.
public struct Stage2FrameReader: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0
    /// Where the stream comes from, for error messages ("stage-2 worker's stdout").
    public let source: String

    public init(source: String) { self.source = source }

    public mutating func append(_ bytes: some Collection<UInt8>) {
        // Drop what was handed out once it is at least half the buffer (all of it, usually).
        if start > 0 && start * 2 >= buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// Bytes received and not yet handed out as frames.
    public var pending: Int { buffer.count - start }

    /// The next whole frame, nil if it has not all arrived yet.
    public mutating func next() throws(Stage2Error) -> Stage2Frame? {
        guard pending >= Stage2Frame.headerBytes else { return nil }
        let length = Int(buffer[start]) | Int(buffer[start + 1]) << 8 | Int(buffer[start + 2]) << 16 | Int(buffer[start + 3]) << 24
        let kindByte = buffer[start + 4]
        guard length <= Stage2Frame.maxPayload else {
            throw Stage2Error(.badFrame, "\(source): frame of \(length) bytes is over the \(Stage2Frame.maxPayload)-byte limit")
        }
        guard let kind = Stage2Frame.Kind(rawValue: kindByte) else {
            throw Stage2Error(.badFrame, "\(source): unknown frame kind \(kindByte)")
        }
        guard pending >= Stage2Frame.headerBytes + length else { return nil }
        let from = start + Stage2Frame.headerBytes
        let payload = buffer[from..<(from + length)]
        start = from + length
        switch kind {
        case .message:
            return .message(try Stage2Message(json: payload, source: source))
        case .audio:
            guard length % 2 == 0 else {
                throw Stage2Error(.badFrame, "\(source): audio frame of \(length) bytes is not whole 16-bit samples")
            }
            var samples = [Int16](repeating: 0, count: length / 2)
            var k = from
            for i in samples.indices {
                samples[i] = Int16(bitPattern: UInt16(buffer[k]) | UInt16(buffer[k + 1]) << 8)
                k += 2
            }
            return .audio(samples)
        }
    }
}
