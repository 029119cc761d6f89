#if canImport(Glibc)
import Glibc
#endif
import HarkDevices

/// harkctl's readable output: harkd's JSON answers as short aligned text.
enum Format {
    /// A command-line value: numbers and booleans as such, anything else a string.
    static func value(_ text: String) -> JSONValue {
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if let number = Double(text), number.isFinite, text.first.map({ $0.isNumber || $0 == "-" || $0 == "." }) == true { return .number(number) }
        return .string(text)
    }

    /// A JSON value in a line of text: strings bare, the rest as JSON.
    static func plain(_ value: JSONValue?) -> String {
        switch value {
        case nil: return "-"
        case let .string(text)?: return text
        case let value?: return value.jsonText
        }
    }

    static func number(_ value: JSONValue?) -> Double { value?.numberValue ?? 0 }

    static func keyValues(_ value: JSONValue?) -> String {
        guard let object = value?.objectValue, !object.isEmpty else { return "-" }
        return object.keys.sorted().map { "\($0)=\(plain(object[$0]))" }.joined(separator: " ")
    }

    /// "1 connection", "2 connections".
    static func count(_ value: JSONValue?, _ noun: String) -> String {
        let n = Int(number(value))
        return "\(n) \(noun)\(n == 1 ? "" : "s")"
    }

    static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        if total < 60 { return "\(total) s" }
        if total < 3600 { return "\(total / 60) min \(total % 60) s" }
        if total < 86_400 { return "\(total / 3600) h \(total % 3600 / 60) min" }
        return "\(total / 86_400) d \(total % 86_400 / 3600) h"
    }

    /// Local time of seconds since 1970: "2024-05-01 10:00:01" (or only the time of day).
    static func time(_ seconds: Double, dateToo: Bool = true) -> String {
        var clock = time_t(seconds)
        var parts = tm()
        localtime_r(&clock, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, dateToo ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", &parts)
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Columns padded to the widest cell.
    static func table(_ rows: [[String]]) -> String {
        guard let width = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: width)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    // MARK: - Answers

    static func status(_ result: JSONValue) -> String {
        let object = result.objectValue ?? [:]
        var lines = ["harkd \(plain(object["version"])), pid \(Int(number(object["pid"]))), up \(duration(number(object["uptime_s"])))"
            + (object["ready"] == .bool(true) ? ", ready" : ", not ready") + (object["dry_run"] == .bool(true) ? " (dry run)" : "")]
        var rows: [[String]] = []
        if let audio = object["audio"]?.objectValue {
            if audio["state"] == .string("none") {
                rows.append(["audio", "none (--input none)"])
            } else {
                let chunks = number(audio["chunks"])
                let computed = chunks > 0 ? Int((number(audio["chunks_computed"]) / chunks * 100).rounded()) : 0
                rows.append(["audio", "\(plain(audio["input"])), \(plain(audio["state"]))\(audio["frames_moving"] == .bool(true) ? " (frames moving)" : ""), "
                             + "\(duration(number(audio["audio_s"]))) of audio, models on \(computed) % of chunks, overruns \(Int(number(audio["overruns"])))"])
                var heard = "\(count(audio["wakes"], "wake")), \(count(audio["commands"], "command")), \(Int(number(audio["rejected"]))) rejected"
                if let wake = audio["last_wake"]?.objectValue {
                    heard += " (last wake: \(plain(wake["word"])) \(plain(wake["score"])) at \(plain(wake["t"])) s)"
                }
                if audio["listening"] == .bool(true) { heard += "; listening now" }
                rows.append(["", heard])
            }
        }
        let words = (object["wake_words"]?.arrayItems ?? []).map { "\(plain($0.objectValue?["word"])) (\(plain($0.objectValue?["threshold"])))" }
        rows.append(["wake words", words.isEmpty ? "-" : words.joined(separator: ", ")])
        if let devices = object["devices"]?.objectValue {
            rows.append(["devices", "\(Int(number(devices["count"]))) from \(plain(devices["catalog"])); journal \(plain(devices["database"]))"])
        }
        if let control = object["control"]?.objectValue {
            rows.append(["control", "\(plain(control["socket"])): \(count(control["connections"], "connection")), "
                         + "\(count(control["subscribers"], "subscriber")), \(count(control["requests"], "request")), \(count(control["errors"], "error"))"])
        }
        if let power = object["power"]?.objectValue {
            let windows = power["windows"]?.objectValue ?? [:]
            func mw(_ key: String) -> String { plain(windows[key]?.objectValue?["stage_mw"]) }
            var line = "\(mw("10")) mW always-on (10 s; 60 s \(mw("60")), 15 min \(mw("900"))) on \(plain(power["board"]))"
            if let budget = power["budget_mw"], budget != .null { line += ", budget \(plain(budget)) mW" }
            let levers = (power["levers"]?.arrayItems ?? []).map(plain)
            line += levers.isEmpty ? ", no lever taken" : ", levers: \(levers.joined(separator: ", "))"
            if power["over_budget"] == .bool(true) { line += " (cannot meet the budget)" }
            rows.append(["power", line])
            if let requests = power["stage2"]?.objectValue, number(requests["requests"]) > 0 {
                rows.append(["", "stage 2: \(count(requests["requests"], "request")), \(plain(requests["mj_mean"])) mJ each on average"])
            }
        }
        if let reloads = object["reloads"]?.objectValue, number(reloads["count"]) > 0 {
            rows.append(["reloads", "\(Int(number(reloads["count"]))), last at \(time(number(reloads["last_at"])))"])
        }
        lines.append(table(rows))
        return lines.joined(separator: "\n")
    }

    static func devices(_ result: JSONValue) -> String {
        var rows = [["ID", "TYPE", "ROOM", "STATE"]]
        for device in result.arrayItems {
            let object = device.objectValue ?? [:]
            rows.append([plain(object["id"]), plain(object["type"]), plain(object["room_name"] ?? object["room"]), keyValues(object["state"])])
        }
        return table(rows)
    }

    static func device(_ result: JSONValue) -> String {
        let object = result.objectValue ?? [:]
        var rows: [[String]] = [
            ["id", plain(object["id"])],
            ["type", plain(object["type"]) + (object["this_device"] == .bool(true) ? " (this speaker)" : "")],
            ["room", plain(object["room_name"] ?? object["room"])],
            ["names", (object["names"]?.arrayItems ?? []).map(plain).joined(separator: ", ")],
            ["via", plain(object["via"])],
            ["state", keyValues(object["state"])],
        ]
        for command in object["commands"]?.arrayItems ?? [] {
            let spec = command.objectValue ?? [:]
            let parameters = (spec["parameters"]?.arrayItems ?? []).map { parameter -> String in
                let p = parameter.objectValue ?? [:]
                if let values = p["values"]?.arrayItems { return "\(plain(p["name"]))=\(values.map(plain).joined(separator: "|"))" }
                return "\(plain(p["name"]))=\(plain(p["min"]))..\(plain(p["max"]))"
            }
            let voice = spec["voice"] == .string("refused") ? "  (not by voice)" : ""
            rows.append([rows.count == 6 ? "commands" : "", ([plain(spec["name"])] + parameters).joined(separator: " ") + voice])
        }
        return table(rows)
    }

    static func action(_ object: [String: JSONValue]) -> String {
        let args = object["args"]?.objectValue.map { $0.isEmpty ? "" : " " + keyValues(.object($0)) } ?? ""
        return "\(plain(object["device"])) \(plain(object["command"]))\(args)"
    }

    static func results(_ result: JSONValue) -> String {
        (result.objectValue?["results"]?.arrayItems ?? []).map { item in
            let object = item.objectValue ?? [:]
            let detail = object["detail"].map { " (\(plain($0)))" } ?? ""
            let replayed = object["replayed"] == .bool(true) ? ", already journaled: not run again" : ""
            return "\(action(object)): \(plain(object["status"]))\(detail)\(replayed)"
        }.joined(separator: "\n")
    }

    static func said(_ result: JSONValue) -> String {
        let object = result.objectValue ?? [:]
        guard object["understood"] == .bool(true) else { return "not understood (\(plain(object["reason"])))" }
        let lines = (object["actions"]?.arrayItems ?? []).map { item -> String in
            let action = item.objectValue ?? [:]
            let detail = action["detail"].map { " (\(plain($0)))" } ?? ""
            return "\(Format.action(action)): \(plain(action["status"]))\(detail)"
        }
        let header = object["dry_run"] == .bool(true) ? ["dry run: nothing was run"] : []
        return (header + lines).joined(separator: "\n")
    }

    static func history(_ result: JSONValue) -> String {
        let entries = result.arrayItems
        guard !entries.isEmpty else { return "no actions in the journal" }
        var rows = [["TIME", "SOURCE", "ACTION", "STATUS", "DETAIL"]]
        for entry in entries {
            let object = entry.objectValue ?? [:]
            rows.append([time(number(object["time"])), plain(object["source"]), action(object), plain(object["status"]), plain(object["detail"])])
        }
        return table(rows)
    }

    static func timers(_ result: JSONValue) -> String {
        let timers = result.arrayItems
        guard !timers.isEmpty else { return "no timers running" }
        var rows = [["ID", "DEVICE", "LENGTH", "DUE"]]
        for timer in timers {
            let object = timer.objectValue ?? [:]
            rows.append([plain(object["id"]), plain(object["device"]), duration(number(object["seconds"])),
                         "\(time(number(object["due_at"]), dateToo: false)) (in \(duration(number(object["remaining_s"]))))"])
        }
        return table(rows)
    }

    static func reloaded(_ result: JSONValue) -> String {
        let object = result.objectValue ?? [:]
        var line = "reloaded: \(Int(number(object["devices"]))) devices, \(Int(number(object["phrases"]))) phrases from \(plain(object["catalog"])) in \(plain(object["ms"])) ms"
        let restart = (object["restart_required"]?.arrayItems ?? []).map(plain)
        if !restart.isEmpty { line += "\nchanged but needing a restart: \(restart.joined(separator: ", "))" }
        for warning in object["warnings"]?.arrayItems ?? [] { line += "\nwarning: \(plain(warning))" }
        return line
    }

    /// One event on one line: the time, the type, what matters.
    static func event(_ event: JSONValue) -> String {
        let object = event.objectValue ?? [:]
        let type = plain(object["type"])
        let what: String
        switch type {
        case "wake": what = "\(plain(object["word"])) \(plain(object["score"])) at \(plain(object["t"])) s"
        case "listen": what = "from the \(plain(object["source"])) at \(plain(object["t"])) s"
        case "utterance": what = "\(plain(object["t_start"]))–\(plain(object["t_end"])) s"
        case "transcript": what = "stage \(plain(object["stage"])): \(plain(object["text"]))"
        case "actions":
            what = "from \(plain(object["source"])): " + (object["actions"]?.arrayItems ?? []).map { item in
                let action = item.objectValue ?? [:]
                return "\(Format.action(action)) \(plain(action["status"]))"
            }.joined(separator: "; ")
        case "rejected": what = "stage \(plain(object["stage"])): \(plain(object["reason"]))"
        case "refused": what = "\(plain(object["device"])) \(plain(object["command"])) from \(plain(object["source"])): \(plain(object["reason"]))"
        case "state": what = "\(plain(object["device"])) \(keyValues(object["state"])) (\(plain(object["origin"])))"
        case "timer": what = "\(plain(object["id"])) \(plain(object["state"])) (\(duration(number(object["seconds"]))))"
        case "error": what = "\(plain(object["kind"])): \(plain(object["message"]))"
        case "power": what = "\(plain(object["stage_mw"])) mW always-on on \(plain(object["board"])) at \(plain(object["t"])) s"
        case "governor": what = "\(plain(object["action"])) \(object["lever"].map(plain) ?? "") at \(plain(object["stage_mw"])) mW (budget \(plain(object["budget_mw"])))"
        case "energy": what = "stage \(plain(object["stage"])) \(plain(object["work"])): \(plain(object["mj"])) mJ"
        default: what = event.jsonText
        }
        var now = timeval()
        gettimeofday(&now, nil)
        return "\(time(Double(now.tv_sec), dateToo: false)) \(type) \(what)"
    }

    /// "90s", "10m", "2h", "1d" back from now; "YYYY-MM-DD[THH:MM[:SS]]" local time; or seconds since 1970.
    static func parseSince(_ text: String) -> Double? {
        var now = timeval()
        gettimeofday(&now, nil)
        let current = Double(now.tv_sec) + Double(now.tv_usec) / 1e6
        if let unit = text.last, let amount = Double(text.dropLast()), amount >= 0 {
            switch unit {
            case "s": return current - amount
            case "m": return current - amount * 60
            case "h": return current - amount * 3600
            case "d": return current - amount * 86_400
            default: break
            }
        }
        if let seconds = Double(text), !text.contains("-") { return seconds }
        guard let match = text.wholeMatch(of: /(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?/) else { return nil }
        var parts = tm()
        parts.tm_year = Int32(match.1)! - 1900
        parts.tm_mon = Int32(match.2)! - 1
        parts.tm_mday = Int32(match.3)!
        parts.tm_hour = match.4.flatMap { Int32($0) } ?? 0
        parts.tm_min = match.5.flatMap { Int32($0) } ?? 0
        parts.tm_sec = match.6.flatMap { Int32($0) } ?? 0
        parts.tm_isdst = -1
        let seconds = mktime(&parts)
        if seconds != -1 { return Double(seconds) }
        return nil
    }
}
