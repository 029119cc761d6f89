#if canImport(Glibc)
import Glibc
#endif

/// Runs a shell command; its standard output (and error, when the command redirects it there) and its
/// exit status.
public func runShell(_ command: String) -> (output: String, status: Int32) {
    guard let pipe = popen(command, "r") else { return ("", -1) }
    var output = ""
    var buffer = [CChar](repeating: 0, count: 4096)
    while fgets(&buffer, Int32(buffer.count), pipe) != nil { output += String(cString: buffer) }
    let status = pclose(pipe)
    return (output, (status >> 8) & 0xff)
}
