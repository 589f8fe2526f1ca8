// safetensors files: an 8-byte header length, a JSON header (dtype, shape, data_offsets per tensor,
// optional __metadata__), then the data. Keys `arg:NAME`/`aux:NAME` carry roles.

import Foundation

enum Safetensors {
    /// The reference library refuses headers above 100 MB; so do we, before reading one.
    static let maxHeaderBytes = 100_000_000

    struct Entry {
        var key: String
        var dtype: DType
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws -> (entries: [Entry], metadata: [String: String], dataStart: Int, warnings: [String]) {
        var c = ByteCursor(bytes, file: file)
        let n = try c.load(UInt64.self, "the header length")
        guard n <= UInt64(maxHeaderBytes) else {
            throw c.fail("header length \(n) exceeds the \(maxHeaderBytes)-byte limit", at: 0)
        }
        guard n <= UInt64(c.remaining) else {
            throw c.fail("truncated: header claims \(n) bytes, \(c.remaining) left", at: 0)
        }
        let header = try c.take(Int(n), "the JSON header")
        let dataStart = c.offset
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(header), options: [])
        } catch {
            throw c.fail("header is not valid JSON", at: 8)
        }
        guard let top = json as? [String: Any] else { throw c.fail("header is not a JSON object", at: 8) }
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (key, value) in top {
            if key == "__metadata__" {
                guard let m = value as? [String: Any] else { throw c.fail("__metadata__ is not an object", at: 8) }
                for (k, v) in m {
                    guard let s = v as? String else { throw c.fail("__metadata__ value '\(k)' is not a string", at: 8) }
                    metadata[k] = s
                }
                continue
            }
            func bad(_ why: String) -> FormatError { c.fail(why, at: 8, location: "tensor '\(key)'") }
            guard let d = value as? [String: Any] else { throw bad("entry is not an object") }
            guard let dname = d["dtype"] as? String else { throw bad("missing dtype") }
            guard let dtype = DType(safetensorsName: dname) else { throw bad("unsupported dtype \(dname)") }
            guard let shapeAny = d["shape"] as? [Any], let shape = intArray(shapeAny) else { throw bad("shape is not a list of integers") }
            guard shape.allSatisfy({ $0 >= 0 }), shape.count <= 64 else { throw bad("invalid shape \(shape)") }
            guard let offAny = d["data_offsets"] as? [Any], let off = intArray(offAny), off.count == 2 else {
                throw bad("data_offsets is not a pair of integers")
            }
            guard let bytes = Shape.byteCount(shape, dtype: dtype) else { throw bad("size of shape \(shape) overflows") }
            guard off[0] >= 0, off[0] <= off[1] else { throw bad("data_offsets \(off) are reversed or negative") }
            guard off[1] - off[0] == bytes else {
                throw bad("data_offsets \(off) span \(off[1] - off[0]) bytes, dtype \(dname) shape \(shape) needs \(bytes)")
            }
            guard off[1] <= bytesCount(c) - dataStart else {
                throw bad("data_offsets \(off) run past the end of the data (\(bytesCount(c) - dataStart) bytes)")
            }
            entries.append(Entry(key: key, dtype: dtype, shape: shape, begin: off[0], end: off[1]))
        }
        // File order is data order; ranges must not overlap.
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var warnings: [String] = []
        var covered = 0
        for e in entries {
            if e.begin < covered && e.end > e.begin {
                throw c.fail("tensor '\(e.key)' data [\(e.begin), \(e.end)) overlaps the previous tensor", at: dataStart + e.begin)
            }
            if e.begin > covered { warnings.append("\(e.begin - covered) unused bytes before tensor '\(e.key)'") }
            covered = max(covered, e.end)
        }
        return (entries, metadata, dataStart, warnings)
    }

    private static func bytesCount(_ c: ByteCursor) -> Int { c.bytes.count }

    private static func intArray(_ a: [Any]) -> [Int]? {
        var out: [Int] = []
        for v in a {
            guard let n = v as? NSNumber, Double(n.int64Value) == n.doubleValue else { return nil }
            out.append(Int(n.int64Value))
        }
        return out
    }
}

public final class SafetensorsReader: CheckpointReader {
    public let path: String
    public var format: FileFormat { .safetensors }
    public let entries: [TensorInfo]
    public let metadata: [String: String]
    public var provenance: String? { nil }
    public var storedRootDigest: String? { nil }
    public let warnings: [String]
    private let file: MappedFile
    private let offsets: [Int]

    public convenience init(path: String) throws {
        try self.init(file: try MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        path = file.path
        self.file = file
        let p = try Safetensors.parse(file.bytes, file: path)
        var infos: [TensorInfo] = []
        var seen = Set<String>()
        for e in p.entries {
            var role = Role.arg, name = e.key
            if e.key.hasPrefix("arg:") { name = String(e.key.dropFirst(4)) }
            else if e.key.hasPrefix("aux:") { role = .aux; name = String(e.key.dropFirst(4)) }
            let info = TensorInfo(name: name, role: role, dtype: e.dtype, shape: e.shape)
            guard seen.insert(info.key).inserted else {
                throw FormatError(file: path, location: "tensor '\(e.key)'", "two keys map to \(info.key)")
            }
            infos.append(info)
        }
        entries = infos
        offsets = p.entries.map { p.dataStart + $0.begin }
        metadata = p.metadata
        warnings = p.warnings
    }

    public func view(_ index: Int) throws -> Tensor {
        let info = entries[index]
        return try file.tensorView(dtype: info.dtype, shape: info.shape, offset: offsets[index], count: info.byteCount)
    }

    public func read(_ index: Int) throws -> Tensor {
        let info = entries[index]
        return try Tensor(dtype: info.dtype, shape: info.shape) { dst in
            try file.read(offset: offsets[index], into: dst)
        }
    }
}

/// Writes safetensors with keys `arg:NAME`/`aux:NAME`, tensors in checkpoint order, and the header
/// padded with spaces to a multiple of 8 bytes so the data is aligned.
public final class SafetensorsWriter: CheckpointWriter {
    private let output: AtomicOutput
    private let sink: FileSink
    private let entries: [TensorInfo]
    private var next = 0
    private var digests: [String] = []

    public init(path: String, entries: [TensorInfo], metadata: [String: String]) throws {
        self.entries = entries
        var fields: [(String, JSON)] = []
        if !metadata.isEmpty {
            fields.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var offset = 0
        for e in entries {
            let end = offset + e.byteCount
            fields.append((e.key, .object([
                ("dtype", .string(e.dtype.safetensorsName)),
                ("shape", .array(e.shape.map { .int($0) })),
                ("data_offsets", .array([.int(offset), .int(end)])),
            ])))
            offset = end
        }
        var header = Array(JSON.object(fields).compact.utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        output = try AtomicOutput(destination: path)
        sink = try FileSink(path: output.temporaryPath)
        var w = ByteWriter()
        w.put(UInt64(header.count))
        w.put(header)
        try sink.write(w.bytes)
    }

    @discardableResult
    public func write(_ tensor: Tensor, knownDigest: String?) throws -> String {
        precondition(next < entries.count, "more tensors than entries")
        guard entries[next].dtype == tensor.dtype, entries[next].shape == tensor.shape else {
            throw UsageError("tensor \(entries[next].key) does not match its declared dtype/shape")
        }
        let digest = try Digest.whileWriting(tensor, known: knownDigest) {
            try tensor.withUnsafeBytes { try sink.write($0) }
        }
        digests.append(digest)
        next += 1
        return digest
    }

    public func commit(provenance: String) throws -> String {
        guard next == entries.count else {
            output.discard()
            throw UsageError("\(output.destination): \(entries.count - next) tensors were not written")
        }
        try sink.close()
        try output.commit()
        return Digest.root(zip(entries, digests).map { ($0, $1) })
    }
}
