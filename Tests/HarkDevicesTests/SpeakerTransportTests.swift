import Foundation
import HarkAudio
import HarkStore
import HarkTestSupport
import Logging
import Synchronization
import Testing
@testable import HarkDevices

/// SpeakerTransport with the real ALSA code: the mixer is the virtual `hark_test` control device
/// (values read back from the plugin's state file), the chime goes through alsa-lib's `file`
/// plugin into a raw file, and timers live in a real on-disk Store.
@Suite("The speaker transport: ALSA volume and mute, timers that survive a restart")
final class SpeakerTransportTests {
    let directory: URL
    let virtual: VirtualMixer
    let chimePath: String
    let databasePath: String
    let store: Store
    let recorder = Recorder()

    init() throws {
        directory = URL(fileURLWithPath: makeTemporaryDirectory("hark-speaker"))
        virtual = try VirtualMixer(directory: directory)
        chimePath = directory.appendingPathComponent("chime.raw").path
        databasePath = directory.appendingPathComponent("hark.sqlite").path
        store = try Store(path: databasePath)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Warnings and errors only: a chime that failed to play shows up in the test output.
    static let logger: Logger = {
        var logger = Logger(label: "hark.speaker.tests")
        logger.logLevel = .warning
        return logger
    }()

    func spec(control: String = "Master", mixer: String? = nil) -> SpeakerSpec {
        SpeakerSpec(mixer: mixer ?? virtual.device, control: control, playback: capturingPlaybackDevice(path: chimePath), volumeStep: 10)
    }

    func transport(_ spec: SpeakerSpec? = nil, options: SpeakerTransport.Options = .init()) -> SpeakerTransport {
        let recorder = recorder
        return SpeakerTransport(device: "speaker", spec: spec ?? self.spec(), store: store, options: options,
                                logger: Self.logger,
                                onState: { recorder.record($0) },
                                onTimer: { recorder.record($0) })
    }

    func action(_ command: String, _ args: [String: JSONValue] = [:], spec: SpeakerSpec? = nil) throws -> ValidatedAction {
        let device = Device(id: "speaker", type: .media, thisDevice: true, transport: .speaker(spec ?? self.spec()))
        return try Validator(catalog: Catalog(rooms: [:], devices: [device])).validate(Action(device: "speaker", command: command, args: args))
    }

    /// The stored status of a timer, read through a second connection to the database file.
    func status(of id: String) throws -> String? {
        try Store(path: databasePath).timer(id: id)?.status
    }

    // MARK: - Volume and mute

    @Test("Given the speaker on the virtual Master, when set_volume 40, then the mixer holds 40 % (raw 102), the receipt says so and the observer gets volume 40, not muted")
    func setVolume() async throws {
        let speaker = transport()
        try await speaker.start()

        let receipt = try await speaker.perform(action("set_volume", ["percent": .number(40)]))

        #expect(receipt == "volume 40")
        #expect(try virtual.values()[VirtualMixer.masterVolume] == [102, 102])
        #expect(recorder.lastState == StateUpdate(device: "speaker", values: ["volume": .number(40), "muted": .bool(false)], origin: "speaker"))
        await speaker.shutdown()
    }

    @Test("Given the virtual mixer at its defaults, when the transport starts, then it reports the mixer's state: volume 50, not muted")
    func reportsStateAtStart() async throws {
        let speaker = transport()

        try await speaker.start()

        #expect(recorder.lastState?.values == ["volume": .number(50), "muted": .bool(false)])
        await speaker.shutdown()
    }

    @Test("Given volume 95 and then 5, when volume_up and volume_down step by 10, then they clamp at 100 and 0")
    func volumeStepsClamp() async throws {
        let speaker = transport()
        try await speaker.start()

        _ = try await speaker.perform(action("set_volume", ["percent": .number(95)]))
        let up = try await speaker.perform(action("volume_up"))
        let rawUp = try virtual.values()[VirtualMixer.masterVolume]
        _ = try await speaker.perform(action("set_volume", ["percent": .number(5)]))
        let down = try await speaker.perform(action("volume_down"))

        #expect(up == "volume 100")
        #expect(rawUp == [255, 255])
        #expect(down == "volume 0")
        #expect(try virtual.values()[VirtualMixer.masterVolume] == [0, 0])
        #expect(recorder.lastState?.values["volume"] == .number(0))
        await speaker.shutdown()
    }

    @Test("Given volume 40, when volume_up then volume_down, then the mixer goes to 50 and back to 40")
    func volumeSteps() async throws {
        let speaker = transport()
        try await speaker.start()
        _ = try await speaker.perform(action("set_volume", ["percent": .number(40)]))

        let up = try await speaker.perform(action("volume_up"))
        let rawUp = try virtual.values()[VirtualMixer.masterVolume]
        let down = try await speaker.perform(action("volume_down"))

        #expect(up == "volume 50")
        #expect(rawUp == [128, 128])  // round(0.5 · 255)
        #expect(down == "volume 40")
        #expect(try virtual.values()[VirtualMixer.masterVolume] == [102, 102])
        await speaker.shutdown()
    }

    @Test("Given volume 40, when mute, turn_on, turn_off and volume_up, then the switch follows (off, on, off, on) and each state is reported")
    func muteAndPower() async throws {
        let speaker = transport()
        try await speaker.start()
        _ = try await speaker.perform(action("set_volume", ["percent": .number(40)]))

        let muted = try await speaker.perform(action("mute"))
        let switchMuted = try virtual.values()[VirtualMixer.masterSwitch]
        let stateMuted = recorder.lastState?.values
        let on = try await speaker.perform(action("turn_on"))
        let switchOn = try virtual.values()[VirtualMixer.masterSwitch]
        let off = try await speaker.perform(action("turn_off"))
        let switchOff = try virtual.values()[VirtualMixer.masterSwitch]
        let up = try await speaker.perform(action("volume_up"))

        #expect(muted == "volume 40, muted")
        #expect(switchMuted == [0, 0])
        #expect(stateMuted == ["volume": .number(40), "muted": .bool(true)])
        #expect(on == "volume 40")
        #expect(switchOn == [1, 1])
        #expect(off == "volume 40, muted")
        #expect(switchOff == [0, 0])
        // A volume command unmutes.
        #expect(up == "volume 50")
        #expect(try virtual.values()[VirtualMixer.masterSwitch] == [1, 1])
        #expect(recorder.lastState?.values == ["volume": .number(50), "muted": .bool(false)])
        await speaker.shutdown()
    }

    @Test("Given the switchless PCM control at 40, when mute and unmute, then the raw volume goes to its minimum and back while the state keeps volume 40")
    func muteWithoutSwitch() async throws {
        let speaker = transport(spec(control: "PCM"))
        try await speaker.start()
        _ = try await speaker.perform(action("set_volume", ["percent": .number(40)], spec: spec(control: "PCM")))

        let muted = try await speaker.perform(action("mute", spec: spec(control: "PCM")))
        let rawMuted = try virtual.values()[VirtualMixer.pcmVolume]
        let unmuted = try await speaker.perform(action("unmute", spec: spec(control: "PCM")))

        #expect(muted == "volume 40, muted")
        #expect(rawMuted == [4])
        #expect(unmuted == "volume 40")
        #expect(try virtual.values()[VirtualMixer.pcmVolume] == [16])
        await speaker.shutdown()
    }

    @Test("Given a mixer device that does not exist, when the transport starts and set_volume runs, then start succeeds and the action fails naming the mixer")
    func missingMixer() async throws {
        let speaker = transport(spec(mixer: "hark_no_such_ctl"))
        try await speaker.start()

        let error = await #expect(throws: DeviceError.self) {
            try await speaker.perform(self.action("set_volume", ["percent": .number(40)]))
        }

        #expect(error?.code == .transport)
        #expect(error?.message.hasPrefix("cannot open ALSA mixer 'hark_no_such_ctl' (snd_hctl_open: ") == true, "\(error?.message ?? "")")
        #expect(recorder.lastState == nil)
        await speaker.shutdown()
    }

    // MARK: - Timers

    @Test("Given a running speaker, when start_timer 1 s, then it rings once on time, the chime is played into the file, and the store says rang")
    func timerRings() async throws {
        let speaker = transport()
        try await speaker.start()

        let receipt = try await speaker.perform(action("start_timer", ["seconds": .number(1)]))
        let id = try #require(recorder.timerEvents.first?.id)
        let rang = await recorder.wait(for: .rang, id: id)
        await speaker.waitUntilQuiet()

        #expect(receipt == "timer \(id) rings in 1 s")
        #expect(recorder.timerEvents.map(\.kind) == [.started, .rang])
        let event = try #require(rang)
        #expect(event.at >= event.dueAt)
        #expect(event.at - event.dueAt < 3, "rang \(event.at - event.dueAt) s late")
        #expect(try status(of: id) == "rang")
        #expect(try readRawSamples(chimePath) == Chime.repeated(3))
        #expect(try store.runningTimers().isEmpty)
        await speaker.shutdown()
    }

    @Test("Given a muted speaker, when a timer rings, then it is unmuted for the chime and muted again after it")
    func mutedSpeakerRingsAudibly() async throws {
        let speaker = transport()
        try await speaker.start()
        _ = try await speaker.perform(action("mute"))
        let id = try #require(try await speaker.perform(action("start_timer", ["seconds": .number(1)])).split(separator: " ").dropFirst().first.map(String.init))
        _ = await recorder.wait(for: .rang, id: id)
        await speaker.waitUntilQuiet()

        // The plugin stores each channel as it is written: keep the settled states (both channels alike).
        let settled = try virtual.history().compactMap { $0[VirtualMixer.masterSwitch] }.filter { Set($0).count == 1 }
        let transitions = settled.enumerated().filter { $0.offset == 0 || settled[$0.offset - 1] != $0.element }.map(\.element)
        #expect(transitions.suffix(3) == [[0, 0], [1, 1], [0, 0]], "switch history: \(transitions)")
        #expect(try readRawSamples(chimePath) == Chime.repeated(3))
        await speaker.shutdown()
    }

    @Test("Given a muted speaker whose timer is ringing, when the user unmutes meanwhile, then the ring does not mute it again")
    func unmuteDuringRingWins() async throws {
        let speaker = transport()
        try await speaker.start()
        _ = try await speaker.perform(action("mute"))
        _ = try await speaker.perform(action("start_timer", ["seconds": .number(1)]))
        let id = try #require(recorder.timerEvents.first?.id)
        _ = await recorder.wait(for: .rang, id: id)
        _ = try await speaker.perform(action("unmute"))
        await speaker.waitUntilQuiet()
        #expect(try virtual.values()[VirtualMixer.masterSwitch] == [1, 1])
        await speaker.shutdown()
    }

    @Test("Given a 4 s timer, when the transport shuts down 2 s in and a new one starts on the same store, then the new one rings it at its first due time, once")
    func timerSurvivesRestart() async throws {
        let first = transport()
        try await first.start()
        _ = try await first.perform(action("start_timer", ["seconds": .number(4)]))
        let started = try #require(recorder.timerEvents.first)
        try await Task.sleep(for: .seconds(2))

        await first.shutdown()
        let stillRunning = try store.runningTimers().map(\.id)
        let second = transport()
        try await second.start()
        let rang = await recorder.wait(for: .rang, id: started.id)
        await second.waitUntilQuiet()

        #expect(stillRunning == [started.id])
        let event = try #require(rang)
        #expect(event.dueAt == started.dueAt)
        #expect(event.at >= started.dueAt)
        // Counting the 4 s again from the restart would make it about 2 s late.
        #expect(event.at - started.dueAt < 1.9, "rang \(event.at - started.dueAt) s late")
        #expect(recorder.timerEvents.map(\.kind) == [.started, .rang])
        #expect(try status(of: started.id) == "rang")
        #expect(try readRawSamples(chimePath) == Chime.repeated(3))
        await second.shutdown()
    }

    @Test("Given a 1 s timer, when cancel_timer runs, then it is cancelled in the store, reported, and nothing rings")
    func cancelTimer() async throws {
        let speaker = transport()
        try await speaker.start()
        _ = try await speaker.perform(action("start_timer", ["seconds": .number(1)]))
        let id = try #require(recorder.timerEvents.first?.id)

        let receipt = try await speaker.perform(action("cancel_timer"))
        try await Task.sleep(for: .seconds(1.5))
        await speaker.waitUntilQuiet()

        #expect(receipt == "timer \(id) cancelled")
        #expect(recorder.timerEvents.map(\.kind) == [.started, .cancelled])
        #expect(try status(of: id) == "cancelled")
        #expect(try readRawSamples(chimePath) == nil)
        await speaker.shutdown()
    }

    @Test("Given timers of 60 s and 30 s, when cancel_timer runs, then the one due soonest is cancelled and the other keeps running")
    func cancelsSoonest() async throws {
        let speaker = transport()
        try await speaker.start()
        _ = try await speaker.perform(action("start_timer", ["seconds": .number(60)]))
        _ = try await speaker.perform(action("start_timer", ["seconds": .number(30)]))
        let ids = recorder.timerEvents.map(\.id)

        let receipt = try await speaker.perform(action("cancel_timer"))

        #expect(receipt == "timer \(ids[1]) cancelled, 1 still running")
        #expect(try status(of: ids[1]) == "cancelled")
        #expect(try store.runningTimers().map(\.id) == [ids[0]])
        await speaker.shutdown()
    }

    @Test("Given no running timer, when cancel_timer runs, then it fails saying no timer is running")
    func cancelWithoutTimer() async throws {
        let speaker = transport()
        try await speaker.start()

        let error = await #expect(throws: DeviceError.self) {
            try await speaker.perform(self.action("cancel_timer"))
        }

        #expect(error?.code == .transport)
        #expect(error?.message == "no timer is running on 'speaker': nothing to cancel")
        await speaker.shutdown()
    }

    @Test("Given a dry run, when a 1 s timer rings and set_volume runs, then it is marked rang and reported but no chime file is written and the mixer is untouched")
    func dryRunIsSilent() async throws {
        let speaker = transport(options: .init(dryRun: true))
        try await speaker.start()

        _ = try await speaker.perform(action("start_timer", ["seconds": .number(1)]))
        let id = try #require(recorder.timerEvents.first?.id)
        let rang = await recorder.wait(for: .rang, id: id)
        await speaker.waitUntilQuiet()
        let volume = try await speaker.perform(action("set_volume", ["percent": .number(40)]))

        #expect(rang != nil)
        #expect(try status(of: id) == "rang")
        #expect(try readRawSamples(chimePath) == nil)
        #expect(volume == "volume 40")
        #expect(recorder.lastState?.values == ["volume": .number(40), "muted": .bool(false)])
        #expect(!FileManager.default.fileExists(atPath: virtual.statePath))
        await speaker.shutdown()
    }

    @Test("Given timers that fell due while Hark was down, 20 s and 2 h ago, when the transport starts, then the recent one rings at once and the old one is missed")
    func overdueAtStart() async throws {
        let now = Store.now()
        let recent = try store.addTimer(id: "recent", device: "speaker", seconds: 60, at: now - 80)
        let old = try store.addTimer(id: "old", device: "speaker", seconds: 60, at: now - 7_260)
        let speaker = transport(options: .init(grace: 600))

        try await speaker.start()
        let rang = await recorder.wait(for: .rang, id: recent.id)
        await speaker.waitUntilQuiet()

        #expect(rang != nil)
        #expect(recorder.timerEvents.map { "\($0.kind) \($0.id)" } == ["missed old", "rang recent"])
        #expect(try status(of: recent.id) == "rang")
        #expect(try status(of: old.id) == "cancelled")
        #expect(try readRawSamples(chimePath) == Chime.repeated(3))
        await speaker.shutdown()
    }

    @Test("Given a transport that has shut down, when an action arrives, then it fails as unavailable")
    func afterShutdown() async throws {
        let speaker = transport()
        try await speaker.start()
        await speaker.shutdown()

        let error = await #expect(throws: DeviceError.self) {
            try await speaker.perform(self.action("mute"))
        }

        #expect(error?.code == .unavailable)
    }
}

/// What the transport reported, safe from any thread.
final class Recorder: Sendable {
    private let states = Mutex<[StateUpdate]>([])
    private let timers = Mutex<[SpeakerTransport.TimerEvent]>([])

    func record(_ update: StateUpdate) { states.withLock { $0.append(update) } }
    func record(_ event: SpeakerTransport.TimerEvent) { timers.withLock { $0.append(event) } }

    var lastState: StateUpdate? { states.withLock { $0.last } }
    var timerEvents: [SpeakerTransport.TimerEvent] { timers.withLock { $0 } }

    /// Waits up to `timeout` seconds for a timer event; nil if none came.
    func wait(for kind: SpeakerTransport.TimerEvent.Kind, id: String, timeout: Double = 10) async -> SpeakerTransport.TimerEvent? {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            if let event = timerEvents.first(where: { $0.kind == kind && $0.id == id }) { return event }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }
}
