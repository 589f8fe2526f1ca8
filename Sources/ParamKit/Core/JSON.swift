// A small JSON value with ordered object keys, so every `--json` output and written header has a
// stable key order.

import Foundation

public indirect enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool { a.compact == b.compact }

    /// One line, no spaces.
    public var compact: String {
        var s = ""
        write(into: &s, indent: nil, level: 0)
        return s
    }

    /// Indented with two spaces, for people.
    public var pretty: String {
        var s = ""
        write(into: &s, indent: "  ", level: 0)
        return s
    }

    private func write(into s: inout String, indent: String?, level: Int) {
        let newline = indent == nil ? "" : "\n"
        let pad = { (l: Int) in indent.map { String(repeating: $0, count: l) } ?? "" }
        switch self {
        case .null: s += "null"
        case let .bool(b): s += b ? "true" : "false"
        case let .int(i): s += String(i)
        case let .double(d):
            if d.isNaN || d.isInfinite { s += "null" }
            else if d == d.rounded(), abs(d) < 1e15 { s += String(format: "%.1f", d) }
            else { s += "\(d)" }
        case let .string(t): JSON.quote(t, into: &s)
        case let .array(items):
            if items.isEmpty { s += "[]"; return }
            s += "[" + newline
            for (i, item) in items.enumerated() {
                s += pad(level + 1)
                item.write(into: &s, indent: indent, level: level + 1)
                s += (i + 1 < items.count ? "," : "") + newline
            }
            s += pad(level) + "]"
        case let .object(fields):
            if fields.isEmpty { s += "{}"; return }
            s += "{" + newline
            for (i, (k, v)) in fields.enumerated() {
                s += pad(level + 1)
                JSON.quote(k, into: &s)
                s += indent == nil ? ":" : ": "
                v.write(into: &s, indent: indent, level: level + 1)
                s += (i + 1 < fields.count ? "," : "") + newline
            }
            s += pad(level) + "}"
        }
    }

    static func quote(_ t: String, into s: inout String) {
        s += "\""
        for u in t.unicodeScalars {
            switch u {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            case _ where u.value < 0x20: s += String(format: "\\u%04x", u.value)
            default: s.unicodeScalars.append(u)
            }
        }
        s += "\""
    }
}
