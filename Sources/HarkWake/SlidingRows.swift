/// The newest rows of a stream of fixed-width float rows, kept contiguous so the last `n` rows can be
/// handed to a model without copying. Appending is amortised O(width): when the storage fills up, the
/// newest `capacity` rows move to the front. Allocated once.
final class SlidingRows {
    let width: Int
    let capacity: Int
    private let storage: UnsafeMutablePointer<Float>
    private let storageRows: Int
    private var start = 0
    private(set) var count = 0

    init(width: Int, capacity: Int) {
        self.width = width
        self.capacity = capacity
        self.storageRows = 2 * capacity
        self.storage = .allocate(capacity: storageRows * width)
        storage.initialize(repeating: 0, count: storageRows * width)
    }

    deinit { storage.deallocate() }

    /// Appends `rows` rows from `source`; only the newest `capacity` rows are kept.
    func append(_ source: UnsafePointer<Float>, rows: Int) {
        precondition(rows <= capacity, "appending \(rows) rows to a buffer of \(capacity)")
        if start + count + rows > storageRows {
            let keep = min(count, capacity - rows)
            (storage).update(from: storage + (start + count - keep) * width, count: keep * width)
            start = 0
            count = keep
        }
        (storage + (start + count) * width).update(from: source, count: rows * width)
        count += rows
        if count > capacity {
            start += count - capacity
            count = capacity
        }
    }

    /// Appends `rows` copies of one row.
    func append(repeating row: UnsafePointer<Float>, rows: Int) {
        for _ in 0..<rows { append(row, rows: 1) }
    }

    /// The `n` rows that end `offset` rows before the newest one (offset 0: the newest `n` rows).
    func rows(last n: Int, endingBefore offset: Int = 0) -> UnsafePointer<Float> {
        precondition(n + offset <= count, "asking for \(n) rows \(offset) back from \(count)")
        return UnsafePointer(storage + (start + count - offset - n) * width)
    }
}
