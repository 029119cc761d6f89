import HarkControl
import HarkDevices
import Logging
import ServiceLifecycle

/// Keeps the transports up until graceful shutdown, then stops the current dispatcher's (the daemon
/// starts them before the service group runs, so actions can flow from the first moment).
struct DevicesService: Service {
    let daemon: Daemon

    func run() async throws {
        try? await gracefulShutdown()
        await daemon.stopDevices()
    }
}

/// The control socket as a service: serves from the start; on graceful shutdown stops listening,
/// lets the requests already running finish (actions being dispatched), then closes every connection.
struct ControlService: Service {
    let server: ControlServer
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        try server.start()
        notifier.markLive(.socket)
        logger.info("control socket listening", metadata: ["path": "\(server.configuration.path)"])
        try? await gracefulShutdown()
        await server.shutdown()
        logger.info("control socket closed")
    }
}

/// systemd's side of the lifecycle: STOPPING=1 as soon as graceful shutdown begins (it is the last
/// service, so the first to be told). Without audio there are no frames to feed the watchdog from,
/// so it pings on a timer instead.
struct SystemdService: Service {
    let notifier: SystemdNotifier
    let pingWithoutAudio: Bool

    func run() async throws {
        if pingWithoutAudio, let interval = notifier.watchdogInterval {
            let pinging = Task {
                while !Task.isCancelled {
                    notifier.watchdog()
                    try? await Task.sleep(for: interval)
                }
            }
            try? await gracefulShutdown()
            pinging.cancel()
        } else {
            try? await gracefulShutdown()
        }
        notifier.stopping()
    }
}

/// Lets actions run concurrently, and a configuration reload swap the dispatcher only when none is
/// running: ``beginSwitch()`` waits for the running ones and holds new ones until ``endSwitch()``.
actor DispatchGate {
    private var running = 0
    private var switching = false
    private var waitingToEnter: [CheckedContinuation<Void, Never>] = []
    private var waitingForIdle: [CheckedContinuation<Void, Never>] = []

    func enter() async {
        while switching { await withCheckedContinuation { waitingToEnter.append($0) } }
        running += 1
    }

    func leave() {
        running -= 1
        if running == 0 {
            let waiters = waitingForIdle
            waitingForIdle = []
            for waiter in waiters { waiter.resume() }
        }
    }

    func beginSwitch() async {
        while switching { await withCheckedContinuation { waitingToEnter.append($0) } }
        switching = true
        while running > 0 { await withCheckedContinuation { waitingForIdle.append($0) } }
    }

    func endSwitch() {
        switching = false
        let waiters = waitingToEnter
        waitingToEnter = []
        for waiter in waiters { waiter.resume() }
    }
}
