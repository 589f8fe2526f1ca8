// MXNet NDArray `.params` files: a validating reader for every record version (pre-V1, V1, V2, V3,
// dense and sparse) and a writer of V2 records (V3 where the shape needs it). Byte layout:
// reference/params-format.md. Every size is checked against the bytes left before anything is read.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How to treat a name that appears twice in a file (MXNet silently keeps the last one).
public enum DuplicatePolicy: String, Sendable, CaseIterable {
    case reject, keepLast = "last"
}

public struct ReadOptions: Sendable {
    public var duplicates: DuplicatePolicy = .reject
    public init(duplicates: DuplicatePolicy = .reject) { self.duplicates = duplicates }
}

enum MXNetParams {
    static let listMagic: UInt64 = 0x112
    static let magicV1: UInt32 = 0xF993_FAC8
    static let magicV2: UInt32 = 0xF993_FAC9
    static let magicV3: UInt32 = 0xF993_FACA
    static let maxDims = 32
    /// Metadata key recording how the file named its arrays, so a round trip writes them back alike.
    static let keyStyleKey = "mxnet.keys"
    /// Metadata key set to "true" when every record was V3 (saved under MXNet's numpy-shape semantics).
    static let npShapeKey = "mxnet.np_shape"

    enum Storage {
        case dense
        /// Compressed sparse rows: nnz values, then indptr (rows+1) and column indices (nnz), int64.
        case csr(nnz: Int, indptrOffset: Int, indicesOffset: Int)
        /// Stored rows: values (rows stored × row shape), then row indices (int64).
        case rowSparse(storedRows: Int, indicesOffset: Int)
    }

    struct Record {
        var recordOffset: Int
        var version: String
        var dtype: DType
        var shape: [Int]
        var dataOffset: Int
        var storage: Storage
    }

    struct Parsed {
        var records: [Record]
        var names: [String]?   // nil for a list file
        var warnings: [String]
    }

    /// Parses the whole file structure without copying any tensor data.
    static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws -> Parsed {
        var c = ByteCursor(bytes, file: file)
        var warnings: [String] = []
        let magic = try c.load(UInt64.self, "the list magic")
        guard magic == listMagic else {
            throw c.fail("not an MXNet .params file: list magic is 0x\(String(magic, radix: 16)), expected 0x112", at: 0)
        }
        let reserved = try c.load(UInt64.self, "the reserved word")
        if reserved != 0 {
            warnings.append("reserved word at byte 8 is \(reserved), not 0 (MXNet ignores it; so does ParamKit)")
        }
        let countAt = c.offset
        let n = try c.load(UInt64.self, "the array count")
        // The smallest record (pre-V1 "none") is 4 bytes: a larger count cannot be honest.
        guard n <= UInt64(c.remaining / 4) else {
            throw c.fail("array count \(n) is impossible: only \(c.remaining) bytes follow", at: countAt)
        }
        var records: [Record] = []
        records.reserveCapacity(Int(n))
        for i in 0..<Int(n) {
            records.append(try parseRecord(&c, index: i))
        }
        let namesAt = c.offset
        let k = try c.load(UInt64.self, "the name count")
        guard k == 0 || k == n else {
            throw c.fail("\(k) names for \(n) arrays (the name count must be 0 or the array count)", at: namesAt)
        }
        var names: [String]? = nil
        if k > 0 {
            var list: [String] = []
            for i in 0..<Int(k) {
                let lenAt = c.offset
                let len = try c.load(UInt64.self, "the length of name \(i)")
                guard len <= UInt64(c.remaining) else {
                    throw c.fail("truncated: name \(i) claims \(len) bytes, \(c.remaining) left", at: lenAt)
                }
                let raw = try c.take(Int(len), "name \(i)")
                guard let s = String(validating: raw, as: UTF8.self) else {
                    throw c.fail("name \(i) is not valid UTF-8", at: lenAt + 8)
                }
                list.append(s)
            }
            names = list
        }
        if c.remaining > 0 {
            warnings.append("\(c.remaining) trailing bytes after the last name at byte \(c.offset) ignored (MXNet ignores them too)")
        }
        return Parsed(records: records, names: names, warnings: warnings)
    }

    private static func readShape(_ c: inout ByteCursor, ndim: Int, wide: Bool, version: String,
                                  location: String) throws -> [Int] {
        var shape: [Int] = []
        for d in 0..<ndim {
            let at = c.offset
            let v: Int64 = wide ? try c.load(Int64.self, "dimension \(d)") : Int64(try c.load(UInt32.self, "dimension \(d)"))
            guard v >= 0 else {
                if v == -1 && version == "V3" {
                    throw c.fail("array has an unknown shape (dimension -1): MXNet 'none' arrays hold no data and cannot be loaded",
                                 at: at, location: location)
                }
                throw c.fail("negative dimension \(v)", at: at, location: location)
            }
            shape.append(Int(v))
        }
        return shape
    }

    private static func readNdim(_ c: inout ByteCursor, location: String, allowUnknown: Bool) throws -> Int {
        let at = c.offset
        let ndim = try c.load(Int32.self, "ndim")
        if ndim == -1 && allowUnknown {
            throw c.fail("array has an unknown shape (ndim -1): MXNet 'none' arrays hold no data and cannot be loaded",
                         at: at, location: location)
        }
        guard ndim >= 0, Int(ndim) <= maxDims else {
            throw c.fail("ndim \(ndim) is outside 0…\(maxDims)", at: at, location: location)
        }
        return Int(ndim)
    }

    private static func dtype(_ c: inout ByteCursor, location: String) throws -> DType {
        let at = c.offset
        let flag = try c.load(Int32.self, "the dtype flag")
        guard let t = DType(mxnetFlag: flag) else {
            let extra = (8...11).contains(flag) ? " (int16/uint16/uint32/uint64 exist in mshadow but ParamKit does not hold them)" : ""
            throw c.fail("unknown dtype flag \(flag)\(extra)", at: at, location: location)
        }
        return t
    }

    private static func payload(_ c: inout ByteCursor, shape: [Int], dtype: DType, location: String) throws -> Int {
        let at = c.offset
        guard let elements = Shape.elementCount(shape) else {
            throw c.fail("element count of shape \(Shape.text(shape)) overflows", at: at, location: location)
        }
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, bytes <= c.remaining else {
            throw c.fail("truncated: array claims \(overflow ? "more than \(Int.max)" : String(bytes)) bytes of data, "
                         + "\(c.remaining) left (file has \(c.bytes.count))", at: at, location: location)
        }
        try c.skip(bytes, "array data")
        return at
    }

    private static func parseRecord(_ c: inout ByteCursor, index: Int) throws -> Record {
        let start = c.offset
        let location = "record \(index)"
        let first = try c.load(UInt32.self, "array magic")
        switch first {
        case magicV2, magicV3:
            let version = first == magicV3 ? "V3" : "V2"
            let stypeAt = c.offset
            let stype = try c.load(Int32.self, "the storage type")
            guard (0...2).contains(stype) else {
                throw c.fail("unknown storage type \(stype)", at: stypeAt, location: location)
            }
            guard stype == 0 || version == "V2" else {
                throw c.fail("V3 records must be dense, storage type is \(stype)", at: stypeAt, location: location)
            }
            var storageShape: [Int] = []
            if stype != 0 {
                let sn = try readNdim(&c, location: location, allowUnknown: false)
                storageShape = try readShape(&c, ndim: sn, wide: true, version: version, location: location)
            }
            let ndimAt = c.offset
            let ndim = try readNdim(&c, location: location, allowUnknown: version == "V3")
            let shape = try readShape(&c, ndim: ndim, wide: true, version: version, location: location)
            if ndim == 0 && version == "V2" {
                throw c.fail("V2 record with ndim 0 is an MXNet 'none' array without data; MXNet writes 0-d arrays this way "
                             + "but cannot read them back (save them under numpy-shape semantics, V3)", at: ndimAt, location: location)
            }
            try c.skip(8, "the device context")
            let t = try dtype(&c, location: location)
            if stype == 0 {
                let data = try payload(&c, shape: shape, dtype: t, location: location)
                return Record(recordOffset: start, version: version, dtype: t, shape: shape, dataOffset: data, storage: .dense)
            }
            return try parseSparse(&c, stype: stype, storageShape: storageShape, shape: shape, dtype: t,
                                   start: start, version: version, location: location)
        case magicV1:
            let ndimAt = c.offset
            let ndim = try readNdim(&c, location: location, allowUnknown: false)
            guard ndim > 0 else {
                throw c.fail("V1 record with ndim 0 is an MXNet 'none' array without data", at: ndimAt, location: location)
            }
            let shape = try readShape(&c, ndim: ndim, wide: true, version: "V1", location: location)
            try c.skip(8, "the device context")
            let t = try dtype(&c, location: location)
            let data = try payload(&c, shape: shape, dtype: t, location: location)
            return Record(recordOffset: start, version: "V1", dtype: t, shape: shape, dataOffset: data, storage: .dense)
        default:
            // Files from before V1 have no magic: the first word is ndim.
            guard first <= UInt32(maxDims) else {
                throw c.fail("unknown array magic 0x\(String(first, radix: 16, uppercase: true)) "
                             + "(not V1/V2/V3, and too large for a pre-V1 ndim)", at: start, location: location)
            }
            guard first > 0 else {
                throw c.fail("pre-V1 record with ndim 0 is an MXNet 'none' array without data", at: start, location: location)
            }
            let shape = try readShape(&c, ndim: Int(first), wide: false, version: "V0", location: location)
            try c.skip(8, "the device context")
            let t = try dtype(&c, location: location)
            let data = try payload(&c, shape: shape, dtype: t, location: location)
            return Record(recordOffset: start, version: "V0", dtype: t, shape: shape, dataOffset: data, storage: .dense)
        }
    }

    private static func parseSparse(_ c: inout ByteCursor, stype: Int32, storageShape: [Int], shape: [Int], dtype t: DType,
                                    start: Int, version: String, location: String) throws -> Record {
        // The dense form is what gets allocated: it must not overflow, and a small file may not claim
        // a huge matrix (limit: 1024× the file size, at least 16 MiB).
        let limit = max(c.bytes.count.multipliedReportingOverflow(by: 1024).partialValue, 16 << 20)
        guard let dense = Shape.byteCount(shape, dtype: t), dense <= limit, shape.allSatisfy({ $0 < Int(Int32.max) }) else {
            throw c.fail("sparse array's dense shape \(Shape.text(shape)) is too large for a \(c.bytes.count)-byte file", at: start, location: location)
        }
        let auxCount = stype == 2 ? 2 : 1
        var auxShapes: [[Int]] = []
        for a in 0..<auxCount {
            let at = c.offset
            let flag = try c.load(Int32.self, "sparse index dtype")
            guard flag == DType.int64.mxnetFlag else {
                throw c.fail("sparse index array \(a) has dtype flag \(flag), expected int64 (6)", at: at, location: location)
            }
            let n = try readNdim(&c, location: location, allowUnknown: false)
            auxShapes.append(try readShape(&c, ndim: n, wide: true, version: version, location: location))
        }
        let dataAt = try payload(&c, shape: storageShape, dtype: t, location: location)
        var auxOffsets: [Int] = []
        for s in auxShapes {
            auxOffsets.append(try payload(&c, shape: s, dtype: .int64, location: location))
        }
        if stype == 2 {
            guard shape.count == 2, storageShape.count == 1, auxShapes[0] == [shape[0] + 1], auxShapes[1] == storageShape else {
                throw c.fail("inconsistent csr record: shape \(Shape.text(shape)), storage \(Shape.text(storageShape)), "
                             + "indptr \(Shape.text(auxShapes[0])), indices \(Shape.text(auxShapes[1]))", at: start, location: location)
            }
            return Record(recordOffset: start, version: version, dtype: t, shape: shape, dataOffset: dataAt,
                          storage: .csr(nnz: storageShape[0], indptrOffset: auxOffsets[0], indicesOffset: auxOffsets[1]))
        }
        guard !shape.isEmpty, storageShape.count == shape.count, Array(storageShape.dropFirst()) == Array(shape.dropFirst()),
              auxShapes[0] == [storageShape[0]] else {
            throw c.fail("inconsistent row_sparse record: shape \(Shape.text(shape)), storage \(Shape.text(storageShape)), "
                         + "indices \(Shape.text(auxShapes[0]))", at: start, location: location)
        }
        return Record(recordOffset: start, version: version, dtype: t, shape: shape, dataOffset: dataAt,
                      storage: .rowSparse(storedRows: storageShape[0], indicesOffset: auxOffsets[0]))
    }

    /// Splits MXNet keys into roles: `arg:`/`aux:` prefixes become roles; a file with no prefixed
    /// key at all keeps its plain names as `arg` tensors; a list file gets names "0", "1", ….
    static func entries(_ parsed: Parsed, file: String, options: ReadOptions) throws
        -> (entries: [TensorInfo], recordIndex: [Int], style: String, warnings: [String]) {
        var warnings = parsed.warnings
        let keys = parsed.names ?? parsed.records.indices.map(String.init)
        let style: String
        if parsed.names == nil {
            style = "list"
        } else if keys.contains(where: { $0.hasPrefix("arg:") || $0.hasPrefix("aux:") }) {
            style = "prefixed"
        } else {
            style = "plain"
        }
        var infos: [TensorInfo] = []
        var seen: [String: Int] = [:]
        var index: [Int] = []
        for (i, key) in keys.enumerated() {
            var role = Role.arg
            var name = key
            if style == "prefixed" {
                if key.hasPrefix("arg:") { name = String(key.dropFirst(4)) }
                else if key.hasPrefix("aux:") { role = .aux; name = String(key.dropFirst(4)) }
                else { warnings.append("key '\(key)' has no arg:/aux: prefix; read as an arg tensor") }
            }
            let r = parsed.records[i]
            let info = TensorInfo(name: name, role: role, dtype: r.dtype, shape: r.shape)
            if let previous = seen[info.key] {
                switch options.duplicates {
                case .reject:
                    throw FormatError(file: file, offset: r.recordOffset, location: "record \(i)",
                                      "duplicate name '\(key)' (also record \(index[previous])); MXNet keeps the last one, "
                                      + "ParamKit refuses it by default", setting: "duplicates")
                case .keepLast:
                    warnings.append("duplicate name '\(key)': record \(i) replaces record \(index[previous])")
                    infos[previous] = info
                    index[previous] = i
                    continue
                }
            }
            seen[info.key] = infos.count
            infos.append(info)
            index.append(i)
        }
        return (infos, index, style, warnings)
    }
}

/// Reads a `.params` file through a memory map; tensors are copied out one at a time.
public final class ParamsReader: CheckpointReader {
    public let path: String
    public var format: FileFormat { .params }
    public let entries: [TensorInfo]
    public let metadata: [String: String]
    public var provenance: String? { nil }
    public var storedRootDigest: String? { nil }
    public let warnings: [String]
    private let file: MappedFile
    private let records: [MXNetParams.Record]

    public convenience init(path: String, options: ReadOptions = ReadOptions()) throws {
        try self.init(file: try MappedFile(path: path), options: options)
    }

    public init(file: MappedFile, options: ReadOptions = ReadOptions()) throws {
        path = file.path
        self.file = file
        let parsed = try MXNetParams.parse(file.bytes, file: path)
        let e = try MXNetParams.entries(parsed, file: path, options: options)
        entries = e.entries
        records = e.recordIndex.map { parsed.records[$0] }
        var m = [MXNetParams.keyStyleKey: e.style]
        if !parsed.records.isEmpty && parsed.records.allSatisfy({ $0.version == "V3" }) { m[MXNetParams.npShapeKey] = "true" }
        metadata = m
        var w = e.warnings
        if parsed.records.contains(where: { if case .dense = $0.storage { return false } else { return true } }) {
            w.append("sparse arrays were converted to dense tensors")
        }
        warnings = w
    }

    public func read(_ index: Int) throws -> Tensor {
        let r = records[index]
        switch r.storage {
        case .dense:
            return try Tensor(dtype: r.dtype, shape: r.shape) { dst in
                try file.read(offset: r.dataOffset, into: dst)
            }
        case .csr, .rowSparse:
            return try densify(r, index: index)
        }
    }

    public func view(_ index: Int) throws -> Tensor {
        let r = records[index]
        guard case .dense = r.storage else { return try read(index) }
        return try file.tensorView(dtype: r.dtype, shape: r.shape, offset: r.dataOffset, count: entries[index].byteCount)
    }

    private func densify(_ r: MXNetParams.Record, index: Int) throws -> Tensor {
        let raw = file.bytes.baseAddress!
        let size = r.dtype.size
        func index64(_ offset: Int, _ i: Int) -> Int { Int(raw.loadUnaligned(fromByteOffset: offset + 8 * i, as: Int64.self)) }
        func bad(_ message: String, _ at: Int) -> FormatError {
            FormatError(file: path, offset: at, location: "record \(index) (\(entries[index].key))", message)
        }
        return try Tensor(dtype: r.dtype, shape: r.shape) { dst in
            dst.initializeMemory(as: UInt8.self, repeating: 0)
            switch r.storage {
            case .dense:
                break
            case let .csr(nnz, indptrOffset, indicesOffset):
                let rows = r.shape[0], cols = r.shape[1]
                guard index64(indptrOffset, 0) == 0, index64(indptrOffset, rows) == nnz else {
                    throw bad("csr indptr must start at 0 and end at nnz \(nnz)", indptrOffset)
                }
                for row in 0..<rows {
                    let lo = index64(indptrOffset, row), hi = index64(indptrOffset, row + 1)
                    guard lo <= hi, hi <= nnz else { throw bad("csr indptr is not monotonic at row \(row)", indptrOffset + 8 * row) }
                    for j in lo..<hi {
                        let col = index64(indicesOffset, j)
                        guard col >= 0, col < cols else { throw bad("csr column index \(col) out of range 0..<\(cols)", indicesOffset + 8 * j) }
                        (dst.baseAddress! + (row * cols + col) * size).copyMemory(from: raw + r.dataOffset + j * size, byteCount: size)
                    }
                }
            case let .rowSparse(storedRows, indicesOffset):
                let rowBytes = (Shape.elementCount(Array(r.shape.dropFirst())) ?? 0) * size
                for j in 0..<storedRows {
                    let row = index64(indicesOffset, j)
                    guard row >= 0, row < r.shape[0] else { throw bad("row_sparse row index \(row) out of range 0..<\(r.shape[0])", indicesOffset + 8 * j) }
                    (dst.baseAddress! + row * rowBytes).copyMemory(from: raw + r.dataOffset + j * rowBytes, byteCount: rowBytes)
                }
            }
        }
    }
}

/// Writes V2 records, CPU context, keys `arg:NAME`/`aux:NAME` unless the checkpoint came from a
/// plain-named or list file. When a tensor is 0-d or empty (which V2 cannot hold), or the source was
/// saved under numpy-shape semantics, every record is V3: MXNet loads V3 only in numpy-shape mode and
/// V2 only outside it, so one file must not mix them.
public final class ParamsWriter: CheckpointWriter {
    private let output: AtomicOutput
    private let sink: FileSink
    private let entries: [TensorInfo]
    private let style: String
    private let v3: Bool
    private var next = 0
    private var digests: [String] = []

    public init(path: String, entries: [TensorInfo], metadata: [String: String]) throws {
        var style = metadata[MXNetParams.keyStyleKey] ?? "prefixed"
        if style != "prefixed" && entries.contains(where: { $0.role == .aux }) { style = "prefixed" }
        if style == "list" && entries.enumerated().contains(where: { $0.element.name != String($0.offset) }) { style = "plain" }
        self.style = style
        self.entries = entries
        v3 = metadata[MXNetParams.npShapeKey] == "true" || entries.contains { $0.shape.isEmpty || $0.elementCount == 0 }
        output = try AtomicOutput(destination: path)
        sink = try FileSink(path: output.temporaryPath)
        var w = ByteWriter()
        w.put(MXNetParams.listMagic)
        w.put(UInt64(0))
        w.put(UInt64(entries.count))
        try sink.write(w.bytes)
    }

    @discardableResult
    public func write(_ tensor: Tensor, knownDigest: String?) throws -> String {
        precondition(next < entries.count, "more tensors than entries")
        let info = entries[next]
        guard info.dtype == tensor.dtype, info.shape == tensor.shape else {
            throw UsageError("tensor \(info.key) does not match its declared dtype/shape")
        }
        var w = ByteWriter()
        w.put(v3 ? MXNetParams.magicV3 : MXNetParams.magicV2)
        w.put(Int32(0))                       // dense storage
        w.put(Int32(tensor.shape.count))
        for d in tensor.shape { w.put(Int64(d)) }
        w.put(Int32(1)); w.put(Int32(0))      // cpu(0)
        w.put(tensor.dtype.mxnetFlag)
        try sink.write(w.bytes)
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
        var w = ByteWriter()
        if style == "list" {
            w.put(UInt64(0))
        } else {
            w.put(UInt64(entries.count))
            for e in entries {
                let key = Array((style == "plain" ? e.name : e.key).utf8)
                w.put(UInt64(key.count))
                w.put(key)
            }
        }
        try sink.write(w.bytes)
        try sink.close()
        try output.commit()
        return Digest.root(zip(entries, digests).map { ($0, $1) })
    }
}
