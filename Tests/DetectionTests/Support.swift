// Test support: the golden file ($PARAMKIT_GOLDEN_OPS, else the shared fixtures) and its cases.

import Foundation
import ParamKit

enum Golden {
    static let path: String = {
        if let p = ProcessInfo.processInfo.environment["PARAMKIT_GOLDEN_OPS"], !p.isEmpty { return p }
        if let f = ProcessInfo.processInfo.environment["PARAMKIT_FIXTURES"], !f.isEmpty { return f + "/golden/ops.h5" }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.deletingLastPathComponent().appendingPathComponent("shared/fixtures/golden/ops.h5").path
    }()

    static func file() throws -> HDF5File { try HDF5File(path: path) }

    /// Groups whose name starts with `prefix` (the `ref_*` groups) or whose `op` is one of `ops`.
    static func groups(prefix: String) throws -> [String] { try file().children().filter { $0.hasPrefix(prefix) } }
    static func cases(op ops: Set<String>) throws -> [String] {
        let f = try file()
        return try f.children().filter { try ops.contains(f.string("op", of: $0) ?? "") }
    }
}
