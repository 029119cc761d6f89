import HarkCommands
import HarkDevices
import Logging

extension CommandStage {
    /// The command stage for a catalog: its grammar, the pronunciations of every word, the recognizer,
    /// and Whisper as its second pass when `secondPass` is given (the model is loaded and checked here).
    /// A word without a pronunciation is an error naming the device and the word.
    /// `energy` measures each second-pass decision as a stage-2 request. Rejected utterances are left
    /// in `handoff` (stage 2's).
    public static func build(catalog: Catalog, configuration: Configuration, secondPass: WhisperSecondPass.Configuration? = nil,
                             energy: StageTwoEnergy? = nil, handoff: UtteranceHandoff = UtteranceHandoff(),
                             logger: Logger) throws(DaemonError) -> CommandStage {
        let started = ContinuousClock.now
        let grammar = CommandGrammar(catalog: catalog)
        let pronunciations: Pronunciations
        let stage: CommandStage
        do { pronunciations = try Pronunciations(grammar: grammar, catalog: catalog, dictionary: configuration.recognizer.dictionary) }
        catch { throw DaemonError(error.description) }
        do { stage = try CommandStage(grammar: grammar, pronunciations: pronunciations, configuration: configuration, handoff: handoff) }
        catch { throw DaemonError(error.description) }
        if let secondPass {
            stage.secondPass = try SecondPassLoader(configuration: secondPass, grammar: grammar, energy: energy, logger: logger).secondPass
        }
        let generated = pronunciations.sources.filter { if case .dictionary = $0.value { false } else { true } }
        logger.info("command grammar", metadata: [
            "phrases": "\(grammar.phrases.count)", "words": "\(pronunciations.entries.count)",
            "not_in_dictionary": "\(generated.keys.sorted())", "ms": "\((ContinuousClock.now - started) / .milliseconds(1))",
        ])
        return stage
    }
}
