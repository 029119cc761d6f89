import Foundation

/// Where events go: one JSON object per line, written whole and flushed, from any thread.
public final class EventSink: Sendable {
    private let handle: FileHandle?
    private let lock = NSLock()

    /// `destination`: "-" for standard output, a path to append to, or nil to drop events.
    public init(destination: String?) throws {
        switch destination {
        case nil:
            handle = nil
        case "-":
            handle = FileHandle.standardOutput
        case let path?:
            if !FileManager.default.fileExists(atPath: path) {
                guard FileManager.default.createFile(atPath: path, contents: nil) else {
                    throw DaemonError("cannot create events file '\(path)': check the directory exists and is writable")
                }
            }
            guard let file = FileHandle(forWritingAtPath: path) else {
                throw DaemonError("cannot open events file '\(path)' for writing")
            }
            file.seekToEndOfFile()
            handle = file
        }
    }

    public func emit(_ event: Event) {
        guard let handle else { return }
        let line = Data((event.jsonLine + "\n").utf8)
        lock.lock()
        defer { lock.unlock() }
        handle.write(line)
    }
}

/// The one error type of `HarkDaemon`: a one-line message saying what failed and what to do.
public struct DaemonError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
