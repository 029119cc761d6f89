import Foundation
import HarkControl
import HarkDevices
import HarkTestSupport
import Testing

/// Roles from SO_PEERCRED for real: harkd runs as root, and harkctl runs as `nobody` (uid 65534)
/// through `setpriv`, which sets the kernel credentials the socket reports. The socket belongs to
/// group `users` (100); the configuration gives `users` the read role and `adm` (4) read and control.
@Suite struct ControlRoleTests {
    static let reader = OtherUser(groups: [100])
    static let controller = OtherUser(groups: [100, 4])
    static let stranger = OtherUser(groups: [])

    static func config(_ roles: String) -> String {
        """
        control:
          group: users
          roles:
        \(roles)
        """
    }

    @Test func givenAReadClient_whenItExecutesAnAction_thenItIsRefusedAndNothingIsJournaled() async throws {
        #expect(getuid() == 0, "the test runs as root, to run harkctl as another user")
        let directory = makeTemporaryDirectory("harkd-roles")
        writeFile(directory + "/harkd.yaml", Self.config("    users: [read]\n    adm: [read, control]"))
        let harkd = try await offThePool { try RunningHarkd(config: directory + "/harkd.yaml", directory: directory) }
        defer { harkd.stop() }
        try await offThePool {
            let socket = harkd.socket
            var info = stat()
            stat(socket, &info)
            #expect(info.st_mode & 0o777 == 0o660 && info.st_gid == 100, "the socket is 0660, group users")

            // read: status, devices, history; not actions, say, listen, timers, reload.
            #expect(try harkctl(["status"], socket: socket, as: Self.reader).status == 0)
            #expect(try harkctl(["devices", "kitchen_light"], socket: socket, as: Self.reader).status == 0)
            #expect(try harkctl(["history"], socket: socket, as: Self.reader).status == 0)
            let refused = try harkctl(["do", "front_door", "unlock"], socket: socket, as: Self.reader)
            #expect(refused.status == 77, "\(refused)")
            #expect(refused.stderr == "harkctl: permission denied: actions.execute needs the control role; uid 65534 has only the read role\n")
            for command in [["say", "turn on the lamp"], ["listen"], ["timers"], ["reload"]] {
                #expect(try harkctl(command, socket: socket, as: Self.reader).status == 77, "\(command)")
            }
            #expect(try harkd.call("history").items.isEmpty, "nothing was journaled")

            // control (a member of adm too): the same action runs.
            let allowed = try harkctl(["do", "front_door", "unlock", "--json"], socket: socket, as: Self.controller)
            #expect(allowed.status == 0 && allowed.json?["results"]?.items.first?["status"] == .string("ok"), "\(allowed)")
            #expect(try harkd.call("history").items.count == 1)

            // Not in the socket's group at all: the kernel refuses the connection.
            let stranger = try harkctl(["status"], socket: socket, as: Self.stranger)
            #expect(stranger.status == 77 && stranger.stderr.contains("no permission to connect"), "\(stranger)")
        }
        #expect(harkd.log.contains("control request refused") && harkd.log.contains("uid=65534"), "refusals are logged with the uid")
    }

    @Test func givenRolesChangedOnDisk_whenReloaded_thenTheNextRequestIsJudgedByTheNewRoles() async throws {
        let directory = makeTemporaryDirectory("harkd-roles-reload")
        writeFile(directory + "/harkd.yaml", Self.config("    users: [read, control]"))
        let harkd = try await offThePool { try RunningHarkd(config: directory + "/harkd.yaml", directory: directory) }
        defer { harkd.stop() }
        try await offThePool {
            #expect(try harkctl(["timers"], socket: harkd.socket, as: Self.reader).status == 0)
            // The group keeps the socket but loses its roles: connected, and refused with its uid.
            writeFile(directory + "/harkd.yaml", Self.config("    adm: [read]"))
            #expect(try harkctl(["reload"], socket: harkd.socket).status == 0)
            let refused = try harkctl(["status"], socket: harkd.socket, as: Self.reader)
            #expect(refused.status == 77 && refused.stderr.contains("uid 65534 has no role"), "\(refused)")
            #expect(eventually(5) { harkd.log.contains("control connection from a peer with no role") })
        }
    }
}
