import HarkStage2
import Testing

/// The framing between harkd and its stage-2 worker: what goes in comes out, in whatever pieces the
/// socket delivers it, and every kind of bad frame is a one-line error naming the stream.
@Suite struct Stage2FrameTests {
    static func decode(_ bytes: [UInt8], pieceSize: Int = 7) throws(Stage2Error) -> [Stage2Frame] {
        var reader = Stage2FrameReader(source: "test stream")
        var frames: [Stage2Frame] = []
        var offset = 0
        while offset < bytes.count {
            reader.append(bytes[offset..<min(bytes.count, offset + pieceSize)])
            offset += pieceSize
            while let frame = try reader.next() { frames.append(frame) }
        }
        return frames
    }

    @Test func givenMessagesAndAudio_whenEncodedAndReadInPieces_thenTheSameFramesComeOut() throws {
        var generate = Stage2Message(op: "generate", id: 7)
        generate.prompt = "turn off the kitchen light, \"please\" ✓"
        generate.maxTokens = 48
        generate.stop = ["\n", "]"]
        var ready = Stage2Message(op: "ready")
        ready.timings = ["whisper_ms": 81.5, "llm_ms": 12]
        let audio: [Int16] = [0, 1, -1, .max, .min, 12_345, -32_000]
        let frames: [Stage2Frame] = [.message(generate), .audio(audio), .message(ready), .audio([])]
        let bytes = try frames.flatMap { try $0.encoded() }
        for size in [1, 5, 7, 4096] {
            #expect(try Self.decode(bytes, pieceSize: size) == frames, "pieces of \(size) bytes")
        }
        // The header: little-endian length, then the kind.
        let encoded = try Stage2Frame.audio([0x0102]).encoded()
        #expect(encoded == [2, 0, 0, 0, 2, 0x02, 0x01])
    }

    @Test(arguments: [
        ([0xff, 0xff, 0xff, 0x7f, 1], "over the"),
        ([1, 0, 0, 0, 9, 0x20], "unknown frame kind 9"),
        ([3, 0, 0, 0, 2, 1, 2, 3], "not whole 16-bit samples"),
        ([5, 0, 0, 0, 1] + Array("hello".utf8), "not a stage-2 message"),
        ([2, 0, 0, 0, 1] + Array("{}".utf8), "not a stage-2 message"),
        ([10, 0, 0, 0, 1] + Array("{\"op\":\"\"} ".utf8), "no valid 'op'"),
    ] as [([UInt8], String)])
    func givenABadFrame_whenRead_thenAOneLineErrorNamesTheStream(bytes: [UInt8], says: String) {
        #expect {
            _ = try Self.decode(bytes)
        } throws: { error in
            guard let error = error as? Stage2Error else { return false }
            return error.code == .badFrame && error.message.hasPrefix("test stream: ") && error.message.contains(says)
                && !error.message.contains("\n")
        }
    }

    @Test func givenOutOfRangeFields_whenRead_thenRefused() throws {
        var long = Stage2Message(op: "generate", id: 1)
        long.prompt = String(repeating: "a", count: Stage2Message.maxText + 1)
        var tokens = Stage2Message(op: "generate", id: 2)
        tokens.maxTokens = Stage2Message.maxTokensLimit + 1
        var stops = Stage2Message(op: "generate", id: 3)
        stops.stop = [""]
        for (message, says) in [(long, "over \(Stage2Message.maxText) characters"), (tokens, "max_tokens"), (stops, "stop list")] {
            let bytes = try Stage2Frame.message(message).encoded()
            #expect(throws: Stage2Error.self) { _ = try Self.decode(bytes) }
            do { _ = try Self.decode(bytes) } catch { #expect(error.message.contains(says), "\(error.message)") }
        }
    }

    @Test func givenAnIncompleteFrame_whenRead_thenNothingYet() throws {
        let bytes = try Stage2Frame.audio([1, 2, 3]).encoded()
        var reader = Stage2FrameReader(source: "test stream")
        reader.append(bytes.dropLast())
        #expect(try reader.next() == nil)
        reader.append(bytes.suffix(1))
        #expect(try reader.next() == .audio([1, 2, 3]))
        #expect(reader.pending == 0)
    }
}
