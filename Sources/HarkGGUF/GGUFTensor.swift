/// One entry of a GGUF file's tensor table, checked: its bytes lie inside the file, aligned.
public struct GGUFTensor: Sendable, Hashable, CustomStringConvertible {
    /// Its position in the file's tensor table.
    public let index: Int
    public let name: String
    public let type: GGMLType
    /// ggml's `ne`: `dimensions[0]` is the fastest-varying (a row's length); 1 to 4 entries.
    public let dimensions: [Int]
    public let elementCount: Int
    public let byteCount: Int
    /// Where its bytes start, from the start of the file.
    public let offset: Int
    /// Where its bytes start, from the start of the tensor data section (as the file stores it).
    public let relativeOffset: Int

    /// Elements per row (`ne0`).
    public var rowLength: Int { dimensions[0] }
    /// Rows: the product of the dimensions after the first.
    public var rowCount: Int { elementCount / dimensions[0] }
    /// Bytes per row: a whole number of blocks.
    public var bytesPerRow: Int { byteCount / rowCount }

    /// The dimensions padded with 1s to 4, as ggml holds them.
    public var paddedDimensions: [Int] { dimensions + Array(repeating: 1, count: 4 - dimensions.count) }

    public var description: String { "\(name) \(type) \(dimensions)" }
}
