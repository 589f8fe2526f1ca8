// A Pascal-VOC directory (VOCdevkit/VOC2007 and the like) read as the reference's pascal_voc.py
// does: image ids from ImageSets/Main/<split>.txt, objects from Annotations/<id>.xml with boxes
// = xml − 1 (0-based pixels), class from the object's name (lower-cased, trimmed), and the
// difficult flag kept (training drops those objects, evaluation needs them). Pixels come from
// JPEGImages/<id>.jpg decoded with libjpeg.

import Foundation
import ParamKit

public final class VOCDataset: DatasetHeaders {
    /// The 20 Pascal-VOC classes in the reference's order, after "__background__".
    public static let vocClassNames = [
        "__background__", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
        "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
    ]

    public struct Annotation: Sendable, Equatable {
        public var id: String
        /// The size the XML declares (the decoded JPEG is authoritative).
        public var declaredHeight: Int?
        public var declaredWidth: Int?
        public var boxes: [Box]
        public var labels: [Int]
        public var difficult: [Bool]
    }

    public let path: String
    public let split: String
    public let classNames: [String]
    public let annotations: [Annotation]
    public var count: Int { annotations.count }

    private let lock = NSLock()
    private var sizes: [Int: (height: Int, width: Int)] = [:]
    private var cachedDigest: String?

    /// Reads the split's id list and every annotation; images are decoded on demand.
    public init(directory: String, split: String = "trainval", classNames: [String] = VOCDataset.vocClassNames) throws {
        path = directory
        self.split = split
        self.classNames = classNames
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw FormatError(file: directory, "not a directory")
        }
        guard classNames.first == DatasetStore.background, classNames.count >= 2 else {
            throw UsageError("class names must start with \"\(DatasetStore.background)\" and name at least one class")
        }
        let ids = try VOCDataset.imageIDs(directory: directory, split: split)
        var index: [String: Int] = [:]
        for (i, name) in classNames.enumerated() where i > 0 { index[name] = i }
        annotations = try ids.map { try VOCDataset.parseAnnotation(directory + "/Annotations/\($0).xml", id: $0, classes: index) }
    }

    public func header(_ i: Int) throws -> ImageHeader {
        guard i >= 0, i < count else { throw UsageError("\(path): image index \(i) is outside 0..<\(count)") }
        let a = annotations[i]
        lock.lock()
        let known = sizes[i]
        lock.unlock()
        let size: (height: Int, width: Int)
        if let known { size = known } else {
            let file = jpegPath(i)
            size = try JPEG.size(JPEG.read(file), file: file)
            lock.lock(); sizes[i] = size; lock.unlock()
        }
        return ImageHeader(id: a.id, height: size.height, width: size.width, boxes: a.boxes, labels: a.labels, difficult: a.difficult)
    }

    public func image(_ i: Int) throws -> DetectionImage {
        guard i >= 0, i < count else { throw UsageError("\(path): image index \(i) is outside 0..<\(count)") }
        let a = annotations[i]
        let file = jpegPath(i)
        let (h, w, pixels) = try JPEG.decode(file: file)
        lock.lock(); sizes[i] = (h, w); lock.unlock()
        return DetectionImage(id: a.id, height: h, width: w, pixels: pixels, boxes: a.boxes, labels: a.labels, difficult: a.difficult)
    }

    public func jpegPath(_ i: Int) -> String { path + "/JPEGImages/\(annotations[i].id).jpg" }

    /// A content id over the files, computed on first use: xxh64 over "paramkit.voc\n", the class
    /// names, then per image its id, parsed annotations and the JPEG file's bytes (not the decoded
    /// pixels, so it differs from the digest of a store imported from this directory). A file
    /// that cannot be read contributes a marker instead of its bytes.
    public var digest: String {
        lock.lock()
        defer { lock.unlock() }
        if let cachedDigest { return cachedDigest }
        var hash = XXH64()
        hash.update("paramkit.voc\nclass_names\t" + JSON.array(classNames.map { .string($0) }).compact + "\n")
        for (i, a) in annotations.enumerated() {
            hash.update("image\t\(JSON.string(a.id).compact)\t\(a.boxes.count)\n")
            var record = [UInt8]()
            for (k, b) in a.boxes.enumerated() {
                for v in [b.x1, b.y1, b.x2, b.y2] { appendLE(v.bitPattern, to: &record) }
                appendLE(UInt32(bitPattern: Int32(truncatingIfNeeded: a.labels[k])), to: &record)
                record.append(a.difficult[k] ? 1 : 0)
            }
            hash.update(record)
            if let bytes = FileManager.default.contents(atPath: jpegPath(i)) {
                hash.update("jpeg\t\(bytes.count)\n")
                bytes.withUnsafeBytes { hash.update($0) }
            } else {
                hash.update("jpeg\tunreadable\n")
            }
        }
        let hex = String(hash.finalize(), radix: 16)
        let d = Digest.prefix + String(repeating: "0", count: 16 - hex.count) + hex
        cachedDigest = d
        return d
    }

    /// The image ids of a split (ImageSets/Main/SPLIT.txt, first word of each line).
    static func imageIDs(directory: String, split: String) throws -> [String] {
        let listPath = directory + "/ImageSets/Main/\(split).txt"
        guard let data = FileManager.default.contents(atPath: listPath) else {
            throw FormatError(file: listPath, "cannot read the image set '\(split)' (expected ImageSets/Main/\(split).txt)")
        }
        return String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).compactMap {
            $0.split(whereSeparator: \.isWhitespace).first.map(String.init)
        }
    }

    /// An annotation file's XML, read (size and objects as written, names untouched).
    private static func readXML(_ file: String) throws -> AnnotationReader {
        guard let data = FileManager.default.contents(atPath: file) else { throw FormatError(file: file, "cannot read the annotation") }
        let reader = AnnotationReader()
        do {
            try XMLReader.parse(Array(data)) { reader.take($0) }
        } catch {
            throw FormatError(file: file, location: "line \(error.line)", "not well-formed XML: \(error.message)")
        }
        return reader
    }

    /// A class name as annotations are matched against the class list: lower case, trimmed.
    public static func normalisedName(_ name: String) -> String { name.lowercased().trimmingCharacters(in: .whitespacesAndNewlines) }

    /// Every object class name in the split's annotations, normalised and sorted: the class list of
    /// `dataset import-voc --classes auto`.
    public static func classNames(inAnnotationsOf directory: String, split: String = "trainval") throws -> [String] {
        var names = Set<String>()
        for id in try imageIDs(directory: directory, split: split) {
            for o in try readXML(directory + "/Annotations/\(id).xml").objects { names.insert(normalisedName(o.name)) }
        }
        guard !names.isEmpty else { throw FormatError(file: directory, "no object in the '\(split)' annotations to take class names from") }
        return names.sorted()
    }

    /// Parses one annotation file: `object` elements with `name`, `difficult` and `bndbox`
    /// (`part` sub-objects of the person layout are ignored).
    public static func parseAnnotation(_ file: String, id: String, classes: [String: Int]) throws -> Annotation {
        let reader = try readXML(file)
        var a = Annotation(id: id, declaredHeight: reader.height, declaredWidth: reader.width, boxes: [], labels: [], difficult: [])
        for (k, o) in reader.objects.enumerated() {
            let name = normalisedName(o.name)
            guard let label = classes[name] else {
                throw FormatError(file: file, location: "object \(k)", "unknown class '\(name)'")
            }
            func coordinate(_ key: String) throws -> Float {
                guard let text = o.box[key], let v = Float(text.trimmingCharacters(in: .whitespacesAndNewlines)), v.isFinite else {
                    throw FormatError(file: file, location: "object \(k)", "bndbox/\(key) is missing or not a number")
                }
                return v - 1
            }
            let box = Box(try coordinate("xmin"), try coordinate("ymin"), try coordinate("xmax"), try coordinate("ymax"))
            guard box.x1 <= box.x2, box.y1 <= box.y2 else {
                throw FormatError(file: file, location: "object \(k)", "bndbox has xmin > xmax or ymin > ymax")
            }
            let diff = o.difficult.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let flag = diff.isEmpty ? 0 : Int(diff) else {
                throw FormatError(file: file, location: "object \(k)", "difficult is '\(diff)', expected 0 or 1")
            }
            a.boxes.append(box)
            a.labels.append(label)
            a.difficult.append(flag != 0)
        }
        return a
    }
}

/// Collects a VOC annotation from the reader's events: tracks the element path so that only an
/// object's own name, difficult flag and bndbox are taken.
private final class AnnotationReader {
    struct Object { var name = "", difficult = "", box: [String: String] = [:] }
    var objects: [Object] = []
    var width: Int?, height: Int?
    private var path: [String] = []
    private var text = ""

    func take(_ event: XMLReader.Event) {
        switch event {
        case .start(let element):
            path.append(element)
            text = ""
            if path == ["annotation", "object"] { objects.append(Object()) }
        case .text(let string):
            text += string
        case .end:
            let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
            switch path {
            case ["annotation", "object", "name"]: objects[objects.count - 1].name = value
            case ["annotation", "object", "difficult"]: objects[objects.count - 1].difficult = value
            case let p where p.count == 4 && p[0] == "annotation" && p[1] == "object" && p[2] == "bndbox":
                objects[objects.count - 1].box[p[3]] = value
            case ["annotation", "size", "width"]: width = Int(value)
            case ["annotation", "size", "height"]: height = Int(value)
            default: break
            }
            path.removeLast()
            text = ""
        }
    }
}

public enum Datasets {
    /// Opens a dataset: an HDF5 file as a `paramkit.dataset` store, a directory as Pascal-VOC with
    /// the given image set.
    public static func open(path: String, split: String = "trainval") throws -> DetectionDataset {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw FormatError(file: path, "no such file or directory") }
        if isDir.boolValue { return try VOCDataset(directory: path, split: split) }
        return try HDF5DetectionDataset(path: path)
    }

    /// Imports a Pascal-VOC image set into a store at `output`; returns the store's digest.
    /// `classes`: the object class names in label order (background is added first); nil for the
    /// 20 VOC classes. See `VOCDataset.classNames(inAnnotationsOf:split:)` for "auto".
    @discardableResult
    public static func importVOC(directory: String, split: String = "trainval", classes: [String]? = nil, to output: String,
                                 progress: ((Int, Int) -> Void)? = nil) throws -> String {
        let names = classes.map { [DatasetStore.background] + $0 } ?? VOCDataset.vocClassNames
        let voc = try VOCDataset(directory: directory, split: split, classNames: names)
        var provenance = Provenance(operation: "dataset-import-voc")
        provenance.inputs = [.init(label: "voc", path: directory, digest: voc.digest)]
        provenance.settings = [("split", .string(split)), ("images", .int(voc.count)),
                               ("classes", .array(names.dropFirst().map { .string($0) }))]
        return try DatasetStore.write(voc, to: output, provenance: provenance) { progress?($0, voc.count) }
    }
}
