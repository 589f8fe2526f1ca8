// inspect: what a checkpoint holds (names, roles, dtypes, shapes, sizes), optionally with value
// statistics and totals per layer. Without statistics no tensor data is read.

public struct InspectReport: Sendable {
    public struct Row: Sendable {
        public var info: TensorInfo
        public var stats: TensorStats?
    }

    public struct Group: Sendable {
        public var prefix: String
        public var tensors = 0
        public var elements = 0
        public var bytes = 0
    }

    public var path: String
    public var format: FileFormat
    public var rows: [Row]
    public var warnings: [String]
    public var storedRootDigest: String?
    public var metadata: [String: String]

    public var totalElements: Int { rows.reduce(0) { $0 + $1.info.elementCount } }
    public var totalBytes: Int { rows.reduce(0) { $0 + $1.info.byteCount } }

    /// Totals per layer prefix, in order of first appearance.
    public var groups: [Group] {
        var order: [String] = []
        var byPrefix: [String: Group] = [:]
        for r in rows {
            let p = LayerName.prefix(of: r.info.name)
            if byPrefix[p] == nil { order.append(p); byPrefix[p] = Group(prefix: p) }
            byPrefix[p]!.tensors += 1
            byPrefix[p]!.elements += r.info.elementCount
            byPrefix[p]!.bytes += r.info.byteCount
        }
        return order.map { byPrefix[$0]! }
    }
}

public enum Inspect {
    public static func run(path: String, stats: Bool, options: ReadOptions = ReadOptions()) throws -> InspectReport {
        let r = try Formats.open(path: path, options: options)
        var rows: [InspectReport.Row] = []
        for (i, info) in r.entries.enumerated() {
            rows.append(.init(info: info, stats: stats ? TensorStats.of(try r.view(i)) : nil))
        }
        return InspectReport(path: path, format: r.format, rows: rows, warnings: r.warnings,
                             storedRootDigest: r.storedRootDigest, metadata: r.metadata)
    }
}

/// Layer names from parameter names: `conv5_3_weight` → `conv5_3`, `bn_data_moving_mean` → `bn_data`,
/// Gluon `0.weight` → `0`, Keras `conv2d/kernel:0` → `conv2d`.
public enum LayerName {
    static let suffixes = ["_weight_test", "_bias_test", "_moving_mean", "_moving_var", "_running_mean", "_running_var",
                           "_weight", "_bias", "_gamma", "_beta"]

    public static func prefix(of name: String) -> String {
        for s in suffixes where name.hasSuffix(s) && name.count > s.count {
            return String(name.dropLast(s.count))
        }
        if let slash = name.firstIndex(of: "/") { return String(name[..<slash]) }
        if let dot = name.lastIndex(of: ".") { return String(name[..<dot]) }
        return name
    }
}
