import HarkDevices

/// An error of the command stage, one line naming what and where.
public struct CommandError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The pronunciations of the grammar's words, for the recognizer's dictionary.
///
/// Each word comes from, in order: the catalog (a device's `pronunciations`), the CMU pronouncing
/// dictionary that ships with the acoustic model (all its variants), or is generated:
/// - a compound of two or three dictionary words ("unmute" = "un" + "mute", "bathroom" = "bath" + "room");
/// - spelled letter by letter when it has no vowel or is at most three letters ("hvac", "ps").
/// A word none of these covers is an error naming the word and the spoken names that use it.
public struct Pronunciations: Sendable, Equatable {
    /// The 39 phones of the CMU dictionary and the `en-us` acoustic model.
    public static let phones: [String] = [
        "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH", "IY", "JH",
        "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH",
    ]

    public enum Source: Sendable, Equatable {
        case catalog(origin: String)
        case dictionary
        case compound([String])
        case spelled
    }

    /// word → its variants (each a list of phones).
    public private(set) var entries: [String: [[String]]] = [:]
    /// Where each word's pronunciation came from.
    public private(set) var sources: [String: Source] = [:]

    static let maxDictionaryBytes = 32 << 20

    /// Looks up every word of `grammar` in the CMU dictionary at `dictionary`, after the catalog's own.
    public init(grammar: CommandGrammar, catalog: Catalog, dictionary: String) throws(CommandError) {
        let words = grammar.vocabulary
        var fromCatalog: [String: (variants: [String], origin: String)] = [:]
        for device in catalog.devices {
            for (word, variants) in device.pronunciations {
                for variant in variants {
                    if let bad = variant.split(separator: " ").first(where: { !Self.phones.contains(String($0)) }) {
                        throw CommandError("\(device.origin): device '\(device.id)': pronunciations.\(word): '\(bad)' is not a phone of the en-us model (expected one of \(Self.phones.joined(separator: " ")))")
                    }
                }
                fromCatalog[word] = (variants, device.origin)
            }
        }
        // The dictionary: the grammar's words, plus every word that could be part of a compound.
        var pieces: Set<String> = []
        for word in words {
            let letters = Array(word)
            for start in letters.indices {
                for end in (start + 2)...max(start + 2, letters.count) where end <= letters.count { pieces.insert(String(letters[start..<end])) }
            }
        }
        pieces.formUnion(words)
        let table = try Self.read(dictionary: dictionary) { pieces.contains($0) }
        for word in words.sorted() {
            if let own = fromCatalog[word] {
                entries[word] = own.variants.map { $0.split(separator: " ").map(String.init) }
                sources[word] = .catalog(origin: own.origin)
            } else if let known = table[word] {
                entries[word] = known
                sources[word] = .dictionary
            } else if let parts = Self.compound(word, table) {
                entries[word] = [parts.flatMap { table[$0]![0] }]
                sources[word] = .compound(parts)
            } else if let letters = Self.spelled(word) {
                entries[word] = [letters]
                sources[word] = .spelled
            } else {
                let users = grammar.uses(of: word).flatMap(\.devices)
                let devices = catalog.devices.filter { users.contains($0.id) }
                let place = devices.map { device in
                    "\(device.origin): device '\(device.id)' spoken name '\(device.names.first { CommandGrammar.words(of: $0).contains(word) } ?? word)'"
                }.first ?? "the grammar"
                throw CommandError("\(place): no pronunciation for '\(word)': it is not in \(dictionary), not a compound of its words, and too long to spell; add pronunciations: {\(word): \"…\"} to the device, in ARPAbet phones like \"K IH CH AH N\"")
            }
        }
    }

    /// Reads a CMU-format dictionary ("word PH PH", variants as "word(2) PH PH"), keeping the words
    /// `wanted` accepts.
    static func read(dictionary path: String, wanted: (String) -> Bool) throws(CommandError) -> [String: [[String]]] {
        let bytes: [UInt8]
        do { bytes = try BoundedFile.read(path, limit: maxDictionaryBytes) }
        catch { throw CommandError("pronunciation dictionary \(path): \(error.describe(limit: maxDictionaryBytes))") }
        var table: [String: [[String]]] = [:]
        var lineStart = 0
        var lineNumber = 0
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            lineNumber += 1
            defer { lineStart = lineEnd + 1 }
            let line = bytes[lineStart..<lineEnd]
            guard let space = line.firstIndex(of: UInt8(ascii: " ")) else { continue }
            var word = String(decoding: line[..<space], as: UTF8.self)
            if let paren = word.firstIndex(of: "(") { word = String(word[..<paren]) }
            guard wanted(word) else { continue }
            let phones = String(decoding: line[(space + 1)...], as: UTF8.self).split(separator: " ").map(String.init)
            guard !phones.isEmpty, phones.allSatisfy(Self.phones.contains) else {
                throw CommandError("pronunciation dictionary \(path):\(lineNumber): '\(word)' has a phone the en-us model does not know")
            }
            table[word, default: []].append(phones)
        }
        return table
    }

    /// The fewest dictionary words (two or three, each at least two letters) that spell `word`.
    static func compound(_ word: String, _ table: [String: [[String]]]) -> [String]? {
        let letters = Array(word)
        func split(_ start: Int, _ left: Int) -> [String]? {
            if start == letters.count { return [] }
            guard left > 0 else { return nil }
            for end in stride(from: letters.count, through: start + 2, by: -1) {
                let piece = String(letters[start..<end])
                guard piece != word, table[piece] != nil else { continue }
                if let rest = split(end, left - 1) { return [piece] + rest }
            }
            return nil
        }
        for pieces in 2...3 {
            if let parts = split(0, pieces), parts.count >= 2 { return parts }
        }
        return nil
    }

    /// Letter by letter ("hvac" → "aitch vee ay see") for words without a vowel or of at most three letters.
    static func spelled(_ word: String) -> [String]? {
        let vowels = Set("aeiouy")
        guard word.count <= 3 || !word.contains(where: vowels.contains) else { return nil }
        var phones: [String] = []
        for letter in word {
            guard let spoken = Self.letters[letter] else { return nil }
            phones += spoken
        }
        return phones
    }

    /// How letters are spoken, in ARPAbet.
    static let letters: [Character: [String]] = [
        "a": ["EY"], "b": ["B", "IY"], "c": ["S", "IY"], "d": ["D", "IY"], "e": ["IY"], "f": ["EH", "F"], "g": ["JH", "IY"],
        "h": ["EY", "CH"], "i": ["AY"], "j": ["JH", "EY"], "k": ["K", "EY"], "l": ["EH", "L"], "m": ["EH", "M"], "n": ["EH", "N"],
        "o": ["OW"], "p": ["P", "IY"], "q": ["K", "Y", "UW"], "r": ["AA", "R"], "s": ["EH", "S"], "t": ["T", "IY"], "u": ["Y", "UW"],
        "v": ["V", "IY"], "w": ["D", "AH", "B", "AH", "L", "Y", "UW"], "x": ["EH", "K", "S"], "y": ["W", "AY"], "z": ["Z", "IY"],
    ]
}
