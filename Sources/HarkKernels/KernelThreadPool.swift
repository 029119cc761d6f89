// A fixed pool of threads for the kernels: created once, woken per operation. Decoding a token is a
// chain of ~200 small matrix products, so handing one to the pool must cost microseconds, not a
// Dispatch round trip: the caller publishes the work by bumping an atomic generation, workers that
// are spinning see it at once (workers that waited longer than `spinIterations` sleep on a condition
// variable and are broadcast to), the caller runs share 0 itself and spins until the others are done.
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

    /// Calls `body(i)` once for each i in 0..<threadCount, each on its own thread (0 on the caller's),
    /// and returns when all have returned.
    public func run(_ body: (Int) -> Void) {
        if threadCount == 1 { body(0); return }
        withoutActuallyEscaping(body) { body in state.dispatch(body) }
    }

    /// Splits 0..<count into `threadCount` contiguous ranges whose bounds are multiples of `granularity`
    /// (except the end), and calls `body` with each non-empty one in parallel.
    public func forEachRange(_ count: Int, granularity: Int = 1, _ body: (Range<Int>) -> Void) {
        precondition(count >= 0 && granularity >= 1)
        let units = (count + granularity - 1) / granularity
        let parts = min(threadCount, units)
        if parts <= 1 { if count > 0 { body(0..<count) }; return }
        run { t in
            guard t < parts else { return }
            let lo = min(count, units * t / parts * granularity), hi = min(count, units * (t + 1) / parts * granularity)
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// What the caller and the workers share. The task closure is written by the caller before the
/// generation is bumped (release) and read by workers after they see the bump (acquire); it is
/// cleared only after every worker has reported done, so the unchecked Sendable is sound.
private final class PoolState: @unchecked Sendable {
    let workers: Int
    let spinIterations: Int
    let generation = Atomic<Int>(0)
    let pending = Atomic<Int>(0)
    let busy = Atomic<Bool>(false)
    let stopping = Atomic<Bool>(false)
    var task: ((Int) -> Void)?
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

    /// A spin-wait step. (x86's pause instruction is not reachable from Swift: clang's `_mm_pause`
    /// is a builtin Swift calls as an undefined external function.) An atomic load a step.
    @inline(__always) static func pause() {}

    func dispatch(_ body: @escaping (Int) -> Void) {
        let (exchanged, _) = busy.compareExchange(expected: false, desired: true, ordering: .acquiring)
        precondition(exchanged, "KernelThreadPool.run called while another operation is running on the pool")
        task = body
        pending.store(workers, ordering: .relaxed)
        generation.wrappingAdd(1, ordering: .releasing)
        pthread_mutex_lock(mutex)
        if sleepers > 0 { pthread_cond_broadcast(wake) }
        pthread_mutex_unlock(mutex)
        body(0)
        while pending.load(ordering: .acquiring) != 0 { Self.pause() }
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

    /// A worker's life: wait for each new generation, run its share, report.
    func work(_ index: Int) {
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                if spins < spinIterations {
                    spins += 1
                    Self.pause()
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
            task!(index)
            pending.subtract(1, ordering: .releasing)
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
