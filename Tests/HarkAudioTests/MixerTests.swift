import Foundation
import HarkTestSupport
import Testing
@testable import HarkAudio

/// ALSAMixer against the virtual `hark_test` control device (see ``VirtualMixer``): alsa-lib's real
/// simple-mixer code, values read back from the plugin's own state file.
@Suite("ALSA mixer through the virtual hark_test control device")
final class MixerTests {
    let directory: URL
    let virtual: VirtualMixer

    init() throws {
        directory = URL(fileURLWithPath: makeTemporaryDirectory("hark-mixer"))
        virtual = try VirtualMixer(directory: directory)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    @Test("Given the virtual mixer at its defaults, when Master is opened, then ALSAMixer sees raw 0–255 with a switch, volume 50 and not muted")
    func opensMaster() throws {
        let mixer = try ALSAMixer(device: virtual.device, control: "Master")

        #expect(mixer.rawRange == VirtualMixer.masterRange)
        #expect(mixer.hasSwitch)
        #expect(try mixer.volume() == 50)  // 128 of 0–255
        #expect(try mixer.isMuted() == false)
    }

    @Test("Given Master, when the volume is set to 40, then both channels hold raw 102 in the plugin and a fresh mixer reads 40")
    func setsVolume() throws {
        let mixer = try ALSAMixer(device: virtual.device, control: "Master")

        try mixer.setVolume(40)

        #expect(try virtual.values()[VirtualMixer.masterVolume] == [102, 102])
        #expect(try mixer.volume() == 40)
        #expect(try ALSAMixer(device: virtual.device, control: "Master").volume() == 40)
    }

    @Test("Given Master, when the volume is set to 0, 100, 150 and -5, then the raw value is the range's end, clamped",
          arguments: [(0, 0), (100, 255), (150, 255), (-5, 0)])
    func clampsVolume(percent: Int, raw: Int) throws {
        let mixer = try ALSAMixer(device: virtual.device, control: "Master")

        try mixer.setVolume(percent)

        #expect(try virtual.values()[VirtualMixer.masterVolume] == [raw, raw])
        #expect(try mixer.volume() == min(100, max(0, percent)))
    }

    @Test("Given Master at 40, when muted and unmuted, then the plugin's switch goes 0 0 and back to 1 1 and the volume stays 102")
    func mutesWithSwitch() throws {
        let mixer = try ALSAMixer(device: virtual.device, control: "Master")
        try mixer.setVolume(40)

        try mixer.setMuted(true)
        let muted = try virtual.values()
        let mutedReadBack = try mixer.isMuted()
        let freshMuted = try ALSAMixer(device: virtual.device, control: "Master").isMuted()
        try mixer.setMuted(false)

        #expect(muted[VirtualMixer.masterSwitch] == [0, 0])
        #expect(muted[VirtualMixer.masterVolume] == [102, 102])
        #expect(mutedReadBack)
        #expect(freshMuted)
        #expect(try virtual.values()[VirtualMixer.masterSwitch] == [1, 1])
        #expect(try mixer.isMuted() == false)
        #expect(try mixer.volume() == 40)
    }

    @Test("Given another program left Master at 200/100 with only the right channel switched off, when opened, then the loudest channel reads 78 and it is not muted")
    func readsWhatOthersSet() throws {
        try virtual.write(master: [200, 100], masterSwitch: [1, 0], pcm: 20)

        let mixer = try ALSAMixer(device: virtual.device, control: "Master")

        #expect(try mixer.volume() == 78)  // 200 / 255
        #expect(try mixer.isMuted() == false)
    }

    @Test("Given PCM (raw 4–35, no switch), when set to 40, then raw 16 is stored, 40 reads back, and a fresh mixer reads the nearest percentage 39")
    func mapsShortRange() throws {
        let mixer = try ALSAMixer(device: virtual.device, control: "PCM")

        try mixer.setVolume(40)

        #expect(mixer.rawRange == VirtualMixer.pcmRange)
        #expect(!mixer.hasSwitch)
        #expect(try virtual.values()[VirtualMixer.pcmVolume] == [16])  // 4 + round(0.4 · 31)
        #expect(try mixer.volume() == 40)
        #expect(try ALSAMixer(device: virtual.device, control: "PCM").volume() == 39)  // round(12 / 31 · 100)
    }

    @Test("Given PCM without a switch at 40, when muted, then the plugin holds the raw minimum, volume still reads 40, and unmute restores raw 16")
    func mutesWithoutSwitch() throws {
        let mixer = try ALSAMixer(device: virtual.device, control: "PCM")
        try mixer.setVolume(40)

        try mixer.setMuted(true)
        let mutedRaw = try virtual.values()[VirtualMixer.pcmVolume]
        let mutedVolume = try mixer.volume()
        let muted = try mixer.isMuted()
        try mixer.setMuted(false)

        #expect(mutedRaw == [4])
        #expect(mutedVolume == 40)
        #expect(muted)
        #expect(try virtual.values()[VirtualMixer.pcmVolume] == [16])
        #expect(try mixer.isMuted() == false)
    }

    @Test("Given PCM muted without a switch, when the volume is set to 60, then it is unmuted at raw 23")
    func volumeUnmutesWithoutSwitch() throws {
        let mixer = try ALSAMixer(device: virtual.device, control: "PCM")
        try mixer.setVolume(40)
        try mixer.setMuted(true)

        try mixer.setVolume(60)

        #expect(try virtual.values()[VirtualMixer.pcmVolume] == [23])  // 4 + round(0.6 · 31)
        #expect(try mixer.isMuted() == false)
        #expect(try mixer.volume() == 60)
    }

    @Test("Given a control the mixer lacks, when opened, then one line names the mixer and the control and lists the controls it has",
          arguments: ["Headphone", "Master,1"])
    func missingControl(control: String) {
        let error = #expect(throws: AudioError.self) {
            try ALSAMixer(device: virtual.device, control: control)
        }

        #expect(error?.code == .deviceUnavailable)
        #expect(error?.message == "ALSA mixer '\(virtual.device)' has no simple control '\(control)' (controls with a playback volume: 'Master', 'PCM'): use one of those as the speaker's control")
    }

    @Test("Given a control device alsa-lib does not know, when opened, then one line names the device, snd_hctl_open and what to do")
    func missingDevice() {
        let error = #expect(throws: AudioError.self) {
            try ALSAMixer(device: "hark_no_such_ctl", control: "Master")
        }

        #expect(error?.code == .deviceUnavailable)
        let message = error?.message ?? ""
        #expect(message.hasPrefix("cannot open ALSA mixer 'hark_no_such_ctl' (snd_hctl_open: "), "\(message)")
        #expect(message.hasSuffix("): check the mixer device name and 'aplay -l' for the sound cards"), "\(message)")
        #expect(!message.contains("\n"))
    }
}
