import Foundation
import HarkTestSupport
import HarkAudio
import HarkWake
import Logging


/// Streams `samples` through `engine` in 80 ms chunks (a final partial chunk is dropped, as the
/// reference capture does) and returns each chunk's score of head 0.
func streamScores(_ engine: WakeWordEngine, _ samples: [Int16], gate: ((UnsafeBufferPointer<Int16>) -> Bool)? = nil) -> [Float] {
    streamChunks(engine, samples, gate: gate).scores
}

/// As `streamScores`, also telling for each chunk whether the models ran on it.
func streamChunks(_ engine: WakeWordEngine, _ samples: [Int16], gate: ((UnsafeBufferPointer<Int16>) -> Bool)? = nil) -> (scores: [Float], ran: [Bool]) {
    var scores: [Float] = []
    var ran: [Bool] = []
    let chunk = WakeWordEngine.chunkSamples
    samples.withUnsafeBufferPointer { all in
        var start = 0
        while start + chunk <= all.count {
            let piece = UnsafeBufferPointer(rebasing: all[start..<(start + chunk)])
            let before = engine.chunksComputed
            engine.process(piece, speech: gate?(piece) ?? true)
            scores.append(engine.scores[0])
            ran.append(engine.chunksComputed > before)
            start += chunk
        }
    }
    return (scores, ran)
}

func jarvisEngine(_ name: String = "hey_jarvis_v0.1", threshold: Float = 0.5) throws -> WakeWordEngine {
    try WakeWordEngine(directory: Repo.root.appendingPathComponent("models").path,
                       heads: [(name: name, path: Repo.model(name), threshold: threshold)])
}
