import HarkKernels
#if canImport(Glibc)
import Glibc
#endif
/// The keys and values of every position seen so far, per layer, in float16 as llama.cpp keeps them
/// (its default cache type): memory is layers × capacity × kvSize × 2 × 2 bytes, allocated once and
/// resident only as far as positions are written.
///
///   keys[layer][position][kvSize], values[layer][position][kvSize], kvSize = kvHeads × headSize
///
/// A sliding-window architecture keeps a ring of `window + batch` positions: position p lives in slot
/// p mod capacity, so a pass of up to `batch` new positions never overwrites one that a query of the
/// same pass still sees (each sees its last `window` positions).
public final class KVCache: @unchecked Sendable {
    // @unchecked: one owner (the model's single worker) reads and writes it; nothing else sees it.
    public let layers: Int
    public let capacity: Int
    public let kvSize: Int
    public let window: Int?
    let keys: UnsafeMutablePointer<Float16>
    let values: UnsafeMutablePointer<Float16>
    /// Positions written so far (the next position).
    public internal(set) var count = 0

    public init(layers: Int, capacity: Int, kvSize: Int, window: Int? = nil, batch: Int = 1) {
        self.layers = layers
        self.window = window
        self.capacity = window.map { $0 + max(batch, 1) } ?? capacity
        self.kvSize = kvSize
        // calloc: zeroed (attention's padding reads a few positions past `count`, with probability 0,
        // so they must hold numbers), and a large block comes straight from mmap already zero, so a
        // page becomes resident only when a position on it is written: a 2048-position cache of
        // which a 400-token prompt uses a fifth costs a fifth of its 47 MB, not all of it.
        let n = max(1, layers * self.capacity * kvSize)
        guard let k = calloc(n, MemoryLayout<Float16>.stride), let v = calloc(n, MemoryLayout<Float16>.stride) else {
            fatalError("KVCache: out of memory for \(2 * n * MemoryLayout<Float16>.stride) bytes")
        }
        keys = k.bindMemory(to: Float16.self, capacity: n)
        values = v.bindMemory(to: Float16.self, capacity: n)
    }

    deinit {
        free(keys)
        free(values)
    }

    public var bytes: Int { 2 * layers * capacity * kvSize * MemoryLayout<Float16>.size }

    /// Forget everything (a new conversation).
    public func clear() { count = 0 }

    /// Drop positions from `position` on (rewind to a shared prefix).
    public func truncate(to position: Int) { count = min(count, max(0, position)) }

    /// The keys and values of positions 0..<`positions`, layer by layer (keys, then values), for
    /// saving a prompt's prefix. Not for a sliding-window cache (its early positions are overwritten).
    public func snapshot(positions: Int) -> [UInt8] {
        precondition(window == nil && positions <= count)
        let run = positions * kvSize * MemoryLayout<Float16>.size
        var bytes = [UInt8](repeating: 0, count: 2 * layers * run)
        bytes.withUnsafeMutableBytes { out in
            for layer in 0..<layers {
                out.baseAddress!.advanced(by: 2 * layer * run).copyMemory(from: keys + layer * capacity * kvSize, byteCount: run)
                out.baseAddress!.advanced(by: (2 * layer + 1) * run).copyMemory(from: values + layer * capacity * kvSize, byteCount: run)
            }
        }
        return bytes
    }

    /// Puts back what ``snapshot(positions:)`` took: the cache then holds exactly those positions.
    /// False (and the cache empty) when the bytes are not that many positions of this cache.
    public func restore(_ bytes: UnsafeRawBufferPointer, positions: Int) -> Bool {
        let run = positions * kvSize * MemoryLayout<Float16>.size
        guard window == nil, positions <= capacity, bytes.count == 2 * layers * run else {
            count = 0
            return false
        }
        for layer in 0..<layers {
            UnsafeMutableRawPointer(keys + layer * capacity * kvSize).copyMemory(from: bytes.baseAddress!.advanced(by: 2 * layer * run), byteCount: run)
            UnsafeMutableRawPointer(values + layer * capacity * kvSize).copyMemory(from: bytes.baseAddress!.advanced(by: (2 * layer + 1) * run), byteCount: run)
        }
        count = positions
        return true
    }

    func slot(_ position: Int) -> Int { window == nil ? position : position % capacity }

    func key(layer: Int, position: Int) -> UnsafeMutablePointer<Float16> {
        keys + (layer * capacity + slot(position)) * kvSize
    }

    func value(layer: Int, position: Int) -> UnsafeMutablePointer<Float16> {
        values + (layer * capacity + slot(position)) * kvSize
    }
}

/// Grouped-query attention of one query position over the cache, as ggml computes it without flash
/// attention: the query is rounded to float16 (K's type) for Q·K, the scores are scaled and soft-maxed
/// in float, the probabilities rounded to float16 for P·V; both products in ggml_vec_dot_f16's order
/// (HalfVector.dot; P·V as ggml's dot of each value dimension over the positions: partial sums by
/// position mod 32, reduced as it reduces; llama.cpp pads the positions to a multiple of 32 with
/// zero probabilities, so none is left over to add one by one).
///
///   query[heads × keySize] → output[heads × valueSize]; query head h reads KV head h / (heads / kvHeads);
///   keys and values in the cache at kvHead · keySize and kvHead · valueSize.
///   scores: ≥ positions.count floats; query16: ≥ keySize; partial: ≥ 32 × valueSize floats.
enum Attention {
    static func attend(query: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, cache: KVCache, layer: Int,
                       positions: Range<Int>, heads: Int, kvHeads: Int, keySize: Int, valueSize: Int, scale: Float,
                       scores: UnsafeMutablePointer<Float>, query16: UnsafeMutablePointer<Float16>,
                       partial: UnsafeMutablePointer<Float>, headRange: Range<Int>? = nil) {
        let group = heads / kvHeads
        let n = positions.count
        for h in headRange ?? 0..<heads {
            let kvHead = h / group
            for d in 0..<keySize { query16[d] = Float16(query[h * keySize + d]) }
            // Runs of positions whose slots are consecutive (all of them, unless a sliding window's
            // ring wraps).
            @inline(__always) func runs(_ body: (_ i: Int, _ run: Int) -> Void) {
                var i = 0
                while i < n {
                    let p = positions.lowerBound + i
                    let run = cache.window == nil ? n - i : min(n - i, cache.capacity - cache.slot(p))
                    body(i, run)
                    i += run
                }
            }
            runs { i, run in
                HalfVector.dots(cache.key(layer: layer, position: positions.lowerBound + i) + kvHead * keySize, stride: cache.kvSize, run,
                                query16, count: keySize, into: scores + i)
            }
            Numerics.softmax(scores, count: n, scale: scale)
            let out = output + h * valueSize
            partial.update(repeating: 0, count: 32 * valueSize)
            runs { i, run in
                HalfVector.accumulate(partial, first: i, weights: scores + i,
                                      cache.value(layer: layer, position: positions.lowerBound + i) + kvHead * valueSize,
                                      stride: cache.kvSize, run, count: valueSize)
            }
            HalfVector.combinePartials(partial, count: valueSize, into: out)
        }
    }
}
