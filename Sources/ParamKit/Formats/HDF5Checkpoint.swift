// HDF5 checkpoints: ParamKit's native layout (/arg, /aux, digests, provenance; schemas/checkpoint.schema.json),
// plain /arg+/aux files such as h5py writes, and Keras 2 `save_weights` files (read only).

import CHDF5
import Foundation

public enum NativeFormat {
    public static let kind = "paramkit.checkpoint"
    public static let version = 1

    /// Link name for a tensor name: '%' and '/' are percent-encoded, as are a lone ".", an empty
    /// name and leading/trailing spaces, which HDF5 cannot hold as they are.
    public static func escape(_ name: String) -> String {
        if name.isEmpty { return "%" }
        if name == "." { return "%2E" }
        var out = ""
        let scalars = Array(name.unicodeScalars)
        for (i, u) in scalars.enumerated() {
            switch u {
            case "%": out += "%25"
            case "/": out += "%2F"
            case " " where i == 0 || i == scalars.count - 1: out += "%20"
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }

    public static func unescape(_ link: String) -> String {
        if link == "%" { return "" }
        guard link.contains("%") else { return link }
        var bytes: [UInt8] = []
        var it = Array(link.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "%"), it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

public final class HDF5Reader: CheckpointReader {
    public let path: String
    public let format: FileFormat
    public private(set) var entries: [TensorInfo] = []
    public private(set) var metadata: [String: String] = [:]
    public private(set) var headerMismatches: [String]?
    public private(set) var provenance: String?
    public private(set) var storedRootDigest: String?
    public private(set) var warnings: [String] = []
    private let file: H5Object
    private let raw: MappedFile
    private var datasetPaths: [String] = []

    public init(path: String) throws {
        _ = H5.initialised
        let watch = try H5Watchdog.start(path)
        defer { watch?.cancel() }
        self.path = path
        raw = try MappedFile(path: path)
        file = try H5.openReadOnly(path)
        let kind = try file.stringAttribute("paramkit_format", at: "/")
        if let kind {
            guard kind == NativeFormat.kind else {
                throw FormatError(file: path, location: "/", "paramkit_format is '\(kind)', expected '\(NativeFormat.kind)'", artifactKind: kind)
            }
            let version = try file.intAttribute("format_version", at: "/") ?? 0
            guard version >= 1, version <= NativeFormat.version else {
                throw FormatError(file: path, location: "/", "format_version \(version) is not one this ParamKit reads (1…\(NativeFormat.version))")
            }
            format = .hdf5
            storedRootDigest = try file.stringAttribute("digest", at: "/")
            provenance = try file.stringAttribute("provenance", at: "/")
            let metadataText = try file.stringAttribute("metadata", at: "/")
            headerMismatches = try checkHeader(provenance: provenance, metadata: metadataText)
            if let m = metadataText {
                guard let obj = try? JSONSerialization.jsonObject(with: Data(m.utf8)) as? [String: String] else {
                    throw FormatError(file: path, location: "/", "metadata attribute is not a JSON object of strings")
                }
                metadata = obj
            }
            try listArgAux()
        } else if file.hasAttribute("digest") || file.hasAttribute("provenance") {
            throw FormatError(file: path, location: "/", "has ParamKit's digest and provenance but no paramkit_format attribute: a damaged ParamKit checkpoint")
        } else if file.isGroup("arg") || file.isGroup("aux") {
            format = .hdf5Plain
            try listArgAux()
        } else if file.hasAttribute("layer_names") {
            format = .keras
            try listKeras()
        } else {
            throw FormatError(file: path, location: "/", "HDF5 file has no /arg or /aux group and no Keras layer_names attribute: not a checkpoint")
        }
    }

    /// Compares `provenance_digest` and `metadata_digest` (written since they exist; older files have
    /// neither and give nil) with the attributes' text.
    private func checkHeader(provenance: String?, metadata: String?) throws -> [String]? {
        var mismatched: [String] = [], seen = false
        for (part, value) in [("provenance", provenance), ("metadata", metadata)] {
            guard let stored = try file.stringAttribute(part + "_digest", at: "/") else { continue }
            seen = true
            if stored != Digest.text(value ?? "") { mismatched.append(part) }
        }
        return seen ? mismatched : nil
    }

    private func listArgAux() throws {
        for role in Role.allCases where file.isGroup(role.rawValue) {
            let group = try file.openGroup(role.rawValue)
            for link in try group.linkNames() {
                let location = "/\(role.rawValue)/\(link)"
                guard !group.isGroup(link) else {
                    throw FormatError(file: path, location: location, "expected a dataset, found a group")
                }
                let ds = try group.openDataset(link)
                let name = try ds.stringAttribute("name", at: location) ?? NativeFormat.unescape(link)
                try addEntry(ds, name: name, role: role, location: location)
            }
        }
    }

    private func listKeras() throws {
        let layers = try file.stringListAttribute("layer_names", at: "/") ?? []
        for layer in layers {
            guard file.isGroup(layer) else {
                throw FormatError(file: path, location: "/\(layer)", "layer_names lists '\(layer)' but the file has no such group")
            }
            let group = try file.openGroup(layer)
            for weight in try group.stringListAttribute("weight_names", at: "/\(layer)") ?? [] {
                let location = "/\(layer)/\(weight)"
                let ds = try group.openDataset(weight)
                // Keras keeps BatchNorm statistics beside the weights; they are auxiliary states.
                let role: Role = weight.contains("moving_mean") || weight.contains("moving_variance") ? .aux : .arg
                try addEntry(ds, name: weight, role: role, location: location)
            }
        }
    }

    private func addEntry(_ ds: H5Object, name: String, role: Role, location: String) throws {
        let type = try H5Handle(H5Dget_type(ds.id), "cannot read the type of \(location)", file: path, closer: H5Tclose)
        let tagged = try ds.stringAttribute("dtype", at: location)
        let dtype = try H5Types.dtype(of: type.id, tagged: tagged, file: path, location: location)
        let space = try H5Handle(H5Dget_space(ds.id), "cannot read the shape of \(location)", file: path, closer: H5Sclose)
        let ndim = Int(H5Sget_simple_extent_ndims(space.id))
        guard ndim >= 0, ndim <= 32 else { throw FormatError(file: path, location: location, "dataset has \(ndim) dimensions") }
        var dims = [hsize_t](repeating: 0, count: max(ndim, 1))
        H5Sget_simple_extent_dims(space.id, &dims, nil)
        let shape = dims.prefix(ndim).map { Int(clamping: $0) }
        guard let bytes = Shape.byteCount(shape, dtype: dtype) else {
            throw FormatError(file: path, location: location, "size of shape \(Shape.text(shape)) overflows")
        }
        // A claimed size must be justified by what is stored: no giant allocation from a tiny file.
        let stored = ds.storageSize
        let offset = H5Dget_offset(ds.id)
        if offset != ch5_haddr_undef() {
            let start = Int(clamping: offset)
            guard stored >= bytes, bytes <= raw.size, start <= raw.size - bytes else {
                throw FormatError(file: path, offset: start, location: location,
                                  "truncated: dataset needs \(bytes) bytes at byte \(offset), file has \(raw.size)")
            }
        } else if bytes > (1 << 20) && (bytes - (1 << 20)) / 1024 > stored {
            throw FormatError(file: path, location: location, "dataset claims \(bytes) bytes but stores only \(stored)")
        }
        let digest = try ds.stringAttribute("digest", at: location)
        entries.append(TensorInfo(name: name, role: role, dtype: dtype, shape: shape, storedDigest: digest))
        datasetPaths.append(location)
    }

    public func view(_ index: Int) throws -> Tensor {
        _ = H5.initialised
        let info = entries[index]
        let ds = try file.openDataset(datasetPaths[index])
        let type = try H5Handle(H5Dget_type(ds.id), "cannot read the type of \(datasetPaths[index])", file: path, closer: H5Tclose)
        let offset = H5Dget_offset(ds.id)
        guard offset != ch5_haddr_undef(), H5Tget_order(type.id) != H5T_ORDER_BE else { return try read(index) }
        return try raw.tensorView(dtype: info.dtype, shape: info.shape, offset: Int(offset), count: info.byteCount)
    }

    public func read(_ index: Int) throws -> Tensor {
        _ = H5.initialised
        let info = entries[index]
        let location = datasetPaths[index]
        let ds = try file.openDataset(location)
        let type = try H5Handle(H5Dget_type(ds.id), "cannot read the type of \(location)", file: path, closer: H5Tclose)
        let offset = H5Dget_offset(ds.id)
        let littleEndian = H5Tget_order(type.id) != H5T_ORDER_BE
        return try Tensor(dtype: info.dtype, shape: info.shape) { dst in
            guard dst.count > 0 else { return }
            if offset != ch5_haddr_undef() && littleEndian {
                // Contiguous and already in memory order: copy the bytes directly, on both cores.
                try raw.read(offset: Int(offset), into: dst)
                return
            }
            let mem = try H5Handle(H5Tcopy(type.id), "H5Tcopy", file: path, closer: H5Tclose)
            if !littleEndian { H5Tset_order(mem.id, H5T_ORDER_LE) }
            try ds.check(H5Dread(ds.id, mem.id, ch5_s_all(), ch5_s_all(), H5.P, dst.baseAddress), "cannot read \(location)")
        }
    }
}

/// Writes the native layout to a temporary file and moves it into place on `commit()`.
public final class HDF5Writer: CheckpointWriter {
    private let output: AtomicOutput
    // Optional so that commit() can drop them: HDF5 closes the file when its last object closes.
    private var file: H5Object!
    private var groups: [Role: H5Object]
    private let entries: [TensorInfo]
    private let metadata: [String: String]
    private var next = 0
    private var digests: [String] = []
    private let direct: DirectWriter

    /// Tensors from this size up bypass HDF5's write path: the dataset is allocated at creation and
    /// its bytes go to the file with `DirectWriter` (HDF5 never touches a raw-data region it did not fill).
    static let directThreshold = 4 << 20

    public init(path: String, entries: [TensorInfo], metadata: [String: String]) throws {
        _ = H5.initialised
        self.entries = entries
        self.metadata = metadata
        output = try AtomicOutput(destination: path)
        let tmp = output.temporaryPath
        let fcpl = try H5Handle(H5Pcreate(ch5_p_file_create()), "H5Pcreate", file: path, closer: H5Pclose)
        H5Pset_link_creation_order(fcpl.id, ch5_crt_order_tracked_indexed())
        // Large datasets start on a 4 KB boundary so their data can be written with direct I/O.
        let fapl = try H5Handle(H5Pcreate(ch5_p_file_access()), "H5Pcreate", file: path, closer: H5Pclose)
        H5Pset_alignment(fapl.id, hsize_t(HDF5Writer.directThreshold), hsize_t(DirectWriter.block))
        file = H5Object(handle: try H5Handle(H5Fcreate(tmp, ch5_acc_excl(), fcpl.id, fapl.id), "cannot create HDF5 file", file: output.destination,
                                             closer: H5Fclose), file: output.destination)
        direct = DirectWriter(path: tmp)
        // Groups remember creation order so a round trip keeps the checkpoint's tensor order.
        let gcpl = try H5Handle(H5Pcreate(ch5_p_group_create()), "H5Pcreate", file: output.destination, closer: H5Pclose)
        H5Pset_link_creation_order(gcpl.id, ch5_crt_order_tracked_indexed())
        var g: [Role: H5Object] = [:]
        for role in Role.allCases {
            g[role] = H5Object(handle: try H5Handle(H5Gcreate2(file.id, role.rawValue, H5.P, gcpl.id, H5.P),
                                                    "cannot create group /\(role.rawValue)", file: output.destination, closer: H5Gclose), file: output.destination)
        }
        groups = g
    }

    @discardableResult
    public func write(_ tensor: Tensor, knownDigest: String?) throws -> String {
        precondition(next < entries.count, "more tensors than entries")
        let info = entries[next]
        guard info.dtype == tensor.dtype, info.shape == tensor.shape else {
            throw UsageError("tensor \(info.key) does not match its declared dtype/shape")
        }
        _ = H5.initialised
        let type = try H5Types.fileType(info.dtype, file: output.destination)
        let space: H5Handle
        if info.shape.isEmpty {
            space = try H5Handle(H5Screate(H5S_SCALAR), "H5Screate", file: output.destination, closer: H5Sclose)
        } else {
            var dims = info.shape.map { hsize_t($0) }
            space = try H5Handle(H5Screate_simple(Int32(dims.count), &dims, nil), "H5Screate_simple", file: output.destination, closer: H5Sclose)
        }
        let dcpl = try H5Handle(H5Pcreate(ch5_p_dataset_create()), "H5Pcreate", file: output.destination, closer: H5Pclose)
        H5Pset_fill_time(dcpl.id, H5D_FILL_TIME_NEVER)
        H5Pset_obj_track_times(dcpl.id, false)   // no creation time in the file: equal content, equal bytes
        let bypass = tensor.byteCount >= Self.directThreshold
        if bypass { H5Pset_alloc_time(dcpl.id, H5D_ALLOC_TIME_EARLY) }
        let link = NativeFormat.escape(info.name)
        let location = "/\(info.role.rawValue)/\(link)"
        let group = groups[info.role]!
        let ds = H5Object(handle: try H5Handle(H5Dcreate2(group.id, link, type.id, space.id, H5.P, dcpl.id, H5.P),
                                               "cannot create dataset \(location)", file: output.destination, closer: H5Dclose), file: output.destination)
        let offset = H5Dget_offset(ds.id)
        let digest = try Digest.whileWriting(tensor, known: knownDigest) {
            if bypass && offset != ch5_haddr_undef() {
                try tensor.withUnsafeBytes { try direct.write($0, at: Int(offset)) }
            } else if tensor.byteCount > 0 {
                try tensor.withUnsafeBytes {
                    try ds.check(H5Dwrite(ds.id, type.id, ch5_s_all(), ch5_s_all(), H5.P, $0.baseAddress), "cannot write \(location)")
                }
            }
        }
        try ds.setStringAttribute("digest", digest)
        try ds.setStringAttribute("dtype", info.dtype.rawValue)
        if link != info.name { try ds.setStringAttribute("name", info.name) }
        digests.append(digest)
        next += 1
        return digest
    }

    public func commit(provenance: String) throws -> String {
        guard next == entries.count else {
            output.discard()
            throw UsageError("\(output.destination): \(entries.count - next) tensors were not written")
        }
        let root = Digest.root(zip(entries, digests).map { ($0, $1) })
        try file.setStringAttribute("paramkit_format", NativeFormat.kind)
        try file.setIntAttribute("format_version", NativeFormat.version)
        try file.setStringAttribute("digest", root)
        try file.setStringAttribute("provenance", provenance)
        try file.setStringAttribute("provenance_digest", Digest.text(provenance))
        let metadataText = metadata.isEmpty ? nil : JSON.object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }).compact
        if let metadataText { try file.setStringAttribute("metadata", metadataText) }
        try file.setStringAttribute("metadata_digest", Digest.text(metadataText ?? ""))
        try file.check(H5Fflush(file.id, H5F_SCOPE_GLOBAL), "cannot flush")
        groups.removeAll()
        file = nil
        try output.commit()
        return root
    }
}
