/// What a board's power figures are, for turning measured CPU time into milliwatts.
///
/// Profiles live in `devices/boards/NAME.yaml` (each figure with its public source in a comment) and
/// are read by the daemon; this type only holds them. An unknown board falls back to ``generic``.
public struct BoardProfile: Sendable, Equatable {
    /// The file's name without `.yaml`: `raspberry-pi-zero-2w`.
    public var id: String
    /// A readable name: "Raspberry Pi Zero 2 W".
    public var name: String
    /// The whole board at idle (mW): what it draws with nothing running. Not Hark's doing.
    public var idleMilliwatts: Double
    /// One core kept fully busy, above idle (mW): (power with N cores busy − idle) / N.
    public var busyCoreMilliwatts: Double
    /// Single-core speed relative to a Raspberry Pi 4 (Cortex-A72 at 1.5 GHz) = 1.0: one CPU second
    /// on a board of speed 2 does the work of two CPU seconds on the Pi 4.
    public var speed: Double
    public var cores: Int

    public init(id: String, name: String, idleMilliwatts: Double, busyCoreMilliwatts: Double, speed: Double, cores: Int) {
        self.id = id
        self.name = name
        self.idleMilliwatts = idleMilliwatts
        self.busyCoreMilliwatts = busyCoreMilliwatts
        self.speed = speed
        self.cores = cores
    }

    /// Checks each figure is a finite, positive number in a range a board can have; the message
    /// names the profile and the figure.
    public func validated(source: String) throws(PowerError) -> BoardProfile {
        func check(_ value: Double, _ key: String, _ range: ClosedRange<Double>) throws(PowerError) {
            guard value.isFinite, range.contains(value) else {
                throw PowerError(.profile, "\(source): \(key) \(value) is outside \(range.lowerBound)–\(range.upperBound)")
            }
        }
        try check(idleMilliwatts, "idle_mw", 0...200_000)
        try check(busyCoreMilliwatts, "busy_core_mw", 1...200_000)
        try check(speed, "speed", 0.01...100)
        guard (1...256).contains(cores) else { throw PowerError(.profile, "\(source): cores \(cores) is outside 1–256") }
        return self
    }

    /// The profile an unknown or unnamed board gets: the slowest board Hark targets (a Pi-Zero-2-class
    /// quad Cortex-A53 at 1 GHz), so that on an unknown board the estimate errs high and the
    /// governor errs towards saving power. Same figures and sources as
    /// `devices/boards/raspberry-pi-zero-2w.yaml`.
    public static let generic = BoardProfile(id: "generic", name: "unknown board (Pi-Zero-2-class figures)",
                                             idleMilliwatts: 600, busyCoreMilliwatts: 410, speed: 0.3, cores: 4)
}
