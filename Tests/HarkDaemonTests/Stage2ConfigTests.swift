import HarkDaemon
import Testing

/// The `stage2:` section of harkd.yaml: every key read, `false` switching it off, and bad values one
/// line naming the file, the line and the key.
@Suite struct Stage2ConfigTests {
    @Test func givenEveryKey_thenEachIsRead() throws {
        let config = try DaemonConfig.parse(yaml: """
            stage2:
              model: /var/lib/hark/models/hark-moe-q4_0.gguf
              whisper: /var/lib/hark/models/whisper-tiny.en
              worker: /usr/local/bin/hark-stage2
              start: on_wake
              idle_unload: 120
              threads: 3
              context: 2048
              max_tokens: 96
              max_actions: 4
              request_timeout: 20
              cache_dir: /var/lib/hark/stage2
            """, file: "harkd.yaml")
        let stage2 = config.stage2
        #expect(stage2.enabled == nil && stage2.model == "/var/lib/hark/models/hark-moe-q4_0.gguf")
        #expect(stage2.whisper == "/var/lib/hark/models/whisper-tiny.en" && stage2.worker == "/usr/local/bin/hark-stage2")
        #expect(stage2.start == .onWake && stage2.idleUnload == 120 && stage2.threads == 3 && stage2.context == 2048)
        #expect(stage2.maxTokens == 96 && stage2.maxActions == 4 && stage2.requestTimeout == 20 && stage2.cacheDirectory == "/var/lib/hark/stage2")
        #expect(try DaemonConfig.parse(yaml: "stage2: false\n").stage2.enabled == false)
    }

    @Test(arguments: [
        ("stage2:\n  start: eventually\n", "harkd.yaml:2: stage2.start: 'eventually' is not a start policy (on_handoff, on_wake, always)"),
        ("stage2:\n  idle_unload: 0\n", "harkd.yaml:2: stage2.idle_unload: must be 1–86400 seconds"),
        ("stage2:\n  threads: 2.5\n", "harkd.yaml:2: stage2.threads: must be a whole number 1–64"),
        ("stage2:\n  max_actions: 0\n", "harkd.yaml:2: stage2.max_actions: must be a whole number 1–64"),
        ("stage2:\n  context: 100\n", "harkd.yaml:2: stage2.context: must be a whole number 256–32768"),
        ("stage2:\n  model: \"\"\n", "harkd.yaml:2: stage2.model: must be a path without control characters"),
        ("stage2:\n  budget: 5\n", "harkd.yaml:2: stage2: unknown key 'budget' (expected cache_dir, context, idle_unload, max_actions, max_tokens, model, request_timeout, start, threads, whisper, worker)"),
        ("stage2: maybe\n", "harkd.yaml:1: stage2: expected true or false, got 'maybe'"),
    ])
    func givenABadStage2Setting_whenRead_thenTheErrorNamesFileAndKey(yaml: String, message: String) {
        let error = #expect(throws: DaemonError.self) { try DaemonConfig.parse(yaml: yaml, file: "harkd.yaml") }
        #expect(error?.message == message)
    }
}
