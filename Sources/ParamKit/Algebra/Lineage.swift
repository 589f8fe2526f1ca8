// lineage: where each tensor of a ParamKit checkpoint came from, read back from its provenance.

import Foundation

public struct LineageReport: Sendable {
    public struct Row: Sendable {
        public var key: String
        public var source: String
        public var sourceDigest: String?
        public var sourceKey: String
        public var transforms: [String]
    }
    public var path: String
    public var operation: String
    public var tool: String
    public var created: String
    public var inputs: [(label: String, path: String, digest: String)]
    public var rows: [Row]
}

public enum Lineage {
    public static func read(path: String, tensor: String? = nil) throws -> LineageReport {
        let r = try Formats.open(path: path)
        guard let text = r.provenance else {
            throw UsageError("\(path): no provenance recorded (only checkpoints written by ParamKit in HDF5 carry it)")
        }
        guard let obj = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw FormatError(file: path, location: "/provenance", "provenance is not a JSON object")
        }
        let inputs = (obj["inputs"] as? [[String: Any]] ?? []).map {
            (label: $0["label"] as? String ?? "", path: $0["path"] as? String ?? "", digest: $0["digest"] as? String ?? "")
        }
        let lineage = obj["lineage"] as? [String: Any] ?? [:]
        var rows: [LineageReport.Row] = []
        for info in r.entries {
            if let tensor, tensor != info.name && tensor != info.key { continue }
            guard let l = lineage[info.key] as? [String: Any] else {
                rows.append(.init(key: info.key, source: "?", sourceDigest: nil, sourceKey: "?", transforms: ["no lineage recorded"]))
                continue
            }
            let source = l["source"] as? String ?? "?"
            rows.append(.init(key: info.key, source: source, sourceDigest: inputs.first { $0.label == source }?.digest,
                              sourceKey: l["key"] as? String ?? "?", transforms: l["transforms"] as? [String] ?? []))
        }
        if let tensor, rows.isEmpty { throw UsageError("\(path): no tensor named '\(tensor)'") }
        return LineageReport(path: path, operation: obj["operation"] as? String ?? "?", tool: obj["tool"] as? String ?? "?",
                             created: obj["created"] as? String ?? "?", inputs: inputs, rows: rows)
    }
}
