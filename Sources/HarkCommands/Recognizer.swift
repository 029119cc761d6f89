import CPocketSphinx
#if canImport(Glibc)
import Glibc
#endif

/// Streaming speech recognition with PocketSphinx over the command grammar: ``start()``, then
/// ``process(_:)`` for each piece of audio as it arrives (the search runs frame by frame while the
/// user speaks), then ``finish()`` for the hypothesis, which is ready within milliseconds of the end
/// of speech because only the final traceback is left.
///
/// The decoder's cepstral mean (live CMN) adapts from utterance to utterance; ``prime(_:)`` runs the
/// audio just before an utterance (the wake word, the room's noise) through it first, so that the
/// first command after a quiet spell, or in a new noise, starts from the right mean.
///
/// Not thread-safe: one thread (the audio thread) owns a recognizer.
public final class Recognizer {
    public struct Configuration: Sendable, Equatable {
        /// The acoustic model directory and the CMU dictionary (Debian's pocketsphinx-en-us).
        public var acousticModel = "/usr/share/pocketsphinx/model/en-us/en-us"
        public var dictionary = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"
        /// Beams of the search: wider than PocketSphinx's defaults, which lose the right path in noise.
        public var beam = 1e-80
        public var wordBeam = 1e-60
        public var phoneBeam = 1e-80
        /// Gaussians scored per frame of the semi-continuous model.
        public var topN = 16
        /// The weight of the garbage loop against the commands; nil: no garbage loop.
        public var garbageWeight: Double? = 1e-3
        public init() {}
    }

    /// What the recognizer heard.
    public struct Hypothesis: Sendable, Equatable {
        /// The words, garbage words included ("gbg_ah …"); empty when nothing was decoded.
        public let text: String
        /// The path's log score (PocketSphinx's log base 1.0001).
        public let score: Int32
        /// 10 ms frames decoded.
        public let frames: Int
        /// Whether the garbage loop won over the commands.
        public var isGarbage: Bool { text.isEmpty || text.split(separator: " ").contains { $0.hasPrefix("gbg_") } }
    }

    public let configuration: Configuration
    private let decoder: OpaquePointer
    private var inUtterance = false
    /// The search the grammar lives in.
    static let searchName = "hark"

    /// Builds a decoder for `grammar` with `pronunciations` as its whole dictionary (the CMU
    /// dictionary is not loaded: only the grammar's words are added, so start-up is fast and small).
    public init(grammar: CommandGrammar, pronunciations: Pronunciations, configuration: Configuration = Configuration()) throws(CommandError) {
        self.configuration = configuration
        Self.silenceLibraryLog()
        // An empty dictionary file: words are added below.
        let arguments = [
            "-hmm", configuration.acousticModel,
            "-dict", "/dev/null",
            "-beam", "\(configuration.beam)", "-wbeam", "\(configuration.wordBeam)", "-pbeam", "\(configuration.phoneBeam)",
            "-topn", "\(configuration.topN)",
            "-logfn", "/dev/null",
        ]
        guard access(configuration.acousticModel + "/mdef", R_OK) == 0 else {
            throw CommandError("acoustic model \(configuration.acousticModel): no readable mdef there (apt-get install pocketsphinx-en-us)")
        }
        var cStrings = arguments.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        let config = cStrings.withUnsafeMutableBufferPointer { buffer in
            cmd_ln_parse_r(nil, ps_args(), Int32(buffer.count), buffer.baseAddress, 1)
        }
        guard let config else { throw CommandError("pocketsphinx: the decoder configuration was refused") }
        defer { cmd_ln_free_r(config) }
        guard let decoder = ps_init(config) else {
            throw CommandError("pocketsphinx: cannot load the acoustic model \(configuration.acousticModel)")
        }
        self.decoder = decoder
        do throws(CommandError) {
            var words = pronunciations.entries.sorted { $0.key < $1.key }.flatMap { word, variants in variants.map { (word, $0) } }
            if configuration.garbageWeight != nil { words += Pronunciations.garbageWords.map { ($0.word, [$0.phone]) } }
            for (index, (word, phones)) in words.enumerated() {
                let last = index == words.count - 1
                guard ps_add_word(decoder, word, phones.joined(separator: " "), last ? 1 : 0) >= 0 else {
                    throw CommandError("pocketsphinx: cannot add the word '\(word)' (\(phones.joined(separator: " ")))")
                }
            }
            let text = grammar.jsgf(garbageWords: configuration.garbageWeight == nil ? [] : Pronunciations.garbageWords.map(\.word),
                                    garbageWeight: configuration.garbageWeight ?? 1)
            guard ps_set_jsgf_string(decoder, Self.searchName, text) == 0, ps_set_search(decoder, Self.searchName) == 0 else {
                throw CommandError("pocketsphinx: the command grammar was refused")
            }
        } catch {
            ps_free(decoder)
            throw error
        }
    }

    deinit {
        if inUtterance { ps_end_utt(decoder) }
        ps_free(decoder)
    }

    /// Runs `samples` (the audio just before an utterance) through the decoder and discards the
    /// result, so that its cepstral mean starts the next utterance from the current conditions.
    public func prime(_ samples: UnsafeBufferPointer<Int16>) {
        guard !inUtterance, samples.count >= 1_600 else { return }
        ps_start_utt(decoder)
        ps_process_raw(decoder, samples.baseAddress, samples.count, 0, 0)
        ps_end_utt(decoder)
    }

    public func start() {
        if inUtterance { ps_end_utt(decoder) }
        ps_start_utt(decoder)
        inUtterance = true
    }

    /// Decodes more audio of the current utterance (16 kHz mono).
    public func process(_ samples: UnsafeBufferPointer<Int16>) {
        guard inUtterance, !samples.isEmpty else { return }
        ps_process_raw(decoder, samples.baseAddress, samples.count, 0, 0)
    }

    /// Ends the utterance and returns the best path.
    public func finish() -> Hypothesis {
        guard inUtterance else { return Hypothesis(text: "", score: 0, frames: 0) }
        ps_end_utt(decoder)
        inUtterance = false
        var score: Int32 = 0
        let text = ps_get_hyp(decoder, &score).map { String(cString: $0) } ?? ""
        return Hypothesis(text: text, score: score, frames: Int(ps_get_n_frames(decoder)))
    }

    /// PocketSphinx logs to stderr by default; Hark reports its own errors.
    private static func silenceLibraryLog() {
        err_set_logfp(nil)
    }
}
