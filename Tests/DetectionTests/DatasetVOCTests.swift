// Pascal-VOC directories and JPEG: a small VOC tree written here (JPEGs from the encoder, XML by
// hand) read back with boxes = xml − 1 and difficult flags; imported into a store; bad JPEG data
// and bad XML give FormatError, not a crash.

import Foundation
import Testing
@testable import Detection
import ParamKit

struct DatasetVOCTests {
    /// A smooth image (gradients), which JPEG keeps within a few levels.
    static func smooth(height: Int, width: Int, seed: Int) -> [UInt8] {
        var p = [UInt8](repeating: 0, count: height * width * 3)
        for y in 0..<height {
            for x in 0..<width {
                p[(y * width + x) * 3] = UInt8((x * 200) / width + 20)
                p[(y * width + x) * 3 + 1] = UInt8((y * 180) / height + 30 + seed)
                p[(y * width + x) * 3 + 2] = UInt8(((x + y) * 100) / (width + height) + 60)
            }
        }
        return p
    }

    static func object(_ name: String, _ box: [Int], difficult: Int? = nil, extra: String = "") -> String {
        """
            <object>
                <name>\(name)</name>
                <pose>Unspecified</pose>
                <truncated>0</truncated>
                \(difficult.map { "<difficult>\($0)</difficult>" } ?? "")
                <bndbox><xmin>\(box[0])</xmin><ymin>\(box[1])</ymin><xmax>\(box[2])</xmax><ymax>\(box[3])</ymax></bndbox>
                \(extra)
            </object>
        """
    }

    static func annotation(_ file: String, height: Int, width: Int, objects: [String]) -> String {
        """
        <annotation>
            <folder>VOC2007</folder>
            <filename>\(file)</filename>
            <size><width>\(width)</width><height>\(height)</height><depth>3</depth></size>
            <segmented>0</segmented>
        \(objects.joined(separator: "\n"))
        </annotation>
        """
    }

    /// VOC2007-like tree with two images in trainval and one more in test.
    static func makeVOC(_ root: String) throws -> [String: [UInt8]] {
        let fm = FileManager.default
        for sub in ["Annotations", "JPEGImages", "ImageSets/Main"] {
            try fm.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
        }
        var originals: [String: [UInt8]] = [:]
        let sizes = ["000005": (40, 56), "000007": (48, 32), "000009": (24, 24)]
        for (i, (id, size)) in sizes.sorted(by: { $0.key < $1.key }).enumerated() {
            let pixels = smooth(height: size.0, width: size.1, seed: i * 10)
            originals[id] = pixels
            let jpeg = try JPEG.encode(pixels, height: size.0, width: size.1, quality: 95)
            try Data(jpeg).write(to: URL(fileURLWithPath: "\(root)/JPEGImages/\(id).jpg"))
        }
        let person = object("person", [5, 6, 30, 38], difficult: 0, extra: """
            <part><name>head</name><bndbox><xmin>9</xmin><ymin>7</ymin><xmax>15</xmax><ymax>14</ymax></bndbox></part>
            """)
        try annotation("000005.jpg", height: 40, width: 56, objects: [
            object("chair", [1, 1, 20, 40], difficult: 1), person, object(" Dog ", [30, 10, 56, 35]),
        ]).write(toFile: root + "/Annotations/000005.xml", atomically: true, encoding: .utf8)
        try annotation("000007.jpg", height: 48, width: 32, objects: [object("tvmonitor", [2, 3, 31, 47], difficult: 0)])
            .write(toFile: root + "/Annotations/000007.xml", atomically: true, encoding: .utf8)
        try annotation("000009.jpg", height: 24, width: 24, objects: [object("cat", [1, 1, 24, 24])])
            .write(toFile: root + "/Annotations/000009.xml", atomically: true, encoding: .utf8)
        try "000007\n000005\n\n".write(toFile: root + "/ImageSets/Main/trainval.txt", atomically: true, encoding: .utf8)
        try "000009\n".write(toFile: root + "/ImageSets/Main/test.txt", atomically: true, encoding: .utf8)
        return originals
    }

    @Test func readsAnnotationsAsXMLMinusOneAndDecodesTheImages() throws {
        let dir = try datasetScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let originals = try Self.makeVOC(dir)
        let voc = try VOCDataset(directory: dir, split: "trainval")
        #expect(voc.count == 2)
        #expect(voc.classNames.count == 21 && voc.classNames[0] == "__background__")

        let tv = try voc.image(0)
        #expect(tv.id == "000007" && tv.height == 48 && tv.width == 32)
        #expect(tv.boxes == [Box(1, 2, 30, 46)] && tv.labels == [20] && tv.difficult == [false])

        let five = try voc.image(1)
        #expect(five.id == "000005" && five.height == 40 && five.width == 56)
        #expect(five.boxes == [Box(0, 0, 19, 39), Box(4, 5, 29, 37), Box(29, 9, 55, 34)], "the part's bndbox is not an object")
        #expect(five.labels == [9, 15, 12])  // chair, person, dog (name trimmed and lower-cased)
        #expect(five.difficult == [true, false, false])
        #expect(five.droppingDifficult().labels == [15, 12])

        for image in [tv, five] {
            let original = originals[image.id]!
            let diffs = zip(image.pixels, original).map { abs(Int($0) - Int($1)) }
            #expect(diffs.max()! <= 12, "\(image.id): max JPEG error \(diffs.max()!)")
            #expect(Double(diffs.reduce(0, +)) / Double(diffs.count) < 2.5)
        }
        #expect(try voc.header(1) == ImageHeader(five))
        let test = try Datasets.open(path: dir, split: "test")
        #expect(test.count == 1)
        #expect(try test.image(0).boxes == [Box(0, 0, 23, 23)])
        #expect((try Datasets.open(path: dir)).count == 2, "trainval by default")
    }

    @Test func importWritesAStoreWithTheSameContent() throws {
        let dir = try datasetScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Self.makeVOC(dir + "/VOC2007")
        var seen: [Int] = []
        let digest = try Datasets.importVOC(directory: dir + "/VOC2007", split: "trainval", to: dir + "/voc.h5") { done, total in
            seen.append(done); #expect(total == 2)
        }
        #expect(seen == [1, 2])
        let voc = try VOCDataset(directory: dir + "/VOC2007")
        let store = try HDF5DetectionDataset(path: dir + "/voc.h5")
        #expect(store.digest == digest && store.classNames == VOCDataset.vocClassNames)
        #expect(try voc.contentDigest() == digest, "the store's digest is the content digest of what it was made from")
        for i in 0..<2 { expectSameImage(try store.image(i), try voc.image(i)) }
        #expect(store.provenance?.contains(voc.digest) == true)
        let reopened = try VOCDataset(directory: dir + "/VOC2007")
        #expect(voc.digest.hasPrefix("xxh64:") && voc.digest == reopened.digest)
    }

    /// A user's own classes: the 20 VOC names refuse them; an explicit list or `auto` (the names in
    /// the annotations, sorted) sets the labels, and the store carries the names in that order.
    @Test func importTakesTheUsersClassList() throws {
        let dir = try datasetScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = dir + "/shapes"
        for sub in ["Annotations", "JPEGImages", "ImageSets/Main"] {
            try FileManager.default.createDirectory(atPath: root + "/" + sub, withIntermediateDirectories: true)
        }
        let objects = ["a": [Self.object("square", [2, 2, 10, 10]), Self.object("Circle ", [12, 3, 20, 9])], "b": [Self.object("triangle", [1, 1, 8, 8])]]
        for (id, objs) in objects {
            let jpeg = try JPEG.encode(Self.smooth(height: 24, width: 24, seed: 1), height: 24, width: 24, quality: 95)
            #expect(FileManager.default.createFile(atPath: root + "/JPEGImages/\(id).jpg", contents: Data(jpeg)))
            try Self.annotation("\(id).jpg", height: 24, width: 24, objects: objs).write(toFile: root + "/Annotations/\(id).xml", atomically: true, encoding: .utf8)
        }
        try "a\nb\n".write(toFile: root + "/ImageSets/Main/trainval.txt", atomically: true, encoding: .utf8)

        let refused = try #require(throws: FormatError.self) { _ = try Datasets.importVOC(directory: root, to: dir + "/voc.h5") }
        #expect(refused.message.contains("unknown class 'square'"))
        #expect(try VOCDataset.classNames(inAnnotationsOf: root) == ["circle", "square", "triangle"])

        _ = try Datasets.importVOC(directory: root, classes: ["triangle", "square", "circle"], to: dir + "/mine.h5")
        let mine = try HDF5DetectionDataset(path: dir + "/mine.h5")
        #expect(mine.classNames == [DatasetStore.background, "triangle", "square", "circle"])
        #expect(try mine.image(0).labels == [2, 3] && mine.image(1).labels == [1])
        _ = try Datasets.importVOC(directory: root, classes: try VOCDataset.classNames(inAnnotationsOf: root), to: dir + "/auto.h5")
        #expect(try HDF5DetectionDataset(path: dir + "/auto.h5").image(0).labels == [2, 1])
    }

    @Test func badJPEGDataIsAFormatError() throws {
        let pixels = Self.smooth(height: 32, width: 32, seed: 0)
        let jpeg = try JPEG.encode(pixels, height: 32, width: 32)
        let size = try JPEG.size(jpeg, file: "x.jpg")
        #expect(size.height == 32 && size.width == 32)
        let garbage = #expect(throws: FormatError.self) { try JPEG.decode([0x00, 0x01, 0x02, 0x03, 0x04], file: "g.jpg") }
        #expect(garbage?.file == "g.jpg" && garbage?.message.contains("JPEG") == true)
        #expect(throws: FormatError.self) { try JPEG.decode([], file: "empty.jpg") }
        // Cut half way through the entropy-coded data (after the SOS marker).
        let sos = try #require((0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xDA })
        let half = #expect(throws: FormatError.self) { try JPEG.decode(Array(jpeg.prefix((sos + jpeg.count) / 2)), file: "half.jpg") }
        #expect(half?.message.contains("truncated") == true, "\(String(describing: half))")
        let header = #expect(throws: FormatError.self) { try JPEG.decode(Array(jpeg.prefix(20)), file: "header.jpg") }
        #expect(header?.description.hasPrefix("header.jpg: not a decodable JPEG") == true, "\(String(describing: header))")
        // A header that claims an enormous image is refused before any allocation.
        var huge = jpeg
        if let sof = (0..<(huge.count - 8)).first(where: { huge[$0] == 0xFF && huge[$0 + 1] == 0xC0 }) {
            huge[sof + 5] = 0x9C; huge[sof + 6] = 0x40; huge[sof + 7] = 0x9C; huge[sof + 8] = 0x40  // 40000 × 40000
            let big = #expect(throws: FormatError.self) { try JPEG.decode(huge, file: "huge.jpg") }
            #expect(big?.message.contains("40000×40000") == true, "\(String(describing: big))")
        }
        // Flipped bits in the entropy-coded data: decoded with libjpeg's warnings or refused, never a crash.
        var flipped = jpeg
        flipped[flipped.count / 2] ^= 0x55
        _ = try? JPEG.decode(flipped, file: "flipped-bits.jpg")
    }

    @Test func corruptFilesInAVOCTreeAreFormatErrors() throws {
        let dir = try datasetScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try Self.makeVOC(dir)
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 0x00]).write(to: URL(fileURLWithPath: dir + "/JPEGImages/000007.jpg"))
        let voc = try VOCDataset(directory: dir)
        let e = #expect(throws: FormatError.self) { try voc.image(0) }
        #expect(e?.file.hasSuffix("JPEGImages/000007.jpg") == true)
        #expect(throws: FormatError.self) { try DatasetStore.write(voc, to: dir + "/out.h5", provenance: Provenance(operation: "t")) }
        #expect(!FileManager.default.fileExists(atPath: dir + "/out.h5"))

        try "<annotation><object><name>dog</name>".write(toFile: dir + "/Annotations/000005.xml", atomically: true, encoding: .utf8)
        let xml = #expect(throws: FormatError.self) { try VOCDataset(directory: dir) }
        #expect(xml?.file.hasSuffix("000005.xml") == true)
        try Self.annotation("000005.jpg", height: 40, width: 56, objects: [Self.object("unicorn", [1, 1, 2, 2])])
            .write(toFile: dir + "/Annotations/000005.xml", atomically: true, encoding: .utf8)
        let unknown = #expect(throws: FormatError.self) { try VOCDataset(directory: dir) }
        #expect(unknown?.message.contains("unicorn") == true)
        #expect(throws: FormatError.self) { try VOCDataset(directory: dir, split: "val") }
        #expect(throws: FormatError.self) { try VOCDataset(directory: dir + "/JPEGImages/000009.jpg") }
    }

    @Test func uniformImageRoundTripsThroughJPEG() throws {
        let flat = try JPEG.encode([UInt8](repeating: 128, count: 8 * 8 * 3), height: 8, width: 8)
        let (h, w, pixels) = try JPEG.decode(flat, file: "flat.jpg")
        #expect(h == 8 && w == 8 && pixels.count == 192)
        #expect(pixels.allSatisfy { abs(Int($0) - 128) <= 1 })
    }
}
