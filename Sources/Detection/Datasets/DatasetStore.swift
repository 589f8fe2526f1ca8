// The HDF5 image store (`paramkit.dataset`, format_version 1): images and their annotations held
// ragged in a few flat datasets. Layout (schemas/dataset.schema.json):
//
//   /images        uint8   (T)      every image's RGB bytes, row-major h×w×3, one after another
//   /image_offsets int64   (N+1)    image i is images[offsets[i] ..< offsets[i+1]]
//   /image_shapes  int32   (N,3)    [height, width, 3]
//   /boxes         float32 (M,4)    [x1, y1, x2, y2], 0-based pixels (VOC XML − 1)
//   /labels        int32   (M)      class index 1…K into class_names
//   /difficult     uint8   (M)      1 for VOC "difficult" objects
//   /box_offsets   int64   (N+1)    image i owns boxes[box_offsets[i] ..< box_offsets[i+1]]
//   root attributes: paramkit_format, format_version, class_names and image_ids (JSON arrays),
//   digest (DatasetDigest), provenance (JSON).

import Foundation
import ParamKit

/// An image's id, size and annotations, without its pixels.
public struct ImageHeader: Sendable, Equatable {
    public var id: String
    public var height: Int
    public var width: Int
    public var boxes: [Box]
    public var labels: [Int]
    public var difficult: [Bool]

    public init(id: String, height: Int, width: Int, boxes: [Box], labels: [Int], difficult: [Bool]) {
        self.id = id; self.height = height; self.width = width
        self.boxes = boxes; self.labels = labels; self.difficult = difficult
    }

    public init(_ image: DetectionImage) {
        self.init(id: image.id, height: image.height, width: image.width, boxes: image.boxes, labels: image.labels,
                  difficult: image.difficult)
    }
}

/// Datasets that know an image's size and annotations without decoding it (for aspect-ratio
/// grouping and for writing a store in one pass over the pixels).
public protocol DatasetHeaders: DetectionDataset {
    func header(_ index: Int) throws -> ImageHeader
}

extension DetectionDataset {
    /// An image's size and annotations: without decoding it where the dataset provides headers
    /// (VOC, stores), from the decoded image otherwise.
    public func imageHeader(_ index: Int) throws -> ImageHeader {
        if let h = self as? DatasetHeaders { return try h.header(index) }
        return ImageHeader(try image(index))
    }
}

public enum DatasetStore {
    public static let kind = "paramkit.dataset"
    public static let version = 1
    public static let background = "__background__"

    /// Writes images held in memory; returns the store's digest.
    @discardableResult
    public static func write(images: [DetectionImage], classNames: [String], to path: String, provenance: Provenance) throws -> String {
        try write(headers: images.map(ImageHeader.init), classNames: classNames, to: path, provenance: provenance) { images[$0] }
    }

    /// Copies any dataset into a store, reading each image once when the dataset provides headers
    /// (VOC, stores) and twice otherwise. `progress` is called with the number of images written.
    @discardableResult
    public static func write(_ dataset: DetectionDataset, to path: String, provenance: Provenance,
                             progress: ((Int) -> Void)? = nil) throws -> String {
        let headers = try (0..<dataset.count).map { try dataset.imageHeader($0) }
        return try write(headers: headers, classNames: dataset.classNames, to: path, provenance: provenance,
                         progress: progress) { try dataset.image($0) }
    }

    static func write(headers: [ImageHeader], classNames: [String], to path: String, provenance: Provenance,
                      progress: ((Int) -> Void)? = nil, image: (Int) throws -> DetectionImage) throws -> String {
        guard classNames.first == background, classNames.count >= 2 else {
            throw UsageError("\(path): class names must start with \"\(background)\" and name at least one class, got \(classNames)")
        }
        var imageOffsets: [Int64] = [0], boxOffsets: [Int64] = [0]
        var shapes: [Int32] = []
        for h in headers {
            guard h.height > 0, h.width > 0, h.height <= Int(Int32.max), h.width <= Int(Int32.max) else {
                throw UsageError("\(path): image \(h.id) has size \(h.height)×\(h.width)")
            }
            imageOffsets.append(imageOffsets.last! + Int64(h.height * h.width * 3))
            boxOffsets.append(boxOffsets.last! + Int64(h.boxes.count))
            shapes += [Int32(h.height), Int32(h.width), 3]
        }
        let builder = try HDF5Builder(path: path)
        try builder.createDataset(path: "/images", shape: [Int(imageOffsets.last!)], dtype: .uint8)
        var digest = DatasetDigest(classNames: classNames)
        var boxes: [Float] = [], labels: [Int32] = [], difficult: [UInt8] = []
        for (i, h) in headers.enumerated() {
            let img = try image(i)
            guard img.id == h.id, img.height == h.height, img.width == h.width, img.boxes.count == h.boxes.count else {
                throw FormatError(file: path, location: "image \(i)",
                                  "image \(img.id) (\(img.height)×\(img.width), \(img.boxes.count) boxes) does not match its header "
                                  + "\(h.id) (\(h.height)×\(h.width), \(h.boxes.count) boxes)")
            }
            try img.validate(classes: classNames.count - 1, file: path, location: "image \(i)")
            try builder.write(path: "/images", rows: Int(imageOffsets[i]), values: img.pixels)
            for (k, b) in img.boxes.enumerated() {
                boxes += [b.x1, b.y1, b.x2, b.y2]
                labels.append(Int32(img.labels[k]))
                difficult.append(img.difficult[k] ? 1 : 0)
            }
            digest.add(img)
            progress?(i + 1)
        }
        let n = headers.count, m = labels.count
        try builder.addDataset(path: "/image_offsets", shape: [n + 1], values: imageOffsets)
        try builder.addDataset(path: "/image_shapes", shape: [n, 3], values: shapes)
        try builder.addDataset(path: "/boxes", shape: [m, 4], values: boxes)
        try builder.addDataset(path: "/labels", shape: [m], values: labels)
        try builder.addDataset(path: "/difficult", shape: [m], values: difficult)
        try builder.addDataset(path: "/box_offsets", shape: [n + 1], values: boxOffsets)
        let root = digest.finalize()
        try builder.setStringAttribute(path: "/", name: "paramkit_format", value: kind)
        try builder.setIntAttribute(path: "/", name: "format_version", value: version)
        try builder.setStringAttribute(path: "/", name: "class_names", value: JSON.array(classNames.map { .string($0) }).compact)
        try builder.setStringAttribute(path: "/", name: "image_ids", value: JSON.array(headers.map { .string($0.id) }).compact)
        try builder.setStringAttribute(path: "/", name: "digest", value: root)
        try builder.setStringAttribute(path: "/", name: "provenance", value: provenance.json.compact)
        try builder.commit()
        return root
    }
}

/// A `paramkit.dataset` file. Annotations are read and checked when it is opened; pixels are read
/// per image on demand.
public final class HDF5DetectionDataset: DatasetHeaders {
    public let path: String
    public let classNames: [String]
    public let imageIDs: [String]
    /// The digest recorded at write time (`contentDigest()` recomputes it).
    public let digest: String
    /// The provenance JSON text the writer recorded.
    public let provenance: String?
    public var count: Int { imageIDs.count }

    private let imageOffsets: [Int64]
    private let shapes: [Int32]
    private let boxOffsets: [Int64]
    private let boxes: [Float]
    private let labels: [Int32]
    private let difficult: [UInt8]
    private let reader: HDF5RowReader

    public init(path: String) throws {
        let watch = try H5Watchdog.start(path)
        defer { watch?.cancel() }
        self.path = path
        let file = try HDF5File(path: path)
        let reader = try HDF5RowReader(path: path)
        func fail(_ location: String?, _ message: String) -> FormatError { FormatError(file: path, location: location, message) }

        let kind = try file.string("paramkit_format")
        guard kind == DatasetStore.kind else {
            throw fail("/", "not a \(DatasetStore.kind) file (paramkit_format is \(kind.map { "\"\($0)\"" } ?? "missing"))")
        }
        guard let version = try file.numbers("format_version"), version == [Double(DatasetStore.version)] else {
            throw fail("/", "unsupported format_version (expected \(DatasetStore.version))")
        }
        func stringList(_ name: String) throws -> [String] {
            guard let text = try file.string(name) else { throw fail("/@\(name)", "attribute is missing") }
            guard let list = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String] else {
                throw fail("/@\(name)", "attribute is not a JSON array of strings")
            }
            return list
        }
        let classNames = try stringList("class_names")
        guard classNames.first == DatasetStore.background, classNames.count >= 2 else {
            throw fail("/@class_names", "class names must start with \"\(DatasetStore.background)\" and name at least one class")
        }
        let ids = try stringList("image_ids")
        guard let digest = try file.string("digest") else { throw fail("/@digest", "attribute is missing") }

        let n = ids.count
        func read<T: HDF5Number>(_ name: String, _ shape: [Int], as: T.Type) throws -> [T] {
            let stored = try reader.shape(name)
            guard stored.count == shape.count, zip(stored, shape).allSatisfy({ $1 < 0 || $0 == $1 }) else {
                throw fail(name, "shape \(stored), expected \(shape.map { $0 < 0 ? "M" : String($0) })")
            }
            return try file.dataset(name, as: T.self).values
        }
        let imageOffsets = try read("/image_offsets", [n + 1], as: Int64.self)
        let shapes = try read("/image_shapes", [n, 3], as: Int32.self)
        let boxOffsets = try read("/box_offsets", [n + 1], as: Int64.self)
        let boxes = try read("/boxes", [-1, 4], as: Float.self)
        let m = boxes.count / 4
        let labels = try read("/labels", [m], as: Int32.self)
        let difficult = try read("/difficult", [m], as: UInt8.self)
        let total = try reader.shape("/images")
        guard total.count == 1 else { throw fail("/images", "shape \(total), expected one dimension") }

        for i in 0..<n {
            let (h, w, c) = (shapes[3 * i], shapes[3 * i + 1], shapes[3 * i + 2])
            guard h > 0, w > 0, c == 3 else { throw fail("/image_shapes", "image \(i) has shape [\(h), \(w), \(c)]") }
        }
        guard imageOffsets[0] == 0 else { throw fail("/image_offsets", "first offset is \(imageOffsets[0]), expected 0") }
        for i in 0..<n {
            let size = Int64(shapes[3 * i]) * Int64(shapes[3 * i + 1]) * 3
            guard imageOffsets[i + 1] - imageOffsets[i] == size else {
                throw fail("/image_offsets", "image \(i) spans \(imageOffsets[i])..<\(imageOffsets[i + 1]), expected \(size) bytes for its shape")
            }
        }
        guard imageOffsets[n] == Int64(total[0]) else {
            throw fail("/image_offsets", "last offset is \(imageOffsets[n]), but /images holds \(total[0]) bytes")
        }
        guard boxOffsets[0] == 0, boxOffsets[n] == Int64(m), zip(boxOffsets, boxOffsets.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw fail("/box_offsets", "offsets must rise from 0 to \(m), the number of boxes")
        }
        let k = classNames.count - 1
        if let bad = labels.firstIndex(where: { $0 < 1 || Int($0) > k }) {
            throw fail("/labels", "box \(bad) has label \(labels[bad]), expected 1…\(k)")
        }
        if let bad = difficult.firstIndex(where: { $0 > 1 }) {
            throw fail("/difficult", "box \(bad) has value \(difficult[bad]), expected 0 or 1")
        }
        for j in 0..<m {
            let (x1, y1, x2, y2) = (boxes[4 * j], boxes[4 * j + 1], boxes[4 * j + 2], boxes[4 * j + 3])
            guard x1.isFinite, y1.isFinite, x2.isFinite, y2.isFinite, x1 <= x2, y1 <= y2 else {
                throw fail("/boxes", "box \(j) is [\(x1), \(y1), \(x2), \(y2)]")
            }
        }
        self.classNames = classNames
        self.imageIDs = ids
        self.digest = digest
        self.provenance = try file.string("provenance")
        self.imageOffsets = imageOffsets
        self.shapes = shapes
        self.boxOffsets = boxOffsets
        self.boxes = boxes
        self.labels = labels
        self.difficult = difficult
        self.reader = reader
    }

    public func header(_ index: Int) throws -> ImageHeader {
        guard index >= 0, index < count else { throw UsageError("\(path): image index \(index) is outside 0..<\(count)") }
        let range = Int(boxOffsets[index])..<Int(boxOffsets[index + 1])
        return ImageHeader(id: imageIDs[index], height: Int(shapes[3 * index]), width: Int(shapes[3 * index + 1]),
                           boxes: range.map { Box(boxes[4 * $0], boxes[4 * $0 + 1], boxes[4 * $0 + 2], boxes[4 * $0 + 3]) },
                           labels: range.map { Int(labels[$0]) }, difficult: range.map { difficult[$0] != 0 })
    }

    public func image(_ index: Int) throws -> DetectionImage {
        let h = try header(index)
        let pixels = try reader.rows("/images", Int(imageOffsets[index])..<Int(imageOffsets[index + 1]), as: UInt8.self)
        return DetectionImage(id: h.id, height: h.height, width: h.width, pixels: pixels, boxes: h.boxes, labels: h.labels,
                              difficult: h.difficult)
    }
}
