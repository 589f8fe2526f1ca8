// convert: stream a checkpoint from any readable format into HDF5, .params or safetensors, one
// tensor in memory at a time, checking stored digests on the way and recording provenance.

public struct ConvertResult: Sendable {
    public var output: String
    public var format: Formats.Output
    public var tensors: Int
    public var bytes: Int
    public var rootDigest: String
    public var warnings: [String]
}

public enum Convert {
    public static func run(input: String, output: String, format: Formats.Output?, options: ReadOptions = ReadOptions(),
                           progress: ((Int, Int) -> Void)? = nil) throws -> ConvertResult {
        let f = try Formats.Output(path: output, explicit: format)
        let r = try Formats.open(path: input, options: options)
        let plan = Rewrite.copy(r)
        let root = try Rewrite.write(plan, reader: r, output: output, format: f, progress: progress)
        return ConvertResult(output: output, format: f, tensors: r.entries.count, bytes: r.entries.reduce(0) { $0 + $1.byteCount },
                             rootDigest: root, warnings: r.warnings)
    }
}
