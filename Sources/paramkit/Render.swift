// Text helpers shared by the verbs: sizes, tables, progress on stderr.

import Foundation
import ParamKit

enum Render {
    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        return u == 0 ? "\(n) B" : String(format: "%.1f %@", v, units[u])
    }

    static func count(_ n: Int) -> String {
        var s = String(n), out = ""
        while s.count > 3 { out = "," + s.suffix(3) + out; s = String(s.dropLast(3)) }
        return s + out
    }

    static func number(_ v: Double?) -> String {
        guard let v else { return "-" }
        if v == 0 { return "0" }
        return abs(v) >= 1e-3 && abs(v) < 1e6 ? String(format: "%.6g", v) : String(format: "%.3e", v)
    }

    /// Left-aligned columns; numbers right-aligned when `right` marks them.
    static func table(_ header: [String], _ rows: [[String]], right: Set<Int> = []) -> String {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for r in all { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        return all.map { r in
            r.enumerated().map { i, c in
                let pad = String(repeating: " ", count: widths[i] - c.count)
                return right.contains(i) ? pad + c : c + pad
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }

    /// A line on stdout, flushed at once: when stdout is a file or a pipe a long run's lines appear
    /// as they happen, not when the process ends.
    static func out(_ s: String) {
        print(s)
        fflush(nil)
    }

    static func warn(_ s: String) {
        FileHandle.standardError.write(Data("paramkit: warning: \(s)\n".utf8))
    }

    /// A one-line progress indicator on stderr, shown only when stderr is a terminal.
    static func progress(_ label: String) -> ((Int, Int) -> Void)? {
        guard isatty(2) != 0 else { return nil }
        let start = Date()
        return { i, n in
            let elapsed = Date().timeIntervalSince(start)
            FileHandle.standardError.write(Data(String(format: "\r%@ %d/%d tensors  %.1fs", label, i + 1, n, elapsed).utf8))
            if i + 1 == n { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        }
    }

    static func info(_ i: TensorInfo) -> [String] {
        [i.name, i.role.rawValue, i.dtype.rawValue, Shape.text(i.shape), count(i.elementCount), bytes(i.byteCount)]
    }

    static func json(_ info: TensorInfo) -> [(String, JSON)] {
        [("name", .string(info.name)), ("role", .string(info.role.rawValue)), ("dtype", .string(info.dtype.rawValue)),
         ("shape", .array(info.shape.map { .int($0) })), ("elements", .int(info.elementCount)), ("bytes", .int(info.byteCount))]
    }
}
