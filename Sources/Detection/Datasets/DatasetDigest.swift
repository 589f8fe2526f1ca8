// The content id of a detection dataset, defined over decoded images and annotations so that it
// does not depend on how the store laid them out.

import Foundation
import ParamKit

/// Streaming content digest of a detection dataset: xxh64 (seed 0) over
///
///     "paramkit.dataset\n"
///     "class_names\t" + class names as a compact JSON array + "\n"
///     then per image, in order:
///       "image\t" + id as a JSON string + "\t<height>\t<width>\t<number of boxes>\n"
///       the height·width·3 RGB bytes
///       per box: x1, y1, x2, y2 as float32 LE, label as int32 LE, difficult as one byte 0/1
///
/// written as "xxh64:" and 16 lowercase hex digits. Equal content gives an equal digest.
public struct DatasetDigest: Sendable {
    private var hash = XXH64()

    public init(classNames: [String]) {
        hash.update("paramkit.dataset\n")
        hash.update("class_names\t" + JSON.array(classNames.map { .string($0) }).compact + "\n")
    }

    public mutating func add(_ image: DetectionImage) {
        hash.update("image\t\(JSON.string(image.id).compact)\t\(image.height)\t\(image.width)\t\(image.boxes.count)\n")
        image.pixels.withUnsafeBytes { hash.update($0) }
        var record = [UInt8]()
        record.reserveCapacity(image.boxes.count * 21)
        for (k, b) in image.boxes.enumerated() {
            for v in [b.x1, b.y1, b.x2, b.y2] { appendLE(v.bitPattern, to: &record) }
            appendLE(UInt32(bitPattern: Int32(truncatingIfNeeded: image.labels[k])), to: &record)
            record.append(image.difficult[k] ? 1 : 0)
        }
        hash.update(record)
    }

    public func finalize() -> String {
        let hex = String(hash.finalize(), radix: 16)
        return Digest.prefix + String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The digest of images held in memory.
    public static func of(_ images: [DetectionImage], classNames: [String]) -> String {
        var d = DatasetDigest(classNames: classNames)
        for image in images { d.add(image) }
        return d.finalize()
    }
}

@inline(__always) func appendLE<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
    var x = v.littleEndian
    withUnsafeBytes(of: &x) { out.append(contentsOf: $0) }
}

extension DetectionDataset {
    /// Recomputes the content digest by reading every image (see `DatasetDigest`).
    public func contentDigest() throws -> String {
        var d = DatasetDigest(classNames: classNames)
        for i in 0..<count { d.add(try image(i)) }
        return d.finalize()
    }
}

extension DetectionImage {
    /// The image without its difficult objects, as the reference trains (`use_diff=False`).
    public func droppingDifficult() -> DetectionImage {
        var out = self
        let keep = difficult.indices.filter { !difficult[$0] }
        out.boxes = keep.map { boxes[$0] }
        out.labels = keep.map { labels[$0] }
        out.difficult = keep.map { _ in false }
        return out
    }

    /// Checks the invariants every dataset guarantees: pixel count, one label and flag per box,
    /// labels in 1…classes, finite boxes with x1 ≤ x2 and y1 ≤ y2.
    func validate(classes: Int, file: String, location: String) throws {
        guard height > 0, width > 0, pixels.count == height * width * 3 else {
            throw FormatError(file: file, location: location, "image \(id) has \(pixels.count) bytes for \(height)×\(width)×3")
        }
        guard labels.count == boxes.count, difficult.count == boxes.count else {
            throw FormatError(file: file, location: location, "image \(id): \(boxes.count) boxes, \(labels.count) labels, \(difficult.count) difficult flags")
        }
        for (k, b) in boxes.enumerated() {
            guard labels[k] >= 1, labels[k] <= classes else {
                throw FormatError(file: file, location: location, "image \(id), box \(k): label \(labels[k]) is not in 1…\(classes)")
            }
            guard b.x1.isFinite, b.y1.isFinite, b.x2.isFinite, b.y2.isFinite, b.x1 <= b.x2, b.y1 <= b.y2 else {
                throw FormatError(file: file, location: location, "image \(id), box \(k): [\(b.x1), \(b.y1), \(b.x2), \(b.y2)] is not a box")
            }
        }
    }
}
