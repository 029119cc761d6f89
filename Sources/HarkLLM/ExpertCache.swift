import Glibc
import HarkKernels

/// A mixture-of-experts model under a memory budget: the hot experts are kept in a fixed set of
/// slots, and the others are read from the file when a token needs them.
///
/// Each expert of a layer is one contiguous slab in each of its three `*_exps` tensors (the expert
/// index is their outermost dimension), so paging an expert in is three `pread`s into a slot. Before
/// an expert computes, `use` gives its matrices: from its slot (a hit), or read into a free slot or
/// the least recently used one's (a miss). The rest of the model (attention, norms, embeddings,
/// routers, shared experts) stays in the memory map.
///
/// Why slots rather than the map with `madvise`: the kernel maps file pages a folio at a time (up to
/// 2 MB on ext4 with large folios), pulling neighbouring experts in with each fault, so what is
/// resident in a map is not the process's to decide. The experts' part of the map is never read;
/// `release` drops what fault-around mapped there next to the tensors that are read.
///
/// Used from the transformer's one owner at a time, as the transformer is.
public final class ExpertCache: @unchecked Sendable {
    /// What the cache has done since it was made.
    public struct Statistics: Sendable, Equatable {
        public var hits = 0
        public var misses = 0
        public var evictions = 0
        /// Reads that failed (the expert was then computed from the map, past the budget).
        public var readFailures = 0
        /// Hits over uses (1 when nothing was used yet).
        public var hitRate: Double { hits + misses == 0 ? 1 : Double(hits) / Double(hits + misses) }
    }

    /// Where one expert's three slabs are in the file.
    struct Expert {
        var gate: QuantMatrix, up: QuantMatrix, down: QuantMatrix
        var offsets: (gate: Int, up: Int, down: Int)
        var byteCount: Int { gate.byteCount + up.byteCount + down.byteCount }
    }

    /// Bytes of the slots (the budget's experts' part, rounded down to whole slots).
    public var slotBytes: Int { slotCount * slotSize }
    public let slotCount: Int
    /// The largest expert's bytes.
    public let slotSize: Int
    public private(set) var statistics = Statistics()

    private let experts: [[Expert]]
    private let perLayer: Int
    private let fd: Int32
    private let memory: UnsafeMutableRawPointer
    /// The expert in each slot (layer · perLayer + expert; -1: free), and each expert's slot (-1: none).
    private var occupant: [Int], slotOf: [Int]
    /// Least recently used first: a doubly linked list over slots.
    private var previous: [Int], next: [Int]
    private var head = -1, tail = -1
    /// The experts' part of the map, per tensor (for `release`).
    private let mappedRegions: [UnsafeRawBufferPointer]
    private static let page = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// - Parameters:
    ///   - path: the model file, opened for reading.
    ///   - experts: each layer's experts, their matrices over the map and offsets in the file.
    ///   - budget: bytes for the slots; at least `slotSize` (checked by the caller).
    init(path: String, experts: [[Expert]], mappedRegions: [UnsafeRawBufferPointer], budget: Int) throws(LLMError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw LLMError(.corruptModel, "\(path): cannot open it again to page experts in (\(String(cString: strerror(errno))))")
        }
        self.fd = fd
        self.experts = experts
        self.mappedRegions = mappedRegions
        perLayer = experts.first?.count ?? 0
        // Slots hold whole blocks at the map's alignment, so the kernels see what they would there.
        slotSize = ((experts.joined().map(\.byteCount).max() ?? 0) + 63) & ~63
        slotCount = max(1, budget / max(1, slotSize))
        memory = UnsafeMutableRawPointer.allocate(byteCount: max(1, slotCount * slotSize), alignment: 64)
        occupant = Array(repeating: -1, count: slotCount)
        slotOf = Array(repeating: -1, count: experts.count * perLayer)
        previous = Array(repeating: -1, count: slotCount)
        next = Array(repeating: -1, count: slotCount)
        release()
    }

    deinit {
        close(fd)
        memory.deallocate()
    }

    /// Expert `expert` of layer `layer` is about to compute: its gate, up and down matrices.
    func use(layer: Int, expert: Int) -> (gate: QuantMatrix, up: QuantMatrix, down: QuantMatrix) {
        let key = layer * perLayer + expert
        let info = experts[layer][expert]
        var slot = slotOf[key]
        if slot >= 0 {
            statistics.hits += 1
            unlink(slot)
            append(slot)
        } else {
            statistics.misses += 1
            if let free = occupant.firstIndex(of: -1) {
                slot = free
                unlink(slot)
            } else {
                slot = head
                unlink(slot)
                slotOf[occupant[slot]] = -1
                occupant[slot] = -1
                statistics.evictions += 1
            }
            let base = memory + slot * slotSize
            guard read(info.gate.byteCount, at: info.offsets.gate, into: base),
                  read(info.up.byteCount, at: info.offsets.up, into: base + info.gate.byteCount),
                  read(info.down.byteCount, at: info.offsets.down, into: base + info.gate.byteCount + info.up.byteCount) else {
                // The slot stays free; the map still has the weights, so the result is the same.
                statistics.readFailures += 1
                append(slot)
                return (info.gate, info.up, info.down)
            }
            occupant[slot] = key
            slotOf[key] = slot
            append(slot)
        }
        let base = UnsafeRawPointer(memory + slot * slotSize)
        return (QuantMatrix(type: info.gate.type, rows: info.gate.rows, columns: info.gate.columns, base: base),
                QuantMatrix(type: info.up.type, rows: info.up.rows, columns: info.up.columns, base: base + info.gate.byteCount),
                QuantMatrix(type: info.down.type, rows: info.down.rows, columns: info.down.columns, base: base + info.gate.byteCount + info.up.byteCount))
    }

    /// Drops from the process the pages of the experts' part of the map that reading the tensors
    /// around it mapped (fault-around maps whole folios); whole pages inside each region only, so
    /// the neighbouring tensors' pages stay.
    func release() {
        for region in mappedRegions {
            guard let base = region.baseAddress else { continue }
            let start = (UInt(bitPattern: base) + UInt(Self.page - 1)) & ~UInt(Self.page - 1)
            let end = (UInt(bitPattern: base) + UInt(region.count)) & ~UInt(Self.page - 1)
            guard end > start else { continue }
            // Advice only: a failure leaves pages mapped, and results the same.
            _ = madvise(UnsafeMutableRawPointer(bitPattern: start), Int(end - start), MADV_DONTNEED)
        }
    }

    /// `count` bytes at `offset` of the file into `buffer`, all of them (short reads continued).
    private func read(_ count: Int, at offset: Int, into buffer: UnsafeMutableRawPointer) -> Bool {
        var done = 0
        while done < count {
            let n = pread(fd, buffer + done, count - done, off_t(offset + done))
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }

    private func unlink(_ slot: Int) {
        let p = previous[slot], n = next[slot]
        if p >= 0 { next[p] = n } else if head == slot { head = n }
        if n >= 0 { previous[n] = p } else if tail == slot { tail = p }
        previous[slot] = -1
        next[slot] = -1
    }

    private func append(_ slot: Int) {
        previous[slot] = tail
        next[slot] = -1
        if tail >= 0 { next[tail] = slot } else { head = slot }
        tail = slot
    }
}
