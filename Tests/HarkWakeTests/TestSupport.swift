import Foundation

/// Paths of the repository, its fetched models and the test audio `make test-data` generates.
enum Repo {
    static let root: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func model(_ name: String) -> String { root.appendingPathComponent("models/\(name).onnx").path }
    static func fixture(_ name: String) -> URL { root.appendingPathComponent("Tests/HarkWakeTests/Fixtures/\(name)") }
    static let testData: URL = root.appendingPathComponent("build/testdata")
}

func loadJSON(_ url: URL) throws -> [String: Any] {
    let data = try Data(contentsOf: url)
    guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw CocoaError(.fileReadCorruptFile)
    }
    return object
}

extension Dictionary where Key == String, Value == Any {
    func floats(_ key: String) -> [Float] {
        guard let numbers = self[key] as? [NSNumber] else { return [] }
        return numbers.map { $0.floatValue }
    }
    func ints(_ key: String) -> [Int] { self[key] as? [Int] ?? [] }
    func dict(_ key: String) -> [String: Any] { self[key] as? [String: Any] ?? [:] }
}
