// A thin Swift layer over the HDF5 C library: owned ids, error stacks turned into messages,
// string and integer attributes in both of h5py's string encodings, and link iteration.

import CH5Probe
import CHDF5
import Foundation
import Synchronization

enum H5 {
    /// Opens the library and silences its automatic error printing on the calling thread (the
    /// thread-safe build keeps that setting per thread); errors are read from the stack instead.
    static var initialised: Bool {
        H5open()
        H5Eset_auto2(ch5_e_default(), nil, nil)
        return true
    }

    static var P: hid_t { ch5_p_default() }

    /// The probe's base time limit in seconds: PARAMKIT_H5PROBE_SECONDS when it is a positive number, else 5.
    static let probeSeconds: Double = {
        guard let text = ProcessInfo.processInfo.environment["PARAMKIT_H5PROBE_SECONDS"], let v = Double(text), v > 0, v.isFinite else { return 5 }
        return v
    }()

    /// The probe's time limit for a file of `bytes` bytes: the base limit plus 1 s per 50 MB.
    static func probeLimit(bytes: Int) -> Double { probeSeconds + Double(bytes) / 50e6 }

    /// A file's size in bytes (0 when it cannot be read; the open that follows says why).
    static func size(_ path: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }

    /// Has libhdf5 read the whole structure of `path` in a child process (`pk_h5_probe`): libhdf5
    /// trusts a file's metadata, and a damaged object header or B-tree can make it crash, loop or
    /// allocate without bound. In the child that becomes an error naming the file; only a file the
    /// child read to the end may be opened here. The child may take 5 s plus 1 s per 50 MB
    /// (PARAMKIT_H5PROBE_SECONDS replaces the 5 s, e.g. for a slow network disk, or a fuzzer that meets
    /// many looping files), and 1 GiB plus 4× the file's size of memory. A file passed once is not
    /// probed again while it is the same file (device, inode, size, modification and change times):
    /// a dataset store's two readers, or a diff of a file with itself, pay once.
    static func probe(_ path: String) throws {
        _ = initialised
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw FormatError(file: path, errno == ENOENT ? "no such file" : MappedFile.errnoText("cannot stat"))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw FormatError(file: path, "not a regular file") }
        let identity = [UInt64(st.st_dev), UInt64(st.st_ino), UInt64(st.st_size), UInt64(st.st_mtim.tv_sec),
                        UInt64(st.st_mtim.tv_nsec), UInt64(st.st_ctim.tv_sec), UInt64(st.st_ctim.tv_nsec)]
        if probed.withLock({ $0.contains(identity) }) { return }
        let size = Int(st.st_size)
        var message = [CChar](repeating: 0, count: 512)
        let verdict = pk_h5_probe(path, probeLimit(bytes: size), Int64(1 << 30) + 4 * Int64(size), &message, message.count)
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        switch verdict {
        case PK_PROBE_OK: break
        case PK_PROBE_CRASHED, PK_PROBE_TIMED_OUT: throw FormatError(file: path, "\(text): the file is damaged")
        default: throw FormatError(file: path, text)
        }
        _ = probed.withLock { $0.insert(identity) }
    }

    /// The identities of the files the probe passed in this process.
    private static let probed = Mutex<Set<[UInt64]>>([])

    /// Opens `path` read-only, after the probe (above) passed it.
    static func openReadOnly(_ path: String) throws -> H5Object {
        try probe(path)
        return H5Object(handle: try H5Handle(H5Fopen(path, ch5_acc_rdonly(), P), "not a readable HDF5 file", file: path,
                                             closer: H5Fclose), file: path)
    }

    /// The innermost messages of the current error stack, e.g. "H5Dopen2(): not found".
    static func stackText() -> String {
        final class Box { var lines: [String] = [] }
        let box = Box()
        withExtendedLifetime(box) {
            _ = H5Ewalk2(ch5_e_default(), H5E_WALK_DOWNWARD, { _, err, ctx in
                let b = Unmanaged<Box>.fromOpaque(ctx!).takeUnretainedValue()
                if let e = err?.pointee {
                    let fn = e.func_name.map { String(cString: $0) } ?? "?"
                    let desc = e.desc.map { String(cString: $0) } ?? ""
                    b.lines.append("\(fn)(): \(desc)")
                }
                return 0
            }, Unmanaged.passUnretained(box).toOpaque())
        }
        H5Eclear2(ch5_e_default())
        return box.lines.prefix(2).joined(separator: "; ")
    }
}

/// An HDF5 identifier closed when the last reference goes away.
final class H5Handle {
    let id: hid_t
    private let closer: (hid_t) -> herr_t

    init(_ id: hid_t, _ what: @autoclosure () -> String, file: String, closer: @escaping (hid_t) -> herr_t) throws {
        guard id >= 0 else {
            let detail = H5.stackText()
            throw FormatError(file: file, location: nil, "\(what())\(detail.isEmpty ? "" : ": \(detail)")")
        }
        self.id = id
        self.closer = closer
    }

    deinit { _ = closer(id) }
}

struct H5Object {
    let handle: H5Handle
    let file: String
    var id: hid_t { handle.id }

    func check(_ status: herr_t, _ what: @autoclosure () -> String) throws {
        guard status >= 0 else {
            // libhdf5 reports a failed write(2) without its reason; a full disk or a size limit
            // is the one the user can act on.
            let io = [ENOSPC, EFBIG, EDQUOT, EIO].contains(errno) ? String(cString: strerror(errno)) + "; " : ""
            throw FormatError(file: file, "\(what()): \(io)\(H5.stackText())")
        }
    }

    /// Bytes the dataset stores, clamped into Int (a damaged header can claim any 64-bit size).
    var storageSize: Int { Int(clamping: H5Dget_storage_size(id)) }

    /// The dataset's shape, refused when it has more than 32 dimensions, overflows, or claims more
    /// elements than its stored bytes (plus 1 Mi for fill values) could hold: no giant allocation
    /// from a small, damaged file.
    func backedShape(at location: String) throws -> (shape: [Int], count: Int) {
        let space = try H5Handle(H5Dget_space(id), "cannot read the shape of \(location)", file: file, closer: H5Sclose)
        let ndim = Int(H5Sget_simple_extent_ndims(space.id))
        guard ndim >= 0, ndim <= 32 else { throw FormatError(file: file, location: location, "dataset has \(ndim) dimensions") }
        var dims = [hsize_t](repeating: 0, count: max(ndim, 1))
        H5Sget_simple_extent_dims(space.id, &dims, nil)
        let shape = dims.prefix(ndim).map { Int(clamping: $0) }
        guard let count = Shape.elementCount(shape), count <= min(storageSize, Int.max - (1 << 20)) + (1 << 20) else {
            throw FormatError(file: file, location: location, "dataset size is not backed by stored data")
        }
        return (shape, count)
    }

    // MARK: attributes

    func hasAttribute(_ name: String) -> Bool { H5Aexists(id, name) > 0 }

    /// A string attribute, scalar, fixed-length or variable-length, ASCII or UTF-8.
    func stringAttribute(_ name: String, at location: String) throws -> String? {
        guard let list = try stringListAttribute(name, at: location) else { return nil }
        guard list.count == 1 else {
            throw FormatError(file: file, location: location, "attribute '\(name)' holds \(list.count) strings, expected one")
        }
        return list[0]
    }

    /// A string attribute as a list (scalar → one element); nil when absent. A numeric attribute of
    /// size 0 (Keras writes `np.asarray([])` for layers without weights) reads as an empty list.
    func stringListAttribute(_ name: String, at location: String) throws -> [String]? {
        guard hasAttribute(name) else { return nil }
        let attr = try H5Handle(H5Aopen(id, name, H5.P), "cannot open attribute '\(name)' of \(location)", file: file, closer: H5Aclose)
        let type = try H5Handle(H5Aget_type(attr.id), "cannot read the type of '\(name)'", file: file, closer: H5Tclose)
        let space = try H5Handle(H5Aget_space(attr.id), "cannot read the shape of '\(name)'", file: file, closer: H5Sclose)
        let n = Int(H5Sget_simple_extent_npoints(space.id))
        guard H5Tget_class(type.id) == H5T_STRING else {
            if n == 0 { return [] }
            throw FormatError(file: file, location: location, "attribute '\(name)' is not a string")
        }
        guard n >= 0, n <= 1 << 20 else { throw FormatError(file: file, location: location, "attribute '\(name)' has \(n) elements") }
        let mem = try H5Handle(H5Tcopy(ch5_c_s1()), "H5Tcopy", file: file, closer: H5Tclose)
        H5Tset_cset(mem.id, H5Tget_cset(type.id))
        if H5Tis_variable_str(type.id) > 0 {
            H5Tset_size(mem.id, ch5_variable())
            var ptrs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: max(n, 1))
            try check(H5Aread(attr.id, mem.id, &ptrs), "cannot read attribute '\(name)' of \(location)")
            defer { for p in ptrs { if let p { H5free_memory(p) } } }
            return ptrs.prefix(n).map { $0.map { String(cString: $0) } ?? "" }
        }
        let size = Int(clamping: H5Tget_size(type.id))
        guard size > 0, size <= 1 << 20 else { throw FormatError(file: file, location: location, "attribute '\(name)' has string size \(size)") }
        H5Tset_size(mem.id, size)
        H5Tset_strpad(mem.id, H5T_STR_NULLPAD)
        var buf = [UInt8](repeating: 0, count: size * max(n, 1))
        try check(H5Aread(attr.id, mem.id, &buf), "cannot read attribute '\(name)' of \(location)")
        return (0..<n).map { i in
            let slice = buf[(i * size)..<((i + 1) * size)]
            let end = slice.firstIndex(of: 0) ?? slice.endIndex
            return String(decoding: slice[slice.startIndex..<end], as: UTF8.self)
        }
    }

    func intAttribute(_ name: String, at location: String) throws -> Int? {
        guard hasAttribute(name) else { return nil }
        let attr = try H5Handle(H5Aopen(id, name, H5.P), "cannot open attribute '\(name)' of \(location)", file: file, closer: H5Aclose)
        let type = try H5Handle(H5Aget_type(attr.id), "cannot read the type of '\(name)'", file: file, closer: H5Tclose)
        let space = try H5Handle(H5Aget_space(attr.id), "cannot read the shape of '\(name)'", file: file, closer: H5Sclose)
        guard H5Tget_class(type.id) == H5T_INTEGER, H5Sget_simple_extent_npoints(space.id) == 1 else {
            throw FormatError(file: file, location: location, "attribute '\(name)' is not a single integer")
        }
        var v: Int64 = 0
        try check(H5Aread(attr.id, ch5_native_int64(), &v), "cannot read attribute '\(name)'")
        return Int(v)
    }

    func setStringAttribute(_ name: String, _ value: String) throws {
        let type = try H5Handle(H5Tcopy(ch5_c_s1()), "H5Tcopy", file: file, closer: H5Tclose)
        H5Tset_size(type.id, ch5_variable())
        H5Tset_cset(type.id, H5T_CSET_UTF8)
        let space = try H5Handle(H5Screate(H5S_SCALAR), "H5Screate", file: file, closer: H5Sclose)
        let attr = try H5Handle(H5Acreate2(id, name, type.id, space.id, H5.P, H5.P), "cannot create attribute '\(name)'", file: file, closer: H5Aclose)
        try value.withCString { cstr in
            var p: UnsafePointer<CChar>? = cstr
            try check(H5Awrite(attr.id, type.id, &p), "cannot write attribute '\(name)'")
        }
    }

    func setIntAttribute(_ name: String, _ value: Int) throws {
        let space = try H5Handle(H5Screate(H5S_SCALAR), "H5Screate", file: file, closer: H5Sclose)
        let attr = try H5Handle(H5Acreate2(id, name, ch5_std_i64le(), space.id, H5.P, H5.P), "cannot create attribute '\(name)'", file: file, closer: H5Aclose)
        var v = Int64(value)
        try check(H5Awrite(attr.id, ch5_native_int64(), &v), "cannot write attribute '\(name)'")
    }

    // MARK: links

    /// Names of the links in a group: creation order when the group tracks it, name order otherwise.
    func linkNames() throws -> [String] {
        final class Box { var names: [String] = [] }
        let box = Box()
        var order = H5_INDEX_NAME
        if let gcpl = try? H5Handle(H5Gget_create_plist(id), "H5Gget_create_plist", file: file, closer: H5Pclose) {
            var flags: UInt32 = 0
            if H5Pget_link_creation_order(gcpl.id, &flags) >= 0, flags & UInt32(H5P_CRT_ORDER_INDEXED) != 0 {
                order = H5_INDEX_CRT_ORDER
            }
        }
        var idx: hsize_t = 0
        let status = withExtendedLifetime(box) {
            H5Literate(id, order, H5_ITER_INC, &idx, { _, name, _, ctx in
                Unmanaged<Box>.fromOpaque(ctx!).takeUnretainedValue().names.append(String(cString: name!))
                return 0
            }, Unmanaged.passUnretained(box).toOpaque())
        }
        try check(status, "cannot list group")
        return box.names
    }

    func isGroup(_ name: String) -> Bool {
        var info = H5O_info_t()
        guard H5Lexists(id, name, H5.P) > 0, H5Oget_info_by_name2(id, name, &info, UInt32(H5O_INFO_BASIC), H5.P) >= 0 else {
            H5Eclear2(ch5_e_default())
            return false
        }
        return info.type == H5O_TYPE_GROUP
    }

    func openGroup(_ name: String) throws -> H5Object {
        H5Object(handle: try H5Handle(H5Gopen2(id, name, H5.P), "cannot open group '\(name)'", file: file, closer: H5Gclose), file: file)
    }

    func openDataset(_ name: String) throws -> H5Object {
        H5Object(handle: try H5Handle(H5Dopen2(id, name, H5.P), "cannot open dataset '\(name)'", file: file, closer: H5Dclose), file: file)
    }
}

/// HDF5 types ParamKit writes for each dtype, and the mapping back from a file's type.
enum H5Types {
    /// The file type for a dtype (h5py-compatible: float16 as IEEE half, bool as an int8 enum,
    /// bfloat16 as its uint16 bit patterns tagged by the `dtype` attribute).
    static func fileType(_ dtype: DType, file: String) throws -> H5Handle {
        switch dtype {
        case .float32: return try H5Handle(H5Tcopy(ch5_ieee_f32le()), "H5Tcopy", file: file, closer: H5Tclose)
        case .float64: return try H5Handle(H5Tcopy(ch5_ieee_f64le()), "H5Tcopy", file: file, closer: H5Tclose)
        case .float16:
            let t = try H5Handle(H5Tcopy(ch5_ieee_f32le()), "H5Tcopy", file: file, closer: H5Tclose)
            guard H5Tset_fields(t.id, 15, 10, 5, 0, 10) >= 0, H5Tset_size(t.id, 2) >= 0, H5Tset_ebias(t.id, 15) >= 0 else {
                throw FormatError(file: file, "cannot build the float16 type: \(H5.stackText())")
            }
            return t
        case .bfloat16: return try H5Handle(H5Tcopy(ch5_std_u16le()), "H5Tcopy", file: file, closer: H5Tclose)
        case .int8: return try H5Handle(H5Tcopy(ch5_std_i8le()), "H5Tcopy", file: file, closer: H5Tclose)
        case .uint8: return try H5Handle(H5Tcopy(ch5_std_u8le()), "H5Tcopy", file: file, closer: H5Tclose)
        case .int32: return try H5Handle(H5Tcopy(ch5_std_i32le()), "H5Tcopy", file: file, closer: H5Tclose)
        case .int64: return try H5Handle(H5Tcopy(ch5_std_i64le()), "H5Tcopy", file: file, closer: H5Tclose)
        case .bool:
            let t = try H5Handle(H5Tenum_create(ch5_std_i8le()), "H5Tenum_create", file: file, closer: H5Tclose)
            var f: Int8 = 0, tr: Int8 = 1
            guard H5Tenum_insert(t.id, "FALSE", &f) >= 0, H5Tenum_insert(t.id, "TRUE", &tr) >= 0 else {
                throw FormatError(file: file, "cannot build the bool type: \(H5.stackText())")
            }
            return t
        }
    }

    /// The dtype a dataset's type holds; `tagged` is the `dtype` attribute when present.
    static func dtype(of type: hid_t, tagged: String?, file: String, location: String) throws -> DType {
        let size = Int(clamping: H5Tget_size(type))
        let cls = H5Tget_class(type)
        func unsupported() -> FormatError {
            FormatError(file: file, location: location, "unsupported HDF5 type (class \(cls.rawValue), \(size) bytes)")
        }
        let found: DType
        switch cls {
        case H5T_FLOAT:
            // (sign bit, exponent position and size, mantissa position and size, exponent bias) of
            // IEEE binary32, binary64 and binary16: data is read as exactly these, so anything
            // else (a damaged or exotic type) is refused rather than misread.
            let ieee: (DType, Int, Int, Int, Int, Int, Int)
            switch size {
            case 4: ieee = (.float32, 31, 23, 8, 0, 23, 127)
            case 8: ieee = (.float64, 63, 52, 11, 0, 52, 1023)
            case 2: ieee = (.float16, 15, 10, 5, 0, 10, 15)
            default: throw unsupported()
            }
            var spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0
            H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize)
            guard (spos, epos, esize, mpos, msize) == (ieee.1, ieee.2, ieee.3, ieee.4, ieee.5), Int(clamping: H5Tget_ebias(type)) == ieee.6,
                  Int(clamping: H5Tget_precision(type)) == 8 * size, H5Tget_offset(type) == 0 else {
                throw FormatError(file: file, location: location, "\(size)-byte float type is not IEEE 754 \(ieee.0.rawValue) (sign \(spos), exponent \(epos)+\(esize), mantissa \(mpos)+\(msize), bias \(H5Tget_ebias(type)))")
            }
            found = ieee.0
        case H5T_INTEGER:
            guard Int(clamping: H5Tget_precision(type)) == 8 * size, H5Tget_offset(type) == 0 else {
                throw FormatError(file: file, location: location, "\(size)-byte integer type uses \(H5Tget_precision(type)) bits at offset \(H5Tget_offset(type))")
            }
            let signed = H5Tget_sign(type) == H5T_SGN_2
            switch (size, signed) {
            case (1, true): found = .int8
            case (1, false): found = tagged == "bool" ? .bool : .uint8
            case (2, false) where tagged == "bfloat16": found = .bfloat16
            case (4, true): found = .int32
            case (8, true): found = .int64
            default: throw unsupported()
            }
        case H5T_ENUM where size == 1:
            found = .bool
        default:
            throw unsupported()
        }
        if let tagged, tagged != found.rawValue {
            throw FormatError(file: file, location: location, "dtype attribute says \(tagged) but the stored type is \(found.rawValue)")
        }
        return found
    }
}
