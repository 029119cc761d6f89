import Foundation

/// A virtual ALSA mixer for tests: alsa-lib's real `snd_mixer_*` code against the `hark_test`
/// external control plugin (`Tests/VirtualMixer/hark_test_ctl.c`), whose values live in a text file
/// the test can write before Hark opens the mixer and read back after, independently of Hark.
///
/// Each instance has its own state file and the device name `hark_test:STATE='<file>'`, with two
/// simple controls: `Master` (raw 0–255, stereo, with a playback switch) and `PCM` (raw 4–35,
/// mono, no switch).
///
/// How alsa-lib finds the plugin: once per process the C file is compiled into
/// `libasound_module_ctl_hark_test.so` in a temporary directory (`cc`, else `gcc` or `clang`,
/// with alsa-lib's headers) and an asoundrc defining `ctl_type.hark_test` and `ctl.hark_test` is
/// written to `$XDG_CONFIG_HOME/alsa/asoundrc`, which the system `alsa.conf` loads through its
/// hooks. That works alongside a test that points `ALSA_CONFIG_PATH` at a file including
/// `alsa.conf` (the capture tests do): whatever that variable names, the hook loads this file too.
/// alsa-lib reloads its configuration only when the list of top-level files changes, so one extra
/// (comment-only) file is appended to `ALSA_CONFIG_PATH` to make it read the new asoundrc.
public struct VirtualMixer: Sendable {
    public static let masterRange = 0...255
    public static let pcmRange = 4...35
    public static let masterVolume = "Master Playback Volume"
    public static let masterSwitch = "Master Playback Switch"
    public static let pcmVolume = "PCM Playback Volume"

    /// The ALSA control device to open.
    public let device: String
    public let statePath: String

    /// A mixer whose state file is `directory/name`; no file yet means the plugin's defaults
    /// (Master 128 128, switch on, PCM 20).
    public init(directory: URL, name: String = "mixer-state.txt") throws {
        try Self.installed.get()
        statePath = directory.appendingPathComponent(name).path
        device = "hark_test:STATE='\(statePath)'"
    }

    /// Raw values by element name, as the plugin stored them.
    public func values() throws -> [String: [Int]] {
        var values: [String: [Int]] = [:]
        for line in try String(contentsOfFile: statePath, encoding: .utf8).split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            values[String(line[..<colon])] = line[line.index(after: colon)...].split(separator: " ").compactMap { Int($0) }
        }
        return values
    }

    /// Every state the plugin stored, oldest first (the plugin appends each to `STATE.log`).
    public func history() throws -> [[String: [Int]]] {
        guard let text = try? String(contentsOfFile: statePath + ".log", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map { line in
            var values: [String: [Int]] = [:]
            for part in line.split(separator: ";") {
                guard let colon = part.firstIndex(of: ":") else { continue }
                values[String(part[..<colon])] = part[part.index(after: colon)...].split(separator: " ").compactMap { Int($0) }
            }
            return values
        }
    }

    /// Writes the whole state file, as another program changing the mixer would.
    public func write(master: [Int], masterSwitch: [Int], pcm: Int) throws {
        let text = """
            \(Self.masterVolume): \(master.map(String.init).joined(separator: " "))
            \(Self.masterSwitch): \(masterSwitch.map(String.init).joined(separator: " "))
            \(Self.pcmVolume): \(pcm)

            """
        try text.write(toFile: statePath, atomically: true, encoding: .utf8)
    }

    // MARK: - Process-wide set-up

    /// Compiles the plugin and installs the configuration, once per process.
    static let installed: Result<Void, VirtualMixerError> = Result { () throws(VirtualMixerError) in try install() }

    private static func install() throws(VirtualMixerError) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hark-virtual-mixer-\(UUID().uuidString)")
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../VirtualMixer/hark_test_ctl.c").standardized.path
        let library = directory.appendingPathComponent("libasound_module_ctl_hark_test.so").path
        let xdg = directory.appendingPathComponent("xdg")
        let asoundrc = xdg.appendingPathComponent("alsa/asoundrc")
        let marker = directory.appendingPathComponent("reload.conf")
        do {
            try FileManager.default.createDirectory(at: asoundrc.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw VirtualMixerError(message: "cannot create \(directory.path): \(error)")
        }
        try compile(source: source, output: library)

        let config = """
            # Written by HarkTestSupport's VirtualMixer.
            ctl_type.hark_test { lib "\(library)" }
            ctl.hark_test {
                @args [ STATE ]
                @args.STATE { type string }
                type hark_test
                state $STATE
            }

            """
        do {
            try config.write(to: asoundrc, atomically: true, encoding: .utf8)
            try "# Makes alsa-lib reload its configuration (VirtualMixer).\n".write(to: marker, atomically: true, encoding: .utf8)
        } catch {
            throw VirtualMixerError(message: "cannot write \(asoundrc.path): \(error)")
        }
        setenv("XDG_CONFIG_HOME", xdg.path, 1)
        if let current = getenv("ALSA_CONFIG_PATH") {
            setenv("ALSA_CONFIG_PATH", String(cString: current) + ":" + marker.path, 1)
        } else {
            // Not overwriting: if another fixture set it meanwhile, its change already makes alsa-lib reload.
            setenv("ALSA_CONFIG_PATH", "/usr/share/alsa/alsa.conf:" + marker.path, 0)
        }
    }

    private static func compile(source: String, output: String) throws(VirtualMixerError) {
        let compilers = ["cc", "gcc", "clang"]
        var failures: [String] = []
        for compiler in compilers {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [compiler, "-shared", "-fPIC", "-O1", "-o", output, source, "-lasound"]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            do {
                try process.run()
            } catch {
                failures.append("\(compiler): \(error)")
                continue
            }
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            if process.terminationStatus == 0 { return }
            failures.append("\(compiler) exited \(process.terminationStatus): \(text.split(separator: "\n").prefix(3).joined(separator: " | "))")
        }
        throw VirtualMixerError(message: "cannot build the virtual mixer plugin from \(source) (\(failures.joined(separator: "; "))): install a C compiler and libasound2-dev")
    }
}

public struct VirtualMixerError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// A playback device that writes what is played to `path` as raw samples: alsa-lib's `file` plugin
/// over the `null` PCM, by the `pcm.file` definition of the system `alsa.conf` (no asoundrc needed).
/// The file is created when the device is opened.
public func capturingPlaybackDevice(path: String) -> String {
    "file:FILE='\(path)',FORMAT=raw"
}

/// Reads a raw S16_LE file (what ``capturingPlaybackDevice(path:)`` wrote); nil if it does not exist.
public func readRawSamples(_ path: String) throws -> [Int16]? {
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return data.withUnsafeBytes { raw in
        stride(from: 0, to: raw.count - 1, by: 2).map { Int16(littleEndian: raw.loadUnaligned(fromByteOffset: $0, as: Int16.self)) }
    }
}
