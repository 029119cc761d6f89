import CPocketSphinx
import Synchronization
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
        /// Rejection: an utterance whose acoustic score per 10 ms frame falls more than this below
        /// a free phone loop's over the same audio is not a command (PocketSphinx log units, base
        /// 1.0001; nil: no phone loop, nothing rejected on score).
        public var rejectBelow: Double? = -4.0
        public init() {}
    }

    /// What the recognizer heard.
    public struct Hypothesis: Sendable, Equatable {
        /// The words; empty when no path through the grammar survived.
        public let text: String
        /// The acoustic log score of the best path (PocketSphinx's log base 1.0001), grammar weights
        /// left out, silences and noises in.
        public let acoustic: Int64
        /// The free phone loop's acoustic score over the same audio (nil without a phone loop).
        public let loopAcoustic: Int64?
        /// 10 ms frames decoded.
        public let frames: Int
        /// The frames the grammar's words span in the best path, from the first word's first frame
        /// to the last word's last (silences and noises around them left out); nil when no word.
        public var words: ClosedRange<Int>? = nil

        /// How far the grammar's best path falls below the phone loop per frame over the whole
        /// utterance (≤ 0 for a close match; far below for speech the grammar does not cover, whose
        /// uncovered parts the path can only fill with silence and noise). nil without a phone loop.
        public var confidence: Double? {
            guard let loopAcoustic, frames > 0, !text.isEmpty else { return nil }
            return Double(acoustic - loopAcoustic) / Double(frames)
        }
    }

    public let configuration: Configuration
    private let decoder: OpaquePointer
    /// A second decoder over the same audio with a free loop of phones: the reference score that
    /// tells a command from other speech.
    private let loop: OpaquePointer?
    /// Both decoders (or the grammar's alone), fed the same audio.
    private let decoders: [OpaquePointer]
    private var inUtterance = false
    /// The search the grammar lives in.
    static let searchName = "hark"

    /// Builds a decoder for `grammar` with `pronunciations` as its whole dictionary (the CMU
    /// dictionary is not loaded: only the grammar's words are added, so start-up is fast and small).
    public init(grammar: CommandGrammar, pronunciations: Pronunciations, configuration: Configuration = Configuration()) throws(CommandError) {
        self.configuration = configuration
        Self.silenceLibraryLog()
        guard access(configuration.acousticModel + "/mdef", R_OK) == 0 else {
            throw CommandError("acoustic model \(configuration.acousticModel): no readable mdef there (apt-get install pocketsphinx-en-us)")
        }
        // Only the grammar's words are added, so the CMU dictionary is never loaded.
        let words = pronunciations.entries.sorted { $0.key < $1.key }.flatMap { word, variants in
            // Variants are "word(2)", "word(3)", as in the CMU dictionary.
            variants.enumerated().map { index, phones in (index == 0 ? word : "\(word)(\(index + 1))", phones) }
        }
        decoder = try Self.decoder(configuration, words: words, jsgf: grammar.jsgf())
        if configuration.rejectBelow != nil {
            let phones = Pronunciations.phones.map { ("ph_" + $0.lowercased(), [$0]) }
            let jsgf = "#JSGF V1.0;\ngrammar phones;\npublic <phones> = <phone>+;\n<phone> = \(phones.map(\.0).joined(separator: " | "));\n"
            do { loop = try Self.decoder(configuration, words: phones, jsgf: jsgf) }
            catch { ps_free(decoder); throw error }
        } else {
            loop = nil
        }
        decoders = [decoder] + (loop.map { [$0] } ?? [])
    }

    /// Building decoders is serialised: sphinxbase's configuration and JSGF parsing keep global state
    /// (two recognizers built at once on two threads crashed in free()). Decoding is per decoder.
    private static let building = Mutex(())

    /// A decoder with `words` as its whole dictionary, searching `jsgf`.
    private static func decoder(_ configuration: Configuration, words: [(String, [String])], jsgf: String) throws(CommandError) -> OpaquePointer {
        let built: Result<OpaquePointer, CommandError> = building.withLock { _ in
            Result { () throws(CommandError) in try makeDecoder(configuration, words: words, jsgf: jsgf) }
        }
        return try built.get()
    }

    private static func makeDecoder(_ configuration: Configuration, words: [(String, [String])], jsgf: String) throws(CommandError) -> OpaquePointer {
        let arguments = [
            "-hmm", configuration.acousticModel,
            "-dict", "/dev/null",
            "-beam", "\(configuration.beam)", "-wbeam", "\(configuration.wordBeam)", "-pbeam", "\(configuration.phoneBeam)",
            "-topn", "\(configuration.topN)",
            "-logfn", "/dev/null",
        ]
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
        for (index, (word, phones)) in words.enumerated() {
            guard ps_add_word(decoder, word, phones.joined(separator: " "), index == words.count - 1 ? 1 : 0) >= 0 else {
                ps_free(decoder)
                throw CommandError("pocketsphinx: cannot add the word '\(word)' (\(phones.joined(separator: " ")))")
            }
        }
        guard ps_set_jsgf_string(decoder, searchName, jsgf) == 0, ps_set_search(decoder, searchName) == 0 else {
            ps_free(decoder)
            throw CommandError("pocketsphinx: the grammar was refused")
        }
        return decoder
    }

    deinit {
        for decoder in decoders {
            if inUtterance { ps_end_utt(decoder) }
            ps_free(decoder)
        }
    }

    /// Runs `samples` (the audio just before an utterance) through the decoder and discards the
    /// result, so that its cepstral mean starts the next utterance from the current conditions.
    public func prime(_ samples: UnsafeBufferPointer<Int16>) {
        guard !inUtterance, samples.count >= 1_600 else { return }
        for decoder in decoders {
            ps_start_utt(decoder)
            ps_process_raw(decoder, samples.baseAddress, samples.count, 0, 0)
            ps_end_utt(decoder)
        }
    }

    public func start() {
        for decoder in decoders {
            if inUtterance { ps_end_utt(decoder) }
            ps_start_utt(decoder)
        }
        inUtterance = true
    }

    /// Decodes more audio of the current utterance (16 kHz mono).
    public func process(_ samples: UnsafeBufferPointer<Int16>) {
        guard inUtterance, !samples.isEmpty else { return }
        for decoder in decoders { ps_process_raw(decoder, samples.baseAddress, samples.count, 0, 0) }
    }

    /// The best path so far, without ending the utterance (PocketSphinx's partial result): what
    /// `finish` would say if the audio stopped here, short of the frames it still holds back.
    public func provisional() -> Hypothesis {
        guard inUtterance else { return Hypothesis(text: "", acoustic: 0, loopAcoustic: nil, frames: 0) }
        return bestPath()
    }

    /// Ends the utterance and returns the best path.
    public func finish() -> Hypothesis {
        guard inUtterance else { return Hypothesis(text: "", acoustic: 0, loopAcoustic: nil, frames: 0) }
        for decoder in decoders { ps_end_utt(decoder) }
        inUtterance = false
        return bestPath()
    }

    /// The decoders' best paths as they stand.
    private func bestPath() -> Hypothesis {
        var score: Int32 = 0
        let text = ps_get_hyp(decoder, &score).map { String(cString: $0) } ?? ""
        let path = Self.path(decoder, words: true)
        return Hypothesis(text: text, acoustic: path.acoustic, loopAcoustic: loop.map { Self.path($0, words: false).acoustic },
                          frames: Int(ps_get_n_frames(decoder)), words: path.words)
    }

    /// The best path's acoustic score: the sum over its words, silences and noises included
    /// (measured: leaving the fillers out separates commands from other speech worse, because a path
    /// through the grammar can only fill what it does not cover with silence and noise); and the
    /// frames its words span, when `wanted` (the phone loop's "words" are phones). Fillers are
    /// PocketSphinx's `<s>`, `</s>`, `<sil>`, `[NOISE]`, `++…++`.
    /// PocketSphinx numbers frames on from earlier utterances (a primed decoder's first frame is not
    /// 0), so the span is counted from the path's first frame, which is the utterance's.
    private static func path(_ decoder: OpaquePointer, words wanted: Bool) -> (acoustic: Int64, words: ClosedRange<Int>?) {
        var total: Int64 = 0
        var first: Int?
        var words: ClosedRange<Int>?
        var segment = ps_seg_iter(decoder)
        while let current = segment {
            var acoustic: Int32 = 0, language: Int32 = 0, backoff: Int32 = 0
            _ = ps_seg_prob(current, &acoustic, &language, &backoff)
            total += Int64(acoustic)
            if wanted {
                var start: Int32 = 0, end: Int32 = 0
                ps_seg_frames(current, &start, &end)
                first = min(first ?? Int(start), Int(start))
                if end >= start, let word = ps_seg_word(current).map({ String(cString: $0) }), let initial = word.first, !"<[+".contains(initial) {
                    words = min(words?.lowerBound ?? Int(start), Int(start))...max(words?.upperBound ?? Int(end), Int(end))
                }
            }
            segment = ps_seg_next(current)  // the iterator moves on (and is freed at the end)
        }
        guard let words, let first else { return (total, nil) }
        return (total, (words.lowerBound - first)...(words.upperBound - first))
    }

    /// PocketSphinx logs to stderr by default; Hark reports its own errors.
    private static func silenceLibraryLog() {
        err_set_logfp(nil)
    }
}
