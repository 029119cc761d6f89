import CALSA
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The volume and mute of one audio output: the speaker Hark runs on. ``ALSAMixer`` is the real
/// one; a dry run uses a stand-in that touches no device.
///
/// `volume` is the level the output plays at when it is not muted, 0–100; muting does not change
/// it.
public protocol VolumeControl: Sendable {
    func volume() throws(AudioError) -> Int
    /// Sets the volume (clamped to 0–100); the mute state stays as it is.
    func setVolume(_ percent: Int) throws(AudioError)
    func isMuted() throws(AudioError) -> Bool
    func setMuted(_ muted: Bool) throws(AudioError)
}

/// One simple control of an ALSA mixer (`amixer -D DEVICE sget CONTROL`): its playback volume as
/// 0–100 and its playback switch as mute.
///
/// Opening: `snd_mixer_open`, `snd_hctl_open` non-blocking + `snd_mixer_attach_hctl` (what
/// `snd_mixer_attach` does, but non-blocking, so draining pending control events never waits),
/// `snd_mixer_selem_register`, `snd_mixer_load`. `control` is a simple control name as amixer
/// prints it, `Master` or `Master,1` for index 1.
///
/// Volume: 0–100 maps linearly onto the element's raw range (`amixer set Master 40%` does the
/// same); a percentage Hark set reads back unchanged even where the range has fewer than 100 steps.
/// Setting writes every channel (a balance is not kept); reading gives the loudest channel.
///
/// Mute: the playback switch of every channel (muted when all are off). An element without a
/// switch (some `PCM` or `Speaker` controls) is muted by remembering its volume and setting the
/// raw minimum; unmute restores what was remembered. That memory lives in this object: after a
/// restart such an element reads as unmuted at volume 0. Changing the volume of an element muted
/// that way unmutes it.
///
/// Each call first drains pending control events (volume changed by `alsamixer`, another
/// program) and looks the element up again, so an element removed meanwhile gives an error,
/// never a stale pointer. Errors are one line naming the call, the mixer device and the control.
///
/// Thread-safe: the handle and what is remembered sit behind one `Mutex`.
public final class ALSAMixer: VolumeControl {
    public let device: String
    /// The control as given, e.g. `Master` or `Master,1`.
    public let control: String
    /// The element's raw playback volume range.
    public let rawRange: ClosedRange<Int>
    /// Whether the element has a playback switch (else mute sets the volume to the minimum).
    public let hasSwitch: Bool

    private struct State {
        let mixer: OpaquePointer
        let selector: OpaquePointer
        /// The last percentage set and the raw value it became.
        var lastSet: (percent: Int, raw: Int)?
        /// The volume to restore when muted without a switch.
        var mutedVolume: Int?
    }

    private let state: Mutex<State>

    /// Opens `device` and finds `control`; throws if either is missing or the control has no
    /// playback volume.
    public init(device: String, control: String) throws(AudioError) {
        self.device = device
        self.control = control
        let (name, index) = Self.parse(control)

        var opened: OpaquePointer?
        try alsaCall("snd_mixer_open", device: device) { snd_mixer_open(&opened, 0) }
        let mixer = opened!
        var allocated: OpaquePointer?
        do {
            try alsaCall("snd_mixer_selem_id_malloc", device: device) { snd_mixer_selem_id_malloc(&allocated) }
        } catch {
            snd_mixer_close(mixer)
            throw error
        }
        let selector = allocated!
        snd_mixer_selem_id_set_name(selector, name)
        snd_mixer_selem_id_set_index(selector, index)
        do {
            (rawRange, hasSwitch) = try Self.load(mixer, selector, device: device, control: control)
        } catch {
            snd_mixer_selem_id_free(selector)
            snd_mixer_close(mixer)
            throw error
        }
        state = Mutex(State(mixer: mixer, selector: selector))
    }

    /// Attaches the control device, loads the simple elements and checks the one asked for.
    private static func load(_ mixer: OpaquePointer, _ selector: OpaquePointer, device: String, control: String)
        throws(AudioError) -> (ClosedRange<Int>, Bool)
    {
        var hctl: OpaquePointer?
        do {
            try alsaCall("snd_hctl_open", device: device) { snd_hctl_open(&hctl, device, SND_CTL_NONBLOCK) }
        } catch {
            let code = error.systemErrorCode ?? EIO
            throw AudioError(
                code: .deviceUnavailable,
                message: "cannot open ALSA mixer '\(device)' (snd_hctl_open: \(alsaErrorText(code))): check the mixer device name and 'aplay -l' for the sound cards",
                systemErrorCode: code, underlying: error)
        }
        do {
            try alsaCall("snd_mixer_attach_hctl", device: device) { snd_mixer_attach_hctl(mixer, hctl) }
        } catch {
            snd_hctl_close(hctl)
            throw error
        }
        try alsaCall("snd_mixer_selem_register", device: device) { snd_mixer_selem_register(mixer, nil, nil) }
        try alsaCall("snd_mixer_load", device: device) { snd_mixer_load(mixer) }

        guard let element = snd_mixer_find_selem(mixer, selector) else {
            throw AudioError(
                code: .deviceUnavailable,
                message: "ALSA mixer '\(device)' has no simple control '\(control)' (\(describePlaybackControls(mixer))): use one of those as the speaker's control")
        }
        guard snd_mixer_selem_has_playback_volume(element) != 0 else {
            throw AudioError(
                code: .deviceUnavailable,
                message: "simple control '\(control)' of ALSA mixer '\(device)' has no playback volume (\(describePlaybackControls(mixer))): use one of those as the speaker's control")
        }
        var low = 0, high = 0
        try alsaCall("snd_mixer_selem_get_playback_volume_range", device: device) {
            snd_mixer_selem_get_playback_volume_range(element, &low, &high)
        }
        return (min(low, high)...max(low, high), snd_mixer_selem_has_playback_switch(element) != 0)
    }

    deinit {
        state.withLock { state in
            snd_mixer_selem_id_free(state.selector)
            snd_mixer_close(state.mixer)
        }
    }

    public func volume() throws(AudioError) -> Int {
        try locked { (state, element) throws(AudioError) in try currentVolume(&state, element) }
    }

    public func setVolume(_ percent: Int) throws(AudioError) {
        let percent = min(100, max(0, percent))
        try locked { (state, element) throws(AudioError) in
            let raw = rawValue(percent)
            try call("snd_mixer_selem_set_playback_volume_all") { snd_mixer_selem_set_playback_volume_all(element, raw) }
            state.lastSet = (percent, raw)
            state.mutedVolume = nil
        }
    }

    public func isMuted() throws(AudioError) -> Bool {
        try locked { (state, element) throws(AudioError) in try currentMute(&state, element) }
    }

    public func setMuted(_ muted: Bool) throws(AudioError) {
        try locked { (state, element) throws(AudioError) in
            if hasSwitch {
                try call("snd_mixer_selem_set_playback_switch_all") { snd_mixer_selem_set_playback_switch_all(element, muted ? 0 : 1) }
                return
            }
            guard muted != (try currentMute(&state, element)) else { return }
            if muted {
                let percent = try currentVolume(&state, element)
                let low = rawRange.lowerBound
                try call("snd_mixer_selem_set_playback_volume_all") { snd_mixer_selem_set_playback_volume_all(element, low) }
                state.mutedVolume = percent
            } else if let percent = state.mutedVolume {
                let raw = rawValue(percent)
                try call("snd_mixer_selem_set_playback_volume_all") { snd_mixer_selem_set_playback_volume_all(element, raw) }
                state.lastSet = (percent, raw)
                state.mutedVolume = nil
            }
        }
    }

    // MARK: - Inside the lock

    /// Drains pending control events, finds the element again and runs `body` on it.
    private func locked<T: Sendable>(_ body: (inout State, OpaquePointer) throws(AudioError) -> T) throws(AudioError) -> T {
        try state.withLock { (state: inout State) throws(AudioError) -> T in
            // A control without poll descriptors (an external plugin) has no events to read.
            if snd_mixer_poll_descriptors_count(state.mixer) > 0 {
                let mixer = state.mixer
                try call("snd_mixer_handle_events") { snd_mixer_handle_events(mixer) }
            }
            guard let element = snd_mixer_find_selem(state.mixer, state.selector) else {
                throw AudioError(
                    code: .deviceFailed,
                    message: "simple control '\(control)' of ALSA mixer '\(device)' has gone (\(Self.describePlaybackControls(state.mixer)))")
            }
            return try body(&state, element)
        }
    }

    private func currentVolume(_ state: inout State, _ element: OpaquePointer) throws(AudioError) -> Int {
        let raw = try loudestChannel(element)
        if let remembered = state.mutedVolume {
            if raw == rawRange.lowerBound { return remembered }
            state.mutedVolume = nil  // raised by someone else: no longer muted
        }
        if let last = state.lastSet, last.raw == raw { return last.percent }
        return percentage(raw)
    }

    private func currentMute(_ state: inout State, _ element: OpaquePointer) throws(AudioError) -> Bool {
        if hasSwitch {
            var anyOn = false
            for channel in try channels(element) {
                var value: Int32 = 0
                try call("snd_mixer_selem_get_playback_switch") { snd_mixer_selem_get_playback_switch(element, channel, &value) }
                anyOn = anyOn || value != 0
            }
            return !anyOn
        }
        guard state.mutedVolume != nil else { return false }
        if try loudestChannel(element) == rawRange.lowerBound { return true }
        state.mutedVolume = nil
        return false
    }

    private func loudestChannel(_ element: OpaquePointer) throws(AudioError) -> Int {
        var loudest = rawRange.lowerBound
        for channel in try channels(element) {
            var value = 0
            try call("snd_mixer_selem_get_playback_volume") { snd_mixer_selem_get_playback_volume(element, channel, &value) }
            loudest = max(loudest, value)
        }
        return loudest
    }

    /// The playback channels the element has (just `FRONT_LEFT`, alias `MONO`, for a mono one).
    private func channels(_ element: OpaquePointer) throws(AudioError) -> [snd_mixer_selem_channel_id_t] {
        let present = (SND_MIXER_SCHN_FRONT_LEFT.rawValue...SND_MIXER_SCHN_LAST.rawValue)
            .map { snd_mixer_selem_channel_id_t(rawValue: $0) }
            .filter { snd_mixer_selem_has_playback_channel(element, $0) != 0 }
        guard !present.isEmpty else {
            throw AudioError(code: .deviceFailed, message: "simple control '\(control)' of ALSA mixer '\(device)' reports no playback channel")
        }
        return present
    }

    // MARK: - Helpers

    /// One alsa-lib call on the element; its error names the call, the mixer and the control.
    private func call(_ function: StaticString, _ body: () -> Int32) throws(AudioError) {
        do {
            try alsaCall(function, device: device, body)
        } catch {
            let code = error.systemErrorCode ?? EIO
            throw AudioError(
                code: .deviceFailed,
                message: "\(function) failed on ALSA mixer '\(device)', control '\(control)': \(alsaErrorText(code))",
                systemErrorCode: code, underlying: error)
        }
    }

    /// 0–100 onto the raw range, rounded to the nearest step.
    private func rawValue(_ percent: Int) -> Int {
        let span = Double(rawRange.upperBound - rawRange.lowerBound)
        return rawRange.lowerBound + Int((Double(percent) * span / 100).rounded())
    }

    /// A raw value as 0–100, rounded; a range of one value reads as 100.
    private func percentage(_ raw: Int) -> Int {
        let span = rawRange.upperBound - rawRange.lowerBound
        guard span > 0 else { return 100 }
        let clamped = min(rawRange.upperBound, max(rawRange.lowerBound, raw))
        return Int((Double(clamped - rawRange.lowerBound) * 100 / Double(span)).rounded())
    }

    /// `Master,1` → ("Master", 1); `Master` → ("Master", 0).
    static func parse(_ control: String) -> (name: String, index: UInt32) {
        if let comma = control.lastIndex(of: ","), let index = UInt32(control[control.index(after: comma)...]) {
            return (String(control[..<comma]), index)
        }
        return (control, 0)
    }

    /// "controls with a playback volume: 'Master', 'PCM'", for error messages.
    static func describePlaybackControls(_ mixer: OpaquePointer) -> String {
        var names: [String] = []
        var element = snd_mixer_first_elem(mixer)
        while let current = element {
            if snd_mixer_selem_has_playback_volume(current) != 0 {
                let name = String(cString: snd_mixer_selem_get_name(current))
                let index = snd_mixer_selem_get_index(current)
                names.append("'\(index == 0 ? name : "\(name),\(index)")'")
            }
            element = snd_mixer_elem_next(current)
        }
        return names.isEmpty ? "it has no control with a playback volume" : "controls with a playback volume: \(names.joined(separator: ", "))"
    }
}
