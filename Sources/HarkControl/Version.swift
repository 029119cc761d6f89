/// Hark's version, reported by `status` and `harkctl --version`.
public let harkVersion = "0.1.0"
