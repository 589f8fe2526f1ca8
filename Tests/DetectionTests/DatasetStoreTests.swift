// The HDF5 image store: write and read back, the content digest's definition and stability, and
// clear errors on malformed stores.

import Engine
import Foundation
import Testing
@testable import Detection
import ParamKit

/// A fresh directory under the system's temporary directory.
func datasetScratch(_ name: String = #function) throws -> String {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("paramkit-dataset-\(name.filter(\.isLetter))-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

func expectSameImage(_ a: DetectionImage, _ b: DetectionImage, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.id == b.id, sourceLocation: sourceLocation)
    #expect(a.height == b.height && a.width == b.width, sourceLocation: sourceLocation)
    #expect(a.pixels == b.pixels, "pixels of \(a.id)", sourceLocation: sourceLocation)
    #expect(a.boxes == b.boxes, sourceLocation: sourceLocation)
    #expect(a.labels == b.labels, sourceLocation: sourceLocation)
    #expect(a.difficult == b.difficult, sourceLocation: sourceLocation)
}

struct DatasetStoreTests {
    /// Synthetic images plus the cases synth does not make: an image without boxes, difficult
    /// objects, a non-square image.
    static func sample() throws -> (images: [DetectionImage], classNames: [String]) {
        var images = try SyntheticDataset.generate(count: 4, size: 40, classes: 5, seed: 11)
        images[1].difficult[0] = true
        images[2].boxes = []; images[2].labels = []; images[2].difficult = []
        images.append(DetectionImage(id: "wide one", height: 3, width: 5, pixels: (0..<45).map { UInt8($0 * 5) },
                                     boxes: [Box(0, 0, 4, 2), Box(1.5, 0.5, 2.5, 1)], labels: [5, 1], difficult: [false, true]))
        return (images, SyntheticDataset.classNames(classes: 5))
    }

    @Test func writesAndReadsBackIdenticalImagesAndAnnotations() throws {
        let dir = try datasetScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (images, names) = try Self.sample()
        let path = dir + "/set.h5"
        let digest = try DatasetStore.write(images: images, classNames: names, to: path, provenance: Provenance(operation: "test"))
        let store = try HDF5DetectionDataset(path: path)
        #expect(store.count == images.count)
        #expect(store.classNames == names)
        #expect(store.imageIDs == images.map(\.id))
        #expect(store.digest == digest)
        #expect(digest == DatasetDigest.of(images, classNames: names))
        #expect(try store.contentDigest() == digest)
        for (i, image) in images.enumerated() {
            expectSameImage(try store.image(i), image)
            #expect(try store.header(i) == ImageHeader(image))
        }
        let opened = try Datasets.open(path: path)
        #expect(opened is HDF5DetectionDataset && opened.digest == digest)
        // The provenance and root attributes are there for other tools.
        let file = try HDF5File(path: path)
        #expect(try file.string("paramkit_format") == "paramkit.dataset")
        #expect(try file.numbers("format_version") == [1])
        #expect(try file.string("provenance")?.contains("\"operation\":\"test\"") == true)
        #expect(try file.dataset("/image_shapes", as: Int32.self).shape == [5, 3])
        #expect(try file.dataset("/boxes", as: Float.self).shape == [images.map(\.boxes.count).reduce(0, +), 4])
    }

    @Test func readsImagesFromSeveralThreads() throws {
        let dir = try datasetScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (images, names) = try Self.sample()
        try DatasetStore.write(images: images, classNames: names, to: dir + "/set.h5", provenance: Provenance(operation: "test"))
        let store = SendableBox(try HDF5DetectionDataset(path: dir + "/set.h5"))
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var pixels: [Int: [UInt8]] = [:]
            var failures = 0
        }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 50) { k in
            let i = k % images.count
            let image = try? store.value.image(i)
            results.lock.lock()
            if let image, results.pixels[i] == nil || results.pixels[i] == image.pixels { results.pixels[i] = image.pixels }
            else { results.failures += 1 }
            results.lock.unlock()
        }
        #expect(results.failures == 0)
        #expect((0..<images.count).allSatisfy { results.pixels[$0] == images[$0].pixels })
    }

    @Test func copyingAStoreKeepsItsDigest() throws {
        let dir = try datasetScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (images, names) = try Self.sample()
        let first = try DatasetStore.write(images: images, classNames: names, to: dir + "/a.h5", provenance: Provenance(operation: "test"))
        let copy = try DatasetStore.write(try HDF5DetectionDataset(path: dir + "/a.h5"), to: dir + "/b.h5",
                                          provenance: Provenance(operation: "copy"))
        #expect(copy == first)
        #expect(try HDF5DetectionDataset(path: dir + "/b.h5").contentDigest() == first)
    }

    @Test func digestFollowsItsDefinition() throws {
        let (images, names) = try Self.sample()
        var h = XXH64()
        h.update("paramkit.dataset\nclass_names\t[\"__background__\",\"rectangle\",\"ellipse\",\"triangle\",\"cross\",\"ring\"]\n")
        for image in images {
            h.update("image\t\"\(image.id)\"\t\(image.height)\t\(image.width)\t\(image.boxes.count)\n")
            h.update(image.pixels)
            var record: [UInt8] = []
            for (k, b) in image.boxes.enumerated() {
                for v in [b.x1, b.y1, b.x2, b.y2] { withUnsafeBytes(of: v.bitPattern.littleEndian) { record += $0 } }
                withUnsafeBytes(of: Int32(image.labels[k]).littleEndian) { record += $0 }
                record.append(image.difficult[k] ? 1 : 0)
            }
            h.update(record)
        }
        let hex = String(h.finalize(), radix: 16)
        #expect(DatasetDigest.of(images, classNames: names) == "xxh64:" + String(repeating: "0", count: 16 - hex.count) + hex)
    }

    @Test func digestIsStableAndSeesOnePixelAndOneBox() throws {
        let (images, names) = try Self.sample()
        let d = DatasetDigest.of(images, classNames: names)
        #expect(d == DatasetDigest.of(try Self.sample().images, classNames: names))
        #expect(d.hasPrefix("xxh64:") && d.count == 22)
        var pixel = images
        pixel[3].pixels[100] ^= 1
        #expect(DatasetDigest.of(pixel, classNames: names) != d)
        var box = images
        box[0].boxes[0].x2 += 1
        #expect(DatasetDigest.of(box, classNames: names) != d)
        var flag = images
        flag[0].difficult[0].toggle()
        #expect(DatasetDigest.of(flag, classNames: names) != d)
        var renamed = names
        renamed[1] = "square"
        #expect(DatasetDigest.of(images, classNames: renamed) != d)
    }

    @Test func refusesBadClassNamesAndLabels() throws {
        let dir = try datasetScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (images, names) = try Self.sample()
        #expect(throws: UsageError.self) {
            try DatasetStore.write(images: images, classNames: Array(names.dropFirst()), to: dir + "/x.h5", provenance: Provenance(operation: "t"))
        }
        #expect(throws: FormatError.self) {
            try DatasetStore.write(images: images, classNames: Array(names.prefix(3)), to: dir + "/x.h5", provenance: Provenance(operation: "t"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/x.h5"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "no temporary file is left behind")
    }

    /// A store written by hand with HDF5Builder, with one thing changed by `edit`.
    static func handMade(_ path: String, edit: (inout [String: [Int64]], inout [String: String]) -> Void) throws {
        var ints: [String: [Int64]] = [
            "/image_offsets": [0, 12, 18], "/box_offsets": [0, 1, 2], "/labels": [1, 2], "/difficult": [0, 1],
            "/image_shapes": [2, 2, 3, 1, 2, 3],
        ]
        var attrs = ["paramkit_format": "paramkit.dataset", "class_names": "[\"__background__\",\"a\",\"b\"]",
                     "image_ids": "[\"p\",\"q\"]", "digest": "xxh64:0000000000000000", "provenance": "{}"]
        edit(&ints, &attrs)
        let b = try HDF5Builder(path: path)
        try b.addDataset(path: "/images", shape: [18], values: [UInt8](repeating: 7, count: 18))
        try b.addDataset(path: "/image_offsets", shape: [ints["/image_offsets"]!.count], values: ints["/image_offsets"]!)
        try b.addDataset(path: "/box_offsets", shape: [ints["/box_offsets"]!.count], values: ints["/box_offsets"]!)
        try b.addDataset(path: "/image_shapes", shape: [ints["/image_shapes"]!.count / 3, 3], values: ints["/image_shapes"]!.map { Int32($0) })
        try b.addDataset(path: "/labels", shape: [2], values: ints["/labels"]!.map { Int32($0) })
        try b.addDataset(path: "/difficult", shape: [2], values: ints["/difficult"]!.map { UInt8($0) })
        try b.addDataset(path: "/boxes", shape: [2, 4], values: [Float]([0, 0, 1, 1, 0, 0, 1, 0]))
        for (k, v) in attrs { try b.setStringAttribute(path: "/", name: k, value: v) }
        try b.setIntAttribute(path: "/", name: "format_version", value: 1)
        try b.commit()
    }

    @Test func readsAHandMadeStore() throws {
        let dir = try datasetScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.handMade(dir + "/ok.h5") { _, _ in }
        let store = try HDF5DetectionDataset(path: dir + "/ok.h5")
        #expect(store.count == 2 && store.classNames == ["__background__", "a", "b"])
        let q = try store.image(1)
        #expect(q.id == "q" && q.height == 1 && q.width == 2 && q.pixels == [UInt8](repeating: 7, count: 6))
        #expect(q.boxes == [Box(0, 0, 1, 0)] && q.labels == [2] && q.difficult == [true])
    }

    @Test("malformed stores fail with the dataset named", arguments: [
        ("/image_offsets", "offsets"), ("/image_shapes", "shape"), ("/box_offsets", "box offsets"), ("/labels", "label"),
        ("/difficult", "difficult"), ("/@class_names", "class names"), ("/@image_ids", "ids"), ("/", "format"),
    ])
    func malformedStore(location: String, what: String) throws {
        let dir = try datasetScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bad.h5"
        try Self.handMade(path) { ints, attrs in
            switch what {
            case "offsets": ints["/image_offsets"] = [0, 12, 17]
            case "shape": ints["/image_shapes"] = [2, 2, 3, 1, 2, 4]
            case "box offsets": ints["/box_offsets"] = [0, 2, 1]
            case "label": ints["/labels"] = [1, 3]
            case "difficult": ints["/difficult"] = [0, 2]
            case "class names": attrs["class_names"] = "[\"a\",\"b\"]"
            case "ids": attrs["image_ids"] = "p,q"
            default: attrs["paramkit_format"] = "paramkit.checkpoint"
            }
        }
        let error = #expect(throws: FormatError.self) { try HDF5DetectionDataset(path: path) }
        #expect(error?.file == path)
        #expect(error?.location == location, "\(String(describing: error))")
    }

    @Test func missingDatasetAndNonHDF5FileAreFormatErrors() throws {
        let dir = try datasetScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let b = try HDF5Builder(path: dir + "/partial.h5")
        try b.setStringAttribute(path: "/", name: "paramkit_format", value: "paramkit.dataset")
        try b.setIntAttribute(path: "/", name: "format_version", value: 1)
        try b.setStringAttribute(path: "/", name: "class_names", value: "[\"__background__\",\"a\"]")
        try b.setStringAttribute(path: "/", name: "image_ids", value: "[]")
        try b.setStringAttribute(path: "/", name: "digest", value: "xxh64:0000000000000000")
        try b.commit()
        let missing = #expect(throws: FormatError.self) { try HDF5DetectionDataset(path: dir + "/partial.h5") }
        #expect(missing?.location == "/image_offsets")
        try Data("not hdf5".utf8).write(to: URL(fileURLWithPath: dir + "/text.h5"))
        #expect(throws: FormatError.self) { try Datasets.open(path: dir + "/text.h5") }
        #expect(throws: FormatError.self) { try Datasets.open(path: dir + "/nothing-here.h5") }
    }

    @Test func builderWritesNestedDatasetsInRowsAndAttributes() throws {
        let dir = try datasetScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/b.h5"
        let b = try HDF5Builder(path: path)
        try b.createDataset(path: "/a/b/rows", shape: [4, 2], dtype: .int64)
        try b.write(path: "/a/b/rows", rows: 2, values: [Int64]([5, 6, 7, 8]))
        try b.write(path: "/a/b/rows", rows: 0, values: [Int64]([1, 2, 3, 4]))
        #expect(throws: UsageError.self) { try b.write(path: "/a/b/rows", rows: 3, values: [Int64]([1, 2, 3, 4])) }
        #expect(throws: UsageError.self) { try b.write(path: "/a/b/rows", rows: 0, values: [Float]([1, 2])) }
        try b.addDataset(path: "/f", shape: [], values: [Float(2.5)])
        try b.addDataset(path: "/empty", shape: [0, 4], values: [Float]())
        try b.setStringAttribute(path: "/a/b/rows", name: "note", value: "ünïcode")
        try b.setIntAttribute(path: "/a", name: "n", value: 42)
        #expect(!FileManager.default.fileExists(atPath: path), "nothing at the destination before commit")
        try b.commit()
        let f = try HDF5File(path: path)
        #expect(try f.dataset("/a/b/rows", as: Int64.self).values == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(try f.dataset("/f", as: Float.self).values == [2.5])
        #expect(try f.dataset("/empty", as: Float.self).shape == [0, 4])
        #expect(try f.numbers("n", of: "/a") == [42])
        let r = try HDF5RowReader(path: path)
        #expect(try r.rows("/a/b/rows", 1..<3, as: Int64.self) == [3, 4, 5, 6])
        #expect(throws: FormatError.self) { try r.rows("/a/b/rows", 3..<5, as: Int64.self) }
        #expect(throws: FormatError.self) { try r.shape("/nope") }
    }
}
