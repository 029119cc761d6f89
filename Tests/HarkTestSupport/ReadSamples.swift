import HarkAudio
import Logging

/// Reads a whole recording through HarkAudio's file source: 16 kHz mono S16, whatever the WAV holds.
public func readSamples(_ path: String) throws -> [Int16] {
    let source = try openAudioSource(.file(path: path), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    var samples: [Int16] = []
    var buffer = [Int16](repeating: 0, count: 8192)
    while true {
        let n = try buffer.withUnsafeMutableBufferPointer { try source.read(into: $0) }
        if n == 0 { break }
        samples.append(contentsOf: buffer[..<n])
    }
    return samples
}
