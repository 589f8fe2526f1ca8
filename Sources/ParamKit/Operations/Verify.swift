// verify: recompute every tensor digest and the root digest, compare with what the file stores,
// and count NaN/Inf values in floating-point tensors.

public struct VerifyReport: Sendable {
    public struct Row: Sendable {
        public var info: TensorInfo
        public var computed: String
        /// nil when the format stores no digest; false when the stored digest differs.
        public var matches: Bool?
        public var nanCount: Int
        public var infCount: Int
    }

    public var path: String
    public var format: FileFormat
    public var rows: [Row]
    public var storedRootDigest: String?
    public var computedRootDigest: String
    public var warnings: [String]
    /// Header parts (provenance, metadata) whose bytes no longer match their stored digest; nil when
    /// the file keeps no header digests.
    public var headerMismatches: [String]?

    public var mismatched: [Row] { rows.filter { $0.matches == false } }
    public var nonFinite: [Row] { rows.filter { $0.nanCount + $0.infCount > 0 } }
    public var rootMatches: Bool? { storedRootDigest.map { $0 == computedRootDigest } }
    public var hasDigests: Bool { rows.contains { $0.matches != nil } || storedRootDigest != nil }
}

public enum Verify {
    public static func run(path: String, options: ReadOptions = ReadOptions(),
                           progress: ((Int, Int) -> Void)? = nil) throws -> VerifyReport {
        let r = try Formats.open(path: path, options: options)
        var rows: [VerifyReport.Row] = []
        for (i, info) in r.entries.enumerated() {
            progress?(i, r.entries.count)
            let t = try r.view(i)
            let digest = t.digest
            var nan = 0, inf = 0
            if t.dtype.isFloatingPoint {
                let s = TensorStats.of(t)
                nan = s.nanCount; inf = s.infCount
            }
            // ParamKit's own checkpoints keep a digest per tensor: a missing one is a damaged file.
            let matches = info.storedDigest.map { $0 == digest } ?? (r.format == .hdf5 ? false : nil)
            rows.append(.init(info: info, computed: digest, matches: matches,
                              nanCount: nan, infCount: inf))
        }
        let root = Digest.root(rows.map { ($0.info, $0.computed) })
        return VerifyReport(path: path, format: r.format, rows: rows, storedRootDigest: r.storedRootDigest,
                            computedRootDigest: root, warnings: r.warnings, headerMismatches: r.headerMismatches)
    }
}
