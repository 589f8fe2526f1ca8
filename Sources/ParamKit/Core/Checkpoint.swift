// Checkpoints: named tensors with roles (learnable `arg` or auxiliary `aux`) plus metadata, and the
// reader/writer protocols every file format implements so operations can stream tensor by tensor.

public enum Role: String, Sendable, Codable, CaseIterable {
    case arg, aux
}

/// What is known about a tensor without reading its bytes.
public struct TensorInfo: Sendable, Equatable {
    public var name: String
    public var role: Role
    public var dtype: DType
    public var shape: [Int]
    /// The digest stored in the file, where the format keeps one (ParamKit HDF5).
    public var storedDigest: String?

    public init(name: String, role: Role, dtype: DType, shape: [Int], storedDigest: String? = nil) {
        self.name = name
        self.role = role
        self.dtype = dtype
        self.shape = shape
        self.storedDigest = storedDigest
    }

    public var elementCount: Int { Shape.elementCount(shape) ?? 0 }
    public var byteCount: Int { Shape.byteCount(shape, dtype: dtype) ?? 0 }
    /// "arg:conv1_1_weight": the key MXNet checkpoints use, unique across roles.
    public var key: String { "\(role.rawValue):\(name)" }
}

/// The formats ParamKit reads; detected from a file's first bytes.
public enum FileFormat: String, Sendable, CaseIterable {
    case hdf5 = "hdf5"                 // ParamKit's native checkpoint
    case hdf5Plain = "hdf5-arg-aux"    // HDF5 with /arg and /aux groups but no ParamKit attributes
    case keras = "keras-h5"            // Keras 2 save_weights layout (read only)
    case params = "mxnet-params"
    case safetensors = "safetensors"
}

/// Reads a checkpoint file: the tensor list up front (no tensor data), then one tensor at a time.
public protocol CheckpointReader: AnyObject {
    var path: String { get }
    var format: FileFormat { get }
    var entries: [TensorInfo] { get }
    /// User metadata (epoch, classes, …) and format hints such as `mxnet.keys`.
    var metadata: [String: String] { get }
    /// Provenance JSON recorded by ParamKit, if the file has it.
    var provenance: String? { get }
    /// The root digest stored in the file, if the format keeps one.
    var storedRootDigest: String? { get }
    /// Things the reader accepted but a user should know about (trailing bytes, duplicate keys kept).
    var warnings: [String] { get }
    /// The parts of the file's header whose stored digest no longer matches their bytes
    /// ("provenance", "metadata"); nil when the file keeps no such digests.
    var headerMismatches: [String]? { get }
    /// The tensor in memory of its own.
    func read(_ index: Int) throws -> Tensor
    /// The tensor, possibly as a read-only view into the mapped input file (no copy): for operations
    /// that stream through a checkpoint. Falls back to `read`.
    func view(_ index: Int) throws -> Tensor
}

extension CheckpointWriter {
    @discardableResult public func write(_ tensor: Tensor) throws -> String { try write(tensor, knownDigest: nil) }
}

extension CheckpointReader {
    public func view(_ index: Int) throws -> Tensor { try read(index) }
}

/// Writes a checkpoint whose tensor list is known up front, one tensor at a time, atomically:
/// nothing appears at the destination until `commit()` succeeds.
public protocol CheckpointWriter: AnyObject {
    /// Appends the next tensor; returns its digest (`knownDigest` when the caller already has it).
    @discardableResult func write(_ tensor: Tensor, knownDigest: String?) throws -> String
    /// Finishes the file and moves it into place. Returns the root digest of what was written.
    /// Formats without a place for provenance ignore it.
    func commit(provenance: String) throws -> String
}

/// A whole checkpoint in memory: for small files, tests and operations that need every tensor.
public struct Checkpoint: Sendable {
    public var tensors: [(info: TensorInfo, tensor: Tensor)]
    public var metadata: [String: String]

    public init(tensors: [(info: TensorInfo, tensor: Tensor)] = [], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    public mutating func append(_ name: String, role: Role = .arg, _ tensor: Tensor) {
        tensors.append((TensorInfo(name: name, role: role, dtype: tensor.dtype, shape: tensor.shape), tensor))
    }

    public subscript(key: String) -> Tensor? {
        tensors.first { $0.info.key == key }?.tensor
    }

    public var rootDigest: String {
        Digest.root(tensors.map { ($0.info, $0.tensor.digest) })
    }
}

extension CheckpointReader {
    public var headerMismatches: [String]? { nil }
}
