import FoundationEssentials
import HarkAudio
import HarkStore
import Logging
import Synchronization

/// The speaker Hark runs on (`via: speaker`): volume and mute through the ALSA mixer, and timers
/// that Hark keeps itself and rings with ``Chime`` through ALSA playback.
///
/// Commands:
///
///     set_volume{percent}     the mixer control to percent (0–100)
///     volume_up, volume_down  by the spec's volume_step, clamped to 0–100
///     mute, unmute            the control's playback switch (or volume 0 and back, see ALSAMixer)
///     turn_off, turn_on       the same as mute and unmute: the speaker is Hark's own voice and
///                             microphone, so "off" silences it and never stops Hark
///     start_timer{seconds}    stores a timer and schedules it; the receipt names its id
///     cancel_timer            cancels the running timer that would ring soonest (say it again for
///                             the next); fails if none is running
///
/// Volume commands also unmute: someone asking for a volume wants to hear it. Every volume or mute
/// command reports the state the mixer then has (`volume`, `muted`, origin "speaker") to the
/// ``StateObserver``; so does ``start()`` once the mixer is open.
///
/// The mixer is opened at ``start()``; if that fails (no sound card yet, a USB speaker unplugged)
/// Hark still runs its timers, and each volume command tries to open it again. A mixer call that
/// fails drops the mixer, so the next command reopens it.
///
/// Timers live in the ``Store`` (`timer` table) with wall-clock due times, so they survive a
/// restart. Each running timer is a task that sleeps until its due time (in steps of at most
/// ``maxSleep``, re-reading the wall clock, so a clock set by NTP after boot is followed) and then
/// rings: the timer is marked `rang` first (a crash while ringing never rings it twice), the
/// ``TimerEvent`` `rang` is reported, and the chime plays ``Options/chimes`` times (one at a time
/// if several timers ring together). At ``start()`` the running timers are reloaded: those due
/// while Hark was down ring at once if they are overdue by at most ``Options/grace``; older ones
/// are missed: ended (stored as `cancelled`, the table has no `missed` status) and reported as
/// `missed`, since a chime hours late helps nobody. ``shutdown()`` cancels the timer tasks and any
/// chime, and leaves the stored timers running for the next start.
///
/// A timer is meant to be heard: if the speaker is muted when one rings, it is unmuted for the chime
/// and muted again afterwards (unless a command changed the speaker meanwhile). The volume is left
/// as the user set it.
public actor SpeakerTransport: Transport {
    public struct Options: Sendable {
        /// No audio I/O at all: the chime is not played and the mixer is not opened (volume and mute
        /// are kept in memory, starting at 50 % unmuted, and reported as usual). Timers are stored,
        /// ring silently and are marked and reported as usual.
        public var dryRun: Bool
        /// Seconds a timer found overdue at start may be late and still ring; older ones are missed.
        public var grace: Double
        /// Chimes per ring, 0.25 s apart.
        public var chimes: Int

        public init(dryRun: Bool = false, grace: Double = 600, chimes: Int = 3) {
            self.dryRun = dryRun
            self.grace = grace
            self.chimes = chimes
        }
    }

    /// Something that happened to a timer, for the daemon to emit as an event.
    public struct TimerEvent: Sendable, Equatable {
        public enum Kind: String, Sendable {
            case started, rang, cancelled, missed
        }
        public let kind: Kind
        public let id: String
        public let device: String
        public let seconds: Int
        /// When the timer is (was) due, seconds since 1970.
        public let dueAt: Double
        /// When this happened, seconds since 1970.
        public let at: Double
    }

    public typealias TimerObserver = @Sendable (TimerEvent) -> Void

    /// The longest single sleep of a timer task before it re-reads the wall clock.
    public static let maxSleep = 5.0

    public nonisolated let serves: Set<String> = ["speaker"]
    /// With `Options.dryRun` the speaker does no audio I/O, so it keeps its timers in a dry run too.
    public nonisolated var performsInDryRun: Bool { options.dryRun }
    public nonisolated let device: String
    public nonisolated let spec: SpeakerSpec
    private nonisolated let options: Options
    private let store: Store
    private let logger: Logger
    private let onState: StateObserver
    private let onTimer: TimerObserver
    private let playback: ALSAPlayback
    /// What one ring plays: ``Options/chimes`` chimes.
    private let chimeSamples: [Int16]

    private var mixer: (any VolumeControl)?
    /// Scheduled timers by id.
    private var timers: [String: Task<Void, Never>] = [:]
    /// The chime playing or queued last; the next one waits for it.
    private var chime: Task<Void, Never>?
    private var stopped = false
    /// True while a ringing timer has unmuted a muted speaker; a command clears it (the user's word wins).
    private var unmutedForRing = false

    /// `device`: the catalog id of the speaker (state updates and new timers carry it).
    public init(device: String, spec: SpeakerSpec, store: Store, options: Options = Options(), logger: Logger,
                onState: @escaping StateObserver, onTimer: @escaping TimerObserver) {
        self.device = device
        self.spec = spec
        self.options = options
        self.store = store
        self.logger = logger
        self.onState = onState
        self.onTimer = onTimer
        playback = ALSAPlayback(device: spec.playback)
        chimeSamples = Chime.repeated(max(1, options.chimes))
        if options.dryRun { mixer = MemoryVolume() }
    }

    /// Opens the mixer (a failure is logged, not thrown) and reloads the running timers.
    public func start() async throws {
        guard !stopped else { throw DeviceError(.unavailable, "the speaker transport has been shut down") }
        do throws(AudioError) {
            // A dry run's in-memory mixer is not the speaker's state: only changes to it are reported.
            let mixer = try openMixer()
            if !options.dryRun { _ = try reportState(mixer) }
        } catch {
            logger.warning("speaker mixer not available; volume commands will retry", metadata: ["error": "\(error.message)"])
        }
        let running: [Store.TimerEntry]
        do throws(StoreError) { running = try store.runningTimers() }
        catch { throw DeviceError(.transport, "speaker timers not restored: \(error.message)") }
        let now = Store.now()
        for entry in running {
            if now - entry.dueAt > options.grace {
                do throws(StoreError) { try store.endTimer(id: entry.id, status: "cancelled", at: now) }
                catch { logger.error("missed timer not ended", metadata: ["id": "\(entry.id)", "error": "\(error.message)"]) }
                logger.notice("timer missed while Hark was down", metadata: ["id": "\(entry.id)", "late_s": "\(Int(now - entry.dueAt))"])
                report(.missed, entry, at: now)
            } else {
                schedule(entry)
            }
        }
    }

    public func perform(_ action: ValidatedAction) async throws -> String {
        guard !stopped else { throw DeviceError(.unavailable, "the speaker transport has been shut down") }
        // A command that sets the mixer is the user's word on it: a ringing timer leaves it as set.
        if !["start_timer", "cancel_timer"].contains(action.command.name) { unmutedForRing = false }
        switch action.command.name {
        case "set_volume":
            guard let percent = action.integer(.percent) else { throw DeviceError(.badArgument, "set_volume needs percent") }
            return try changeVolume { _ in percent }
        case "volume_up":
            return try changeVolume { $0 + spec.volumeStep }
        case "volume_down":
            return try changeVolume { $0 - spec.volumeStep }
        case "mute", "turn_off":
            return try mixerCall { mixer throws(AudioError) in
                try mixer.setMuted(true)
                return try reportState(mixer)
            }
        case "unmute", "turn_on":
            return try mixerCall { mixer throws(AudioError) in
                try mixer.setMuted(false)
                return try reportState(mixer)
            }
        case "start_timer":
            guard let seconds = action.integer(.seconds) else { throw DeviceError(.badArgument, "start_timer needs seconds") }
            return try startTimer(seconds: seconds, device: action.device.id)
        case "cancel_timer":
            return try cancelTimer()
        default:
            throw DeviceError(.unknownCommand, "the speaker has no command '\(action.command.name)'")
        }
    }

    /// Cancels the timer tasks and any chime and waits for them; stored timers stay running.
    public func shutdown() async {
        stopped = true
        let tasks = Array(timers.values) + (chime.map { [$0] } ?? [])
        timers = [:]
        chime = nil
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        mixer = nil
    }

    /// Returns once no chime is playing or queued.
    public func waitUntilQuiet() async {
        while let current = chime {
            await current.value
            if chime == current { chime = nil }
        }
    }

    // MARK: - Volume and mute

    private func changeVolume(_ target: (Int) -> Int) throws(DeviceError) -> String {
        try mixerCall { mixer throws(AudioError) in
            try mixer.setVolume(min(100, max(0, target(try mixer.volume()))))
            if try mixer.isMuted() { try mixer.setMuted(false) }
            return try reportState(mixer)
        }
    }

    /// Runs `body` on the mixer, opening it if needed; a failure drops it so the next call reopens.
    private func mixerCall(_ body: (any VolumeControl) throws(AudioError) -> String) throws(DeviceError) -> String {
        do {
            return try body(try openMixer())
        } catch {
            if !options.dryRun { mixer = nil }
            throw DeviceError(.transport, error.message)
        }
    }

    private func openMixer() throws(AudioError) -> any VolumeControl {
        if let mixer { return mixer }
        let opened = try ALSAMixer(device: spec.mixer, control: spec.control)
        logger.info("speaker mixer open", metadata: [
            "mixer": "\(spec.mixer)", "control": "\(spec.control)", "raw_range": "\(opened.rawRange)", "switch": "\(opened.hasSwitch)",
        ])
        mixer = opened
        return opened
    }

    /// Reads volume and mute back from the mixer, reports them and returns the receipt.
    @discardableResult
    private func reportState(_ mixer: any VolumeControl) throws(AudioError) -> String {
        let volume = try mixer.volume()
        let muted = try mixer.isMuted()
        onState(StateUpdate(device: device, values: ["volume": .number(Double(volume)), "muted": .bool(muted)], origin: "speaker"))
        return muted ? "volume \(volume), muted" : "volume \(volume)"
    }

    // MARK: - Timers

    private func startTimer(seconds: Int, device: String) throws(DeviceError) -> String {
        let id = UUID().uuidString.lowercased()
        let entry: Store.TimerEntry
        do throws(StoreError) { entry = try store.addTimer(id: id, device: device, seconds: seconds) }
        catch { throw DeviceError(.transport, "timer not stored: \(error.message)") }
        schedule(entry)
        report(.started, entry, at: entry.createdAt)
        return "timer \(id) rings in \(seconds) s"
    }

    private func cancelTimer() throws(DeviceError) -> String {
        do {
            let running = try store.runningTimers()
            guard let soonest = running.first else {
                throw DeviceError(.transport, "no timer is running on '\(device)': nothing to cancel")
            }
            let now = Store.now()
            try store.endTimer(id: soonest.id, status: "cancelled", at: now)
            timers.removeValue(forKey: soonest.id)?.cancel()
            report(.cancelled, soonest, at: now)
            let left = running.count - 1
            return "timer \(soonest.id) cancelled" + (left > 0 ? ", \(left) still running" : "")
        } catch let error as DeviceError {
            throw error
        } catch {
            throw DeviceError(.transport, "timer not cancelled: \(error)")
        }
    }

    /// Starts the task that rings `entry` at its wall-clock due time (at once if already due).
    private func schedule(_ entry: Store.TimerEntry) {
        guard timers[entry.id] == nil else { return }
        timers[entry.id] = Task { [weak self] in
            while true {
                let remaining = entry.dueAt - Store.now()
                if remaining <= 0 { break }
                do { try await Task.sleep(for: .seconds(min(remaining, Self.maxSleep))) } catch { return }
            }
            await self?.ringTimer(entry)
        }
    }

    private func ringTimer(_ entry: Store.TimerEntry) {
        guard !stopped, timers.removeValue(forKey: entry.id) != nil else { return }
        let now = Store.now()
        do throws(StoreError) {
            // False when it was cancelled meanwhile (or rung by another process on the same file).
            guard try store.endTimer(id: entry.id, status: "rang", at: now) else { return }
        } catch {
            logger.error("timer not marked as rung; ringing anyway", metadata: ["id": "\(entry.id)", "error": "\(error.message)"])
        }
        logger.info("timer rang", metadata: ["id": "\(entry.id)", "late_ms": "\(Int((now - entry.dueAt) * 1000))"])
        report(.rang, entry, at: now)
        guard !options.dryRun else { return }
        let previous = chime
        chime = Task { [weak self, playback, chimeSamples, logger] in
            await previous?.value
            guard !Task.isCancelled else { return }
            await self?.unmuteForRing()
            do {
                try await playback.play(chimeSamples, rate: Chime.rate)
            } catch {
                logger.warning("timer chime not played", metadata: ["id": "\(entry.id)", "error": "\(error)"])
            }
            await self?.muteAfterRing()
        }
    }

    /// Unmutes a muted speaker for a ringing timer.
    private func unmuteForRing() {
        guard let mixer = try? openMixer(), (try? mixer.isMuted()) == true else { return }
        do throws(AudioError) {
            try mixer.setMuted(false)
            unmutedForRing = true
        } catch {
            logger.warning("speaker not unmuted for the timer", metadata: ["error": "\(error.message)"])
        }
    }

    /// Mutes again after the chime, unless a command changed the speaker while it rang.
    private func muteAfterRing() {
        guard unmutedForRing, let mixer = try? openMixer() else { return }
        unmutedForRing = false
        do throws(AudioError) { try mixer.setMuted(true) }
        catch { logger.warning("speaker not muted again after the timer", metadata: ["error": "\(error.message)"]) }
    }

    private func report(_ kind: TimerEvent.Kind, _ entry: Store.TimerEntry, at time: Double) {
        onTimer(TimerEvent(kind: kind, id: entry.id, device: entry.device, seconds: entry.seconds, dueAt: entry.dueAt, at: time))
    }
}

/// The mixer of a dry run: volume and mute in memory, no device I/O.
final class MemoryVolume: VolumeControl {
    private let state = Mutex((volume: 50, muted: false))
    func volume() -> Int { state.withLock { $0.volume } }
    func setVolume(_ percent: Int) { state.withLock { $0.volume = min(100, max(0, percent)) } }
    func isMuted() -> Bool { state.withLock { $0.muted } }
    func setMuted(_ muted: Bool) { state.withLock { $0.muted = muted } }
}
