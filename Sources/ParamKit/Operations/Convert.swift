// convert: stream a checkpoint from any readable format into HDF5, .params or safetensors, one
// tensor in memory at a time, checking stored digests on the way and recording provenance.

public struct ConvertResult: Sendable {
    public var output: String
    public var format: Formats.Output
    public var tensors: Int
    public var bytes: Int
    public var rootDigest: String
    public var inputDigest: String
    public var warnings: [String]
}

public enum Convert {
    public static func run(input: String, output: String, format: Formats.Output?, options: ReadOptions = ReadOptions(),
                           progress: ((Int, Int) -> Void)? = nil) throws -> ConvertResult {
        try OutputGuard.refuseOverwrite(output: output, inputs: [input])
        let f = try Formats.Output(path: output, explicit: format)
        let r = try Formats.open(path: input, options: options)
        let w = try Formats.writer(path: output, format: f, entries: r.entries, metadata: r.metadata)
        var provenance = Provenance(operation: "convert")
        var digests: [(info: TensorInfo, digest: String)] = []
        for (i, info) in r.entries.enumerated() {
            progress?(i, r.entries.count)
            let digest = try w.write(try r.read(i))
            if let stored = info.storedDigest, stored != digest {
                throw FormatError(file: input, location: info.key,
                                  "stored digest \(stored) does not match the data (\(digest)): the file is corrupt; run `paramkit verify`")
            }
            digests.append((info, digest))
            provenance.lineage.append((info.key, .init(source: "input", key: info.key, transforms: ["copied"])))
        }
        let inputDigest = Digest.root(digests)
        provenance.inputs = [.init(label: "input", path: input, digest: inputDigest)]
        provenance.settings = [("format", .string(f.rawValue))]
        let root = try w.commit(provenance: provenance.json.compact)
        return ConvertResult(output: output, format: f, tensors: r.entries.count, bytes: r.entries.reduce(0) { $0 + $1.byteCount },
                             rootDigest: root, inputDigest: inputDigest, warnings: r.warnings)
    }
}
