// A fixed pool of threads for the kernels: created once, woken per operation. Decoding a token is a
// chain of ~200 small matrix products, so handing one to the pool must cost microseconds, not a
// Dispatch round trip: the caller publishes the work by bumping an atomic generation, workers that
// are spinning see it at once (workers that waited longer than `spinIterations` sleep on a condition
// variable and are broadcast to).
//
// An operation is a number of chunks, claimed one at a time from an atomic counter by whoever comes:
// the caller works too, so a worker the OS has not scheduled (a busy or shared machine) costs nothing
// but its share of the parallelism: the caller takes its chunks, and a late worker finds none left.
// (With a fixed share per thread, the caller waited for the absent thread: a 70 µs product took
// 460–840 µs at 2 threads on this 2-core machine while other builds ran.) The claim counter holds the
// generation in its high half, so a worker still finishing one operation cannot claim a chunk of the
// next.
//
// One operation at a time: `run` is not reentrant and must not be called from two threads at once
// (it traps if it is). Mutable model state has one owner (STYLE.md), and that owner drives the pool.

import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class KernelThreadPool: Sendable {
    /// Threads taking part in each operation, the caller's included.
    public let threadCount: Int
    private let state: PoolState
    private let threads: [PoolThread]

    /// - Parameters:
    ///   - threadCount: threads per operation (≥ 1), the calling thread included; `threadCount − 1` are started.
    ///   - spinIterations: how many times an idle worker polls before it sleeps (~1 ns each, so the
    ///     default ~0.2 ms): long enough to cover the gaps between the products of one token.
    public init(threadCount: Int, spinIterations: Int = 200_000) {
        precondition(threadCount >= 1, "KernelThreadPool: threadCount \(threadCount) < 1")
        self.threadCount = threadCount
        let state = PoolState(workers: threadCount - 1, spinIterations: spinIterations)
        self.state = state
        threads = (1..<threadCount).map { PoolThread(state: state, index: $0) }
    }

    deinit {
        state.stop()
        for t in threads { t.join() }
    }

    /// Calls `body(c)` exactly once for each chunk c in 0..<chunks, on the caller's thread and the
    /// workers, in no fixed order or assignment, and returns when all have returned.
    public func run(chunks: Int, _ body: (Int) -> Void) {
        precondition(chunks >= 0 && chunks < 1 << 31, "KernelThreadPool.run: \(chunks) chunks")
        if threadCount == 1 || chunks <= 1 {
            for c in 0..<chunks { body(c) }
            return
        }
        withoutActuallyEscaping(body) { body in state.dispatch(chunks: chunks, body) }
    }

    /// Splits 0..<count into contiguous ranges whose bounds are multiples of `granularity` (except the
    /// end), about four per thread, and calls `body` with each in parallel.
    public func forEachRange(_ count: Int, granularity: Int = 1, _ body: (Range<Int>) -> Void) {
        precondition(count >= 0 && granularity >= 1)
        let units = (count + granularity - 1) / granularity
        let chunks = min(units, threadCount == 1 ? 1 : 4 * threadCount)
        if chunks <= 1 { if count > 0 { body(0..<count) }; return }
        run(chunks: chunks) { c in
            let lo = min(count, units * c / chunks * granularity), hi = min(count, units * (c + 1) / chunks * granularity)
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// What the caller and the workers share. The task closure is written by the caller before the
/// generation is bumped (release); a thread reads it only after claiming a chunk of that generation
/// (acquire), and the caller clears it only after every claimed chunk has completed, so the unchecked
/// Sendable is sound.
private final class PoolState: @unchecked Sendable {
    let workers: Int
    let spinIterations: Int
    let generation = Atomic<Int>(0)
    /// generation << 32 | next unclaimed chunk.
    let claims = Atomic<Int>(0)
    let completed = Atomic<Int>(0)
    let busy = Atomic<Bool>(false)
    let stopping = Atomic<Bool>(false)
    var task: ((Int) -> Void)?
    /// The current operation's chunk count (written before its generation is published).
    let chunks = Atomic<Int>(0)
    // Sleepers: a count and a condition variable, under the mutex.
    let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    var sleepers = 0

    init(workers: Int, spinIterations: Int) {
        self.workers = workers
        self.spinIterations = max(0, spinIterations)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        wake.deallocate()
    }

    /// Claims and runs chunks of generation `g` until none is left.
    @inline(__always) func claimAndRun(_ g: Int) {
        while true {
            var current = claims.load(ordering: .acquiring)
            var claimed = -1
            while current >> 32 == g && current & 0xffff_ffff < chunks.load(ordering: .relaxed) {
                let (exchanged, original) = claims.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
                if exchanged { claimed = current & 0xffff_ffff; break }
                current = original
            }
            if claimed < 0 { return }
            task!(claimed)
            completed.wrappingAdd(1, ordering: .releasing)
        }
    }

    func dispatch(chunks: Int, _ body: @escaping (Int) -> Void) {
        let (exchanged, _) = busy.compareExchange(expected: false, desired: true, ordering: .acquiring)
        precondition(exchanged, "KernelThreadPool.run called while another operation is running on the pool")
        task = body
        self.chunks.store(chunks, ordering: .relaxed)
        completed.store(0, ordering: .relaxed)
        // Generations wrap at 2^31 (they only need to differ from the last few).
        let g = (generation.load(ordering: .relaxed) + 1) & 0x7fff_ffff
        claims.store(g << 32, ordering: .releasing)
        generation.store(g, ordering: .releasing)
        pthread_mutex_lock(mutex)
        if sleepers > 0 { pthread_cond_broadcast(wake) }
        pthread_mutex_unlock(mutex)
        claimAndRun(g)
        while completed.load(ordering: .acquiring) != chunks {}  // chunks claimed by workers, still running
        task = nil
        busy.store(false, ordering: .releasing)
    }

    func stop() {
        stopping.store(true, ordering: .releasing)
        generation.wrappingAdd(1, ordering: .releasing)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
    }

    /// A worker's life: wait for each new generation (spinning, then asleep), claim its chunks.
    func work(_ index: Int) {
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                if spins < spinIterations {
                    spins += 1
                } else {
                    pthread_mutex_lock(mutex)
                    sleepers += 1
                    while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(wake, mutex) }
                    sleepers -= 1
                    pthread_mutex_unlock(mutex)
                }
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            if stopping.load(ordering: .acquiring) { return }
            claimAndRun(current)
        }
    }
}

/// One worker thread (pthread: the kernels want a plain OS thread with nothing else scheduled on it).
private final class PoolThread: Sendable {
    private let thread: pthread_t

    init(state: PoolState, index: Int) {
        final class Start { let state: PoolState; let index: Int; init(_ s: PoolState, _ i: Int) { state = s; index = i } }
        let start = Unmanaged.passRetained(Start(state, index)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
            start.state.work(start.index)
            return nil
        }, start)
        precondition(rc == 0, "KernelThreadPool: pthread_create failed (\(rc)); the system is out of threads or memory")
        self.thread = thread
    }

    func join() { pthread_join(thread, nil) }
}
