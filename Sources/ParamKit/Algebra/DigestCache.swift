// Tensor digests of a merge's inputs, computed once each.

import Foundation

/// Tensor digests of several inputs, each computed at most once (from the data as read, checked
/// against the digest the file stores, if any).
public final class DigestCache {
    public let readers: [CheckpointReader]
    private var cache: [[String?]]

    public init(_ readers: [CheckpointReader]) {
        self.readers = readers
        cache = readers.map { [String?](repeating: nil, count: $0.entries.count) }
    }

    public func digest(_ input: Int, _ entry: Int) throws -> String {
        if let d = cache[input][entry] { return d }
        let d = try readers[input].view(entry).digest
        try record(input, entry, d)
        return d
    }

    /// Notes a digest computed elsewhere; a mismatch with the stored one means the input is corrupt.
    func record(_ input: Int, _ entry: Int, _ digest: String) throws {
        let info = readers[input].entries[entry]
        if let stored = info.storedDigest, stored != digest {
            throw FormatError(file: readers[input].path, location: info.key,
                              "stored digest \(stored) does not match the data (\(digest)): the file is corrupt; run `paramkit verify`")
        }
        cache[input][entry] = digest
    }

    /// The input's content id: stored when the format keeps one, else computed (reading what is left).
    public func rootDigest(_ input: Int) throws -> String {
        if let d = readers[input].storedRootDigest { return d }
        return Digest.root(try readers[input].entries.indices.map { (readers[input].entries[$0], try digest(input, $0)) })
    }
}
