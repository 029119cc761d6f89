import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import HarkDevices

/// `MQTTSettings`: defaults, checks, and the password read from a file.
@Suite struct MQTTSettingsTests {
    @Test("Given only a client id, then the availability topic is hark/<client id>/availability")
    func availabilityDefault() {
        #expect(MQTTSettings(clientID: "kitchen-speaker").availabilityTopic == "hark/kitchen-speaker/availability")
        #expect(MQTTSettings(clientID: "x", availabilityTopic: "home/hark/status").availabilityTopic == "home/hark/status")
    }

    @Test("Given impossible settings, when they are checked, then one line names the setting",
          arguments: [
            (MQTTSettings(port: 0), "port 0"),
            (MQTTSettings(keepalive: 3), "keepalive"),
            (MQTTSettings(reconnectDelayMin: 10, reconnectDelayMax: 5), "reconnect delays"),
            (MQTTSettings(availabilityTopic: "hark/#"), "availability topic"),
            (MQTTSettings(clientID: ""), "client id"),
            (MQTTSettings(passwordFile: "/tmp/x"), "needs a username"),
          ])
    func invalid(_ settings: MQTTSettings, _ named: String) {
        let error = #expect(throws: DeviceError.self) { try settings.validate() }
        #expect(error?.message.contains(named) == true, "\(error?.message ?? "")")
        #expect(error?.message.contains("\n") == false)
    }

    @Test("Given a password file, when the password is read, then it is the first line without its newline")
    func passwordFromFile() throws {
        var template = Array("/tmp/hark-password-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        #expect(fd >= 0)
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer { unlink(path) }
        let text = Array("s3cret pass\nignored\n".utf8)
        #expect(write(fd, text, text.count) == text.count)
        close(fd)
        #expect(try MQTTSettings(username: "hark", passwordFile: path).password() == "s3cret pass")
        #expect(try MQTTSettings().password() == nil)
        let error = #expect(throws: DeviceError.self) { try MQTTSettings(username: "hark", passwordFile: path + ".missing").password() }
        #expect(error?.message.contains(path + ".missing") == true)
    }
}
