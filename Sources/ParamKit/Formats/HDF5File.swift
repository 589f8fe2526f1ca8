// Generic read access to any HDF5 file: groups, attributes (strings, integer and float arrays) and
// numeric datasets. For data that is not a checkpoint: golden test cases, datasets, proposals.

import CHDF5
import Foundation

public final class HDF5File {
    public let path: String
    private let file: H5Object

    public init(path: String) throws {
        _ = H5.initialised
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw FormatError(file: path, "no such file") }
        file = try H5.openReadOnly(path)
    }

    private func object(_ group: String) throws -> H5Object {
        group == "/" || group.isEmpty ? file : try file.openGroup(group)
    }

    /// Names of the links in a group ("/" for the root).
    public func children(of group: String = "/") throws -> [String] {
        _ = H5.initialised
        return try object(group).linkNames()
    }

    public func isGroup(_ path: String) -> Bool { file.isGroup(path) }

    public func string(_ name: String, of group: String = "/") throws -> String? {
        try object(group).stringAttribute(name, at: group)
    }

    /// A numeric attribute (scalar or 1-D) as doubles; nil when absent.
    public func numbers(_ name: String, of group: String = "/") throws -> [Double]? {
        let o = try object(group)
        guard o.hasAttribute(name) else { return nil }
        let attr = try H5Handle(H5Aopen(o.id, name, H5.P), "cannot open attribute '\(name)'", file: path, closer: H5Aclose)
        let space = try H5Handle(H5Aget_space(attr.id), "cannot read the shape of '\(name)'", file: path, closer: H5Sclose)
        let n = Int(H5Sget_simple_extent_npoints(space.id))
        guard n >= 0, n <= 1 << 24 else { throw FormatError(file: path, location: "\(group)@\(name)", "attribute has \(n) elements") }
        var out = [Double](repeating: 0, count: max(n, 1))
        try o.check(H5Aread(attr.id, ch5_native_double(), &out), "cannot read attribute '\(name)' of \(group) as numbers")
        return Array(out.prefix(n))
    }

    /// A dataset's shape and its values converted to `T` (Float, Double, Int32 or Int64) by HDF5.
    public func dataset<T: HDF5Number>(_ path: String, as: T.Type = T.self) throws -> (shape: [Int], values: [T]) {
        _ = H5.initialised
        let ds = try file.openDataset(path)
        let (shape, count) = try ds.backedShape(at: path)
        var values = [T](repeating: T.zero, count: max(count, 1))
        try values.withUnsafeMutableBytes { buffer in
            try ds.check(H5Dread(ds.id, T.h5Type, ch5_s_all(), ch5_s_all(), H5.P, buffer.baseAddress), "cannot read \(path)")
        }
        return (shape, Array(values.prefix(count)))
    }
}

/// Element types `HDF5File.dataset` converts to.
public protocol HDF5Number: Numeric {
    static var h5Type: hid_t { get }
}
extension Float: HDF5Number { public static var h5Type: hid_t { ch5_native_float() } }
extension Double: HDF5Number { public static var h5Type: hid_t { ch5_native_double() } }
extension Int32: HDF5Number { public static var h5Type: hid_t { ch5_native_int32() } }
extension Int64: HDF5Number { public static var h5Type: hid_t { ch5_native_int64() } }
