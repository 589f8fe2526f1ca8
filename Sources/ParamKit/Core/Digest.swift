// Content digests: per tensor over (dtype, shape, bytes) and per checkpoint over the sorted tensor
// list, so equal content gives equal digests whichever format or writer produced the file.

import Foundation

public enum Digest {
    public static let prefix = "xxh64:"

    /// "xxh64:" and 16 lowercase hex digits.
    public static func format(_ h: UInt64) -> String {
        let hex = String(h, radix: 16)
        return prefix + String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func header(dtype: DType, shape: [Int]) -> String {
        "\(dtype.rawValue):\(shape.map(String.init).joined(separator: ",")):"
    }

    public static func tensor(dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer) -> String {
        var h = XXH64()
        h.update(header(dtype: dtype, shape: shape))
        h.update(bytes)
        return format(h.finalize())
    }

    /// The checkpoint's content id: XXH64 over "role\tname\tdtype\tshape\tdigest\n" lines sorted by
    /// (role, name) in UTF-8 byte order.
    /// Of a header attribute's text (provenance, metadata): XXH64 of its UTF-8 bytes, as
    /// `provenance_digest` and `metadata_digest` store it (an absent attribute hashes as "").
    public static func text(_ value: String) -> String { format(XXH64.hash(Array(value.utf8))) }

    public static func root(_ items: [(info: TensorInfo, digest: String)]) -> String {
        let sorted = items.sorted {
            ($0.info.role.rawValue, Array($0.info.name.utf8)) < ($1.info.role.rawValue, Array($1.info.name.utf8))
        }
        var h = XXH64()
        for (info, digest) in sorted {
            h.update("\(info.role.rawValue)\t\(info.name)\t\(info.dtype.rawValue)\t"
                     + "\(info.shape.map(String.init).joined(separator: ","))\t\(digest)\n")
        }
        return format(h.finalize())
    }
}

extension Digest {
    /// Runs `write` and, for a large tensor whose digest is not known yet, hashes it on the other
    /// core at the same time. Returns the tensor's digest.
    static func whileWriting(_ tensor: Tensor, known: String?, _ write: () throws -> Void) throws -> String {
        if let known { try write(); return known }
        guard tensor.byteCount >= 4 << 20 else { try write(); return tensor.digest }
        final class Slot: @unchecked Sendable { var digest = "" }
        let slot = Slot()
        let failure = ErrorBox()
        withoutActuallyEscaping(write) { write in
            let jobs = SendableBox((tensor, write))
            DispatchQueue.concurrentPerform(iterations: 2) { job in
                if job == 0 { slot.digest = jobs.value.0.digest; return }
                do { try jobs.value.1() } catch { failure.set(error) }
            }
        }
        if let e = failure.error { throw e }
        return slot.digest
    }
}

/// Lexicographic order on byte arrays, for sorting names the way the root digest defines.
func < (a: (String, [UInt8]), b: (String, [UInt8])) -> Bool {
    if a.0 != b.0 { return a.0 < b.0 }
    return a.1.lexicographicallyPrecedes(b.1)
}
