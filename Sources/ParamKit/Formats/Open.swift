// Opening files by content: the format is detected from the first bytes, never from the extension;
// writers are chosen from an explicit format or the output's extension.

import Foundation

public enum Formats {
    static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    /// The container a file is, from its first bytes (HDF5 may sit after a user block of 512·2ⁿ bytes).
    public static func detect(path: String) throws -> FileFormat {
        let file = try MappedFile(path: path)
        let b = file.bytes
        func hasHDF5Signature(at offset: Int) -> Bool {
            offset + 8 <= b.count && Array(b[offset..<offset + 8]) == hdf5Signature
        }
        if hasHDF5Signature(at: 0) || [512, 1024, 2048, 4096].contains(where: hasHDF5Signature) { return .hdf5 }
        guard b.count >= 8 else {
            throw FormatError(file: path, offset: 0, "file is \(b.count) bytes: too short to be a checkpoint")
        }
        let word = b.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        if word == MXNetParams.listMagic { return .params }
        if b.count > 8, b[8] == UInt8(ascii: "{") {
            return .safetensors
        }
        throw FormatError(file: path, offset: 0, "unknown format: not HDF5, MXNet .params (magic 0x112) or safetensors "
                          + "(first bytes \(b.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")))")
    }

    /// Opens any supported checkpoint file for reading.
    public static func open(path: String, options: ReadOptions = ReadOptions()) throws -> CheckpointReader {
        guard FileManager.default.fileExists(atPath: path) else {
            throw FormatError(file: path, "no such file")
        }
        switch try detect(path: path) {
        case .hdf5, .hdf5Plain, .keras: return try HDF5Reader(path: path)
        case .params: return try ParamsReader(path: path, options: options)
        case .safetensors: return try SafetensorsReader(path: path)
        }
    }

    /// Output formats ParamKit writes.
    public enum Output: String, CaseIterable, Sendable {
        case hdf5, params, safetensors

        public init(path: String, explicit: Output?) throws {
            if let explicit { self = explicit; return }
            let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
            switch ext {
            case "h5", "hdf5": self = .hdf5
            case "params": self = .params
            case "safetensors": self = .safetensors
            default:
                throw UsageError("\(path): cannot tell the output format from the extension '.\(ext)' (hdf5, params or safetensors)", setting: "format")
            }
        }
    }

    public static func writer(path: String, format: Output, entries: [TensorInfo], metadata: [String: String]) throws -> CheckpointWriter {
        switch format {
        case .hdf5: return try HDF5Writer(path: path, entries: entries, metadata: metadata)
        case .params: return try ParamsWriter(path: path, entries: entries, metadata: metadata)
        case .safetensors: return try SafetensorsWriter(path: path, entries: entries, metadata: metadata)
        }
    }

    /// `prefix` + epoch → `prefix-0001.params`, MXNet's checkpoint naming (`%04d` is a minimum width).
    public static func paramsPath(prefix: String, epoch: Int) -> String {
        epochPath(prefix + ".params", epoch: epoch)
    }

    /// `out/rpn1.h5`, epoch 3 → `out/rpn1-0003.h5`: MXNet's `-%04d` before the file's extension, if
    /// it has one (a dot in a directory name is not one).
    public static func epochPath(_ path: String, epoch: Int) -> String {
        let suffix = "-" + String(format: "%04d", epoch)
        guard let dot = path.lastIndex(of: "."), path[dot...].firstIndex(of: "/") == nil,
              dot != path.startIndex, path[path.index(before: dot)] != "/" else { return path + suffix }
        return path[..<dot] + suffix + path[dot...]
    }

    /// Reads every tensor (for small files and tests).
    public static func load(path: String, options: ReadOptions = ReadOptions()) throws -> Checkpoint {
        let r = try open(path: path, options: options)
        var c = Checkpoint(metadata: r.metadata)
        for (i, info) in r.entries.enumerated() {
            c.tensors.append((info, try r.read(i)))
        }
        return c
    }

    /// Writes a whole in-memory checkpoint.
    @discardableResult
    public static func save(_ checkpoint: Checkpoint, to path: String, format: Output? = nil,
                            provenance: Provenance = Provenance(operation: "save")) throws -> String {
        let f = try Output(path: path, explicit: format)
        let w = try writer(path: path, format: f, entries: checkpoint.tensors.map { $0.info }, metadata: checkpoint.metadata)
        for (_, t) in checkpoint.tensors { try w.write(t) }
        return try w.commit(provenance: provenance.json.compact)
    }
}
