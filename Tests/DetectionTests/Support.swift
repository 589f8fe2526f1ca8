// Test support: the golden file ($PARAMKIT_GOLDEN_OPS, else the shared fixtures) and its cases.

import Foundation
import ParamKit
import Testing

enum Golden {
    static let path: String = {
        if let p = ProcessInfo.processInfo.environment["PARAMKIT_GOLDEN_OPS"], !p.isEmpty { return p }
        if let f = ProcessInfo.processInfo.environment["PARAMKIT_FIXTURES"], !f.isEmpty { return f + "/golden/ops.h5" }
        // ../shared/fixtures beside the checkout when it is there, else tools/make_fixtures.py's output
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shared = root.deletingLastPathComponent().appendingPathComponent("shared/fixtures/golden/ops.h5").path
        return FileManager.default.fileExists(atPath: shared) ? shared : root.appendingPathComponent(".build/fixtures/golden/ops.h5").path
    }()

    static func file() throws -> HDF5File { try HDF5File(path: path) }

    /// The `ref_*` groups were computed by the reference example's Python code, which a fresh clone
    /// does not have: tools/make_fixtures.py cannot write them, so their tests are skipped (and say
    /// why) when the golden file lacks them.
    static let hasReferenceGroups: Bool = (try? file().children().contains { $0.hasPrefix("ref_") }) ?? false
    static let referenceNote: Comment = "no ref_* groups in the golden file (they come from ../shared/fixtures/golden/ops.h5)"

    /// Groups whose name starts with `prefix` (the `ref_*` groups) or whose `op` is one of `ops`.
    static func groups(prefix: String) throws -> [String] { try file().children().filter { $0.hasPrefix(prefix) } }
    static func cases(op ops: Set<String>) throws -> [String] {
        let f = try file()
        return try f.children().filter { try ops.contains(f.string("op", of: $0) ?? "") }
    }
}
