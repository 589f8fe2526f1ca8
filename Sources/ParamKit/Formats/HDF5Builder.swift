// Writing plain HDF5 files (datasets and attributes at any path) atomically, and reading row
// ranges of a dataset without loading all of it. For artifacts that are not checkpoints: image
// stores, proposals.

import CHDF5
import Foundation

/// Element types `HDF5Builder` stores (little-endian, the dtype's HDF5 type).
public protocol HDF5Storable: HDF5Number {
    static var dtype: DType { get }
}
extension Float: HDF5Storable { public static var dtype: DType { .float32 } }
extension Double: HDF5Storable { public static var dtype: DType { .float64 } }
extension Int32: HDF5Storable { public static var dtype: DType { .int32 } }
extension Int64: HDF5Storable { public static var dtype: DType { .int64 } }
extension UInt8: HDF5Storable {
    public static var dtype: DType { .uint8 }
    public static var h5Type: hid_t { ch5_std_u8le() }
}

/// Builds a new HDF5 file in a temporary file beside `path`; `commit()` renames it into place, so
/// the destination is either the old file or the complete new one. Datasets are contiguous;
/// missing groups on a dataset's path are created.
public final class HDF5Builder {
    public let path: String
    private let output: AtomicOutput
    // Optional so that commit() can drop it: HDF5 closes the file when its last object closes.
    private var file: H5Object!
    private var open: [String: (object: H5Object, shape: [Int], dtype: DType)] = [:]

    public init(path: String) throws {
        _ = H5.initialised
        self.path = path
        output = try AtomicOutput(destination: path)
        let tmp = output.temporaryPath
        let fcpl = try H5Handle(H5Pcreate(ch5_p_file_create()), "H5Pcreate", file: path, closer: H5Pclose)
        H5Pset_link_creation_order(fcpl.id, ch5_crt_order_tracked_indexed())
        file = H5Object(handle: try H5Handle(H5Fcreate(tmp, ch5_acc_excl(), fcpl.id, H5.P), "cannot create HDF5 file",
                                             file: tmp, closer: H5Fclose), file: tmp)
    }

    /// Creates a dataset of `shape` and writes all of `values` (row-major) into it.
    public func addDataset<T: HDF5Storable>(path name: String, shape: [Int], values: [T]) throws {
        guard let count = Shape.elementCount(shape), count == values.count else {
            throw UsageError("\(path) (\(name)): \(values.count) values do not fill shape \(shape)")
        }
        try createDataset(path: name, shape: shape, dtype: T.dtype)
        try write(path: name, rows: 0, values: values)
    }

    /// Creates a dataset to be filled later, in pieces, with `write(path:rows:values:)`.
    public func createDataset(path name: String, shape: [Int], dtype: DType) throws {
        _ = H5.initialised
        guard open[name] == nil else { throw UsageError("\(path): dataset \(name) already exists") }
        guard Shape.elementCount(shape) != nil, shape.allSatisfy({ $0 >= 0 }) else {
            throw UsageError("\(path) (\(name)): bad shape \(shape)")
        }
        let tmp = output.temporaryPath
        let type = try H5Types.fileType(dtype, file: tmp)
        let space: H5Handle
        if shape.isEmpty {
            space = try H5Handle(H5Screate(H5S_SCALAR), "H5Screate", file: tmp, closer: H5Sclose)
        } else {
            var dims = shape.map { hsize_t($0) }
            space = try H5Handle(H5Screate_simple(Int32(dims.count), &dims, nil), "H5Screate_simple", file: tmp, closer: H5Sclose)
        }
        let lcpl = try H5Handle(H5Pcreate(ch5_p_link_create()), "H5Pcreate", file: tmp, closer: H5Pclose)
        H5Pset_create_intermediate_group(lcpl.id, 1)
        let dcpl = try H5Handle(H5Pcreate(ch5_p_dataset_create()), "H5Pcreate", file: tmp, closer: H5Pclose)
        H5Pset_fill_time(dcpl.id, H5D_FILL_TIME_NEVER)
        H5Pset_obj_track_times(dcpl.id, false)   // no creation time in the file: equal content, equal bytes
        let ds = H5Object(handle: try H5Handle(H5Dcreate2(file.id, name, type.id, space.id, lcpl.id, dcpl.id, H5.P),
                                               "cannot create dataset \(name)", file: tmp, closer: H5Dclose), file: tmp)
        open[name] = (ds, shape, dtype)
    }

    /// Writes `values` as whole rows (along the first dimension) starting at row `rows`.
    public func write<T: HDF5Storable>(path name: String, rows start: Int, values: [T]) throws {
        guard let entry = open[name] else { throw UsageError("\(path): no dataset \(name) was created") }
        let (ds, shape, dtype) = (entry.object, entry.shape, entry.dtype)
        guard dtype == T.dtype else { throw UsageError("\(path) (\(name)): writing \(T.dtype.rawValue) values into \(dtype.rawValue)") }
        guard !values.isEmpty else { return }
        let tmp = output.temporaryPath
        if shape.isEmpty {
            guard start == 0, values.count == 1 else { throw UsageError("\(path) (\(name)): a scalar holds one value") }
            try values.withUnsafeBytes {
                try ds.check(H5Dwrite(ds.id, T.h5Type, ch5_s_all(), ch5_s_all(), H5.P, $0.baseAddress), "cannot write \(name)")
            }
            return
        }
        let rowSize = shape.dropFirst().reduce(1, *)
        guard rowSize > 0, values.count % rowSize == 0, start >= 0, start + values.count / rowSize <= shape[0] else {
            throw UsageError("\(path) (\(name)): \(values.count) values at row \(start) do not fit shape \(shape)")
        }
        let rows = values.count / rowSize
        let fileSpace = try H5Handle(H5Dget_space(ds.id), "H5Dget_space", file: tmp, closer: H5Sclose)
        var offset = [hsize_t](repeating: 0, count: shape.count)
        var count = shape.map { hsize_t($0) }
        offset[0] = hsize_t(start)
        count[0] = hsize_t(rows)
        try ds.check(H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, &offset, nil, &count, nil), "cannot select rows of \(name)")
        let memSpace = try H5Handle(H5Screate_simple(Int32(count.count), &count, nil), "H5Screate_simple", file: tmp, closer: H5Sclose)
        try values.withUnsafeBytes {
            try ds.check(H5Dwrite(ds.id, T.h5Type, memSpace.id, fileSpace.id, H5.P, $0.baseAddress), "cannot write \(name)")
        }
    }

    /// A string attribute (variable-length UTF-8) on the group or dataset at `path` ("/" for the root).
    public func setStringAttribute(path: String, name: String, value: String) throws {
        try object(path).setStringAttribute(name, value)
    }

    /// An int64 scalar attribute on the group or dataset at `path`.
    public func setIntAttribute(path: String, name: String, value: Int) throws {
        try object(path).setIntAttribute(name, value)
    }

    private func object(_ location: String) throws -> H5Object {
        _ = H5.initialised
        if location == "/" || location.isEmpty { return file }
        if let ds = open[location] { return ds.object }
        return H5Object(handle: try H5Handle(H5Oopen(file.id, location, H5.P), "no object \(location)", file: output.temporaryPath,
                                             closer: H5Oclose), file: output.temporaryPath)
    }

    /// Flushes, closes and renames the file into place.
    public func commit() throws {
        _ = H5.initialised
        try file.check(H5Fflush(file.id, H5F_SCOPE_GLOBAL), "cannot flush")
        open.removeAll()
        file = nil
        try output.commit()
    }
}

/// Reads rows of datasets of an HDF5 file on demand (e.g. one image of a ragged image store),
/// keeping the file and the datasets it has touched open. Calls may come from several threads.
public final class HDF5RowReader: @unchecked Sendable {
    public let path: String
    private let file: H5Object
    private var datasets: [String: (object: H5Object, shape: [Int])] = [:]
    private let lock = NSLock()

    public init(path: String) throws {
        _ = H5.initialised
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw FormatError(file: path, "no such file") }
        file = try H5.openReadOnly(path)
    }

    /// The dataset's shape ([] for a scalar).
    public func shape(_ name: String) throws -> [Int] {
        lock.lock(); defer { lock.unlock() }
        return try dataset(name).shape
    }

    /// Rows `range` (along the first dimension) of a dataset, converted to `T` by HDF5.
    public func rows<T: HDF5Number>(_ name: String, _ range: Range<Int>, as: T.Type = T.self) throws -> [T] {
        lock.lock(); defer { lock.unlock() }
        let (ds, shape) = try dataset(name)
        guard let first = shape.first, range.lowerBound >= 0, range.upperBound <= first else {
            throw FormatError(file: path, location: name, "rows \(range) are outside the dataset's shape \(shape)")
        }
        let rowSize = shape.dropFirst().reduce(1, *)
        let count = range.count * rowSize
        guard count > 0 else { return [] }
        let fileSpace = try H5Handle(H5Dget_space(ds.id), "cannot read the shape of \(name)", file: path, closer: H5Sclose)
        var offset = [hsize_t](repeating: 0, count: shape.count)
        var sizes = shape.map { hsize_t($0) }
        offset[0] = hsize_t(range.lowerBound)
        sizes[0] = hsize_t(range.count)
        try ds.check(H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, &offset, nil, &sizes, nil), "cannot select rows of \(name)")
        let memSpace = try H5Handle(H5Screate_simple(Int32(sizes.count), &sizes, nil), "H5Screate_simple", file: path, closer: H5Sclose)
        var values = [T](repeating: T.zero, count: count)
        let status = values.withUnsafeMutableBytes { H5Dread(ds.id, T.h5Type, memSpace.id, fileSpace.id, H5.P, $0.baseAddress) }
        try ds.check(status, "cannot read \(name)")
        return values
    }

    private func dataset(_ name: String) throws -> (object: H5Object, shape: [Int]) {
        _ = H5.initialised
        if let d = datasets[name] { return d }
        guard H5Lexists(file.id, name, H5.P) > 0 else {
            H5Eclear2(ch5_e_default())
            throw FormatError(file: path, location: name, "dataset is missing")
        }
        let ds = try file.openDataset(name)
        let (shape, _) = try ds.backedShape(at: name)
        datasets[name] = (ds, shape)
        return (ds, shape)
    }
}
