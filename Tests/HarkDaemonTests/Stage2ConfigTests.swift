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
              memory_budget_mb: 600
            """, file: "harkd.yaml")
        let stage2 = config.stage2
        #expect(stage2.enabled == nil && stage2.model == "/var/lib/hark/models/hark-moe-q4_0.gguf")
        #expect(stage2.whisper == "/var/lib/hark/models/whisper-tiny.en" && stage2.worker == "/usr/local/bin/hark-stage2")
        #expect(stage2.start == .onWake && stage2.idleUnload == 120 && stage2.threads == 3 && stage2.context == 2048)
        #expect(stage2.maxTokens == 96 && stage2.maxActions == 4 && stage2.requestTimeout == 20 && stage2.cacheDirectory == "/var/lib/hark/stage2")
        #expect(try DaemonConfig.parse(yaml: "stage2: false\n").stage2.enabled == false)
        #expect(stage2.backend == nil && stage2.remote == nil && stage2.memoryBudgetMegabytes == 600)
    }

    @Test func givenTheOpenAIBackend_thenItsSectionIsRead() throws {
        let config = try DaemonConfig.parse(yaml: """
            stage2:
              backend: openai
              openai:
                url: http://192.168.1.20:8000/v1/
                model: qwen2.5-7b-instruct
                api_key_env: HARK_OPENAI_KEY
                timeout: 2.5
                response_format: json_object
            """, file: "harkd.yaml")
        let remote = try #require(config.stage2.remote)
        #expect(config.stage2.backend == "openai")
        #expect(remote.url == "http://192.168.1.20:8000/v1" && remote.model == "qwen2.5-7b-instruct", "the trailing slash is dropped")
        #expect(remote.apiKeyEnvironment == "HARK_OPENAI_KEY" && remote.timeout == 2.5 && remote.responseFormat == .jsonObject)
        let defaults = try #require(try DaemonConfig.parse(yaml: "stage2:\n  backend: openai\n  openai: {url: \"https://llm.lan/v1\", model: m}\n").stage2.remote)
        #expect(defaults.apiKeyEnvironment == nil && defaults.timeout == 10 && defaults.responseFormat == .jsonSchema)
    }

    @Test(arguments: [
        ("stage2:\n  start: eventually\n", "harkd.yaml:2: stage2.start: 'eventually' is not a start policy (on_handoff, on_wake, always)"),
        ("stage2:\n  idle_unload: 0\n", "harkd.yaml:2: stage2.idle_unload: must be 1–86400 seconds"),
        ("stage2:\n  threads: 2.5\n", "harkd.yaml:2: stage2.threads: must be a whole number 1–64"),
        ("stage2:\n  max_actions: 0\n", "harkd.yaml:2: stage2.max_actions: must be a whole number 1–64"),
        ("stage2:\n  context: 100\n", "harkd.yaml:2: stage2.context: must be a whole number 256–32768"),
        ("stage2:\n  model: \"\"\n", "harkd.yaml:2: stage2.model: must be a path without control characters"),
        ("stage2:\n  budget: 5\n", "harkd.yaml:2: stage2: unknown key 'budget' (expected backend, cache_dir, context, idle_unload, max_actions, max_tokens, memory_budget_mb, model, openai, request_timeout, start, threads, whisper, worker)"),
        ("stage2:\n  memory_budget_mb: 8\n", "harkd.yaml:2: stage2.memory_budget_mb: must be a whole number 16–1048576"),
        ("stage2:\n  backend: cloud\n", "harkd.yaml:2: stage2.backend: 'cloud' is not a backend (local, openai)"),
        ("stage2:\n  backend: openai\n", "harkd.yaml:2: stage2: backend: openai needs an openai: section with url and model"),
        ("stage2:\n  openai:\n    model: m\n", "harkd.yaml:3: stage2.openai: missing 'url' (the server's base URL, e.g. http://127.0.0.1:8080/v1)"),
        ("stage2:\n  openai:\n    url: ftp://llm.lan/v1\n    model: m\n", "harkd.yaml:3: stage2.openai.url: must be an http:// or https:// URL, got 'ftp://llm.lan/v1'"),
        ("stage2:\n  openai:\n    url: http://llm.lan/v1\n", "harkd.yaml:3: stage2.openai: missing 'model' (the model name the server serves)"),
        ("stage2:\n  openai: {url: \"http://llm.lan/v1\", model: m, api_key_env: my-key}\n", "harkd.yaml:2: stage2.openai.api_key_env: must be an environment variable name like HARK_OPENAI_KEY, got 'my-key'"),
        ("stage2:\n  openai: {url: \"http://llm.lan/v1\", model: m, timeout: 0}\n", "harkd.yaml:2: stage2.openai.timeout: must be 0.1–600 seconds"),
        ("stage2:\n  openai: {url: \"http://llm.lan/v1\", model: m, response_format: text}\n", "harkd.yaml:2: stage2.openai.response_format: 'text' is not a response format (json_schema, json_object)"),
        ("stage2:\n  openai: {url: \"http://llm.lan/v1\", model: m, key: k}\n", "harkd.yaml:2: stage2.openai: unknown key 'key' (expected api_key_env, model, response_format, timeout, url)"),
        ("stage2: maybe\n", "harkd.yaml:1: stage2: expected true or false, got 'maybe'"),
    ])
    func givenABadStage2Setting_whenRead_thenTheErrorNamesFileAndKey(yaml: String, message: String) {
        let error = #expect(throws: DaemonError.self) { try DaemonConfig.parse(yaml: yaml, file: "harkd.yaml") }
        #expect(error?.message == message)
    }
}
