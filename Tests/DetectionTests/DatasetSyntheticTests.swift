// The synthetic detection set: deterministic per seed and per image, valid boxes and labels,
// objects that are large and stand out from the background.

import Foundation
import Testing
@testable import Detection
import ParamKit

struct DatasetSyntheticTests {
    @Test func sameSeedGivesTheSameBytes() throws {
        let a = try SyntheticDataset.generate(count: 6, size: 48, classes: 6, seed: 3)
        let b = try SyntheticDataset.generate(count: 6, size: 48, classes: 6, seed: 3)
        for (x, y) in zip(a, b) { expectSameImage(x, y) }
        let names = SyntheticDataset.classNames(classes: 6)
        #expect(DatasetDigest.of(a, classNames: names) == DatasetDigest.of(b, classNames: names))
        let other = try SyntheticDataset.generate(count: 6, size: 48, classes: 6, seed: 4)
        #expect(DatasetDigest.of(other, classNames: names) != DatasetDigest.of(a, classNames: names))
        // Image i does not depend on how many images are generated.
        let prefix = try SyntheticDataset.generate(count: 2, size: 48, classes: 6, seed: 3)
        for (x, y) in zip(prefix, a) { expectSameImage(x, y) }
    }

    @Test func boxesAreTightInsideTheImageWithLabelsInRange() throws {
        let size = 64, classes = 8
        let images = try SyntheticDataset.generate(count: 40, size: size, classes: classes, seed: 1)
        var seen = Set<Int>()
        for image in images {
            #expect(image.height == size && image.width == size && image.pixels.count == size * size * 3)
            #expect((1...4).contains(image.boxes.count), "\(image.id) has \(image.boxes.count) objects")
            #expect(image.labels.count == image.boxes.count && image.difficult == image.boxes.map { _ in false })
            for (b, label) in zip(image.boxes, image.labels) {
                #expect(b.x1 >= 0 && b.y1 >= 0 && b.x2 <= Float(size - 1) && b.y2 <= Float(size - 1))
                #expect(b.x1 == b.x1.rounded() && b.y2 == b.y2.rounded(), "boxes are whole pixels")
                #expect(b.width >= 0.12 * Float(size) && b.height >= 0.12 * Float(size), "\(image.id): \(b)")
                #expect(b.width <= 0.6 * Float(size) + 1 && b.height <= 0.6 * Float(size) + 1, "\(image.id): \(b)")
                #expect((1...classes).contains(label))
                seen.insert(label)
            }
        }
        #expect(seen == Set(1...classes), "every class appears")
        #expect(SyntheticDataset.classNames(classes: 3) == ["__background__", "rectangle", "ellipse", "triangle"])
    }

    @Test func firstObjectDiffersFromTheBackgroundAroundIt() throws {
        // The first object is drawn first and may be covered later; the image's last object is on
        // top, so its box centre row must contain pixels far from the background just outside it.
        for image in try SyntheticDataset.generate(count: 20, size: 64, classes: 4, seed: 9) {
            let b = image.boxes.last!
            let y = Int((b.y1 + b.y2) / 2)
            func px(_ x: Int) -> [Int] { (0..<3).map { Int(image.pixels[(y * image.width + x) * 3 + $0]) } }
            let inside = (Int(b.x1)...Int(b.x2)).map(px)
            let outside = [Int(b.x1) - 2, Int(b.x2) + 2].filter { $0 >= 0 && $0 < image.width }.map(px)
            guard let ref = outside.first else { continue }
            let contrast = inside.map { p in zip(p, ref).map { abs($0 - $1) }.max()! }.max()!
            #expect(contrast > 60, "\(image.id): object barely differs from the background (\(contrast))")
        }
    }

    @Test func refusesBadSettings() {
        #expect(throws: UsageError.self) { try SyntheticDataset.generate(count: 1, size: 64, classes: 9, seed: 0) }
        #expect(throws: UsageError.self) { try SyntheticDataset.generate(count: 1, size: 64, classes: 0, seed: 0) }
        #expect(throws: UsageError.self) { try SyntheticDataset.generate(count: 1, size: 8, classes: 2, seed: 0) }
    }

    @Test func writeStoreRecordsTheSettings() throws {
        let dir = try datasetScratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let digest = try SyntheticDataset.writeStore(count: 3, size: 32, classes: 2, seed: 5, to: dir + "/s.h5")
        let store = try HDF5DetectionDataset(path: dir + "/s.h5")
        #expect(store.digest == digest && store.classNames == ["__background__", "rectangle", "ellipse"])
        let provenance = try #require(store.provenance)
        #expect(provenance.contains("\"operation\":\"dataset-synth\"") && provenance.contains("\"seed\":5"))
        let again = try SyntheticDataset.generate(count: 3, size: 32, classes: 2, seed: 5)
        for i in 0..<3 { expectSameImage(try store.image(i), again[i]) }
    }

    @Test func nonSquareImagesKeepTheirBoxesInside() throws {
        let images = try SyntheticDataset.generate(count: 6, size: 60, classes: 3, seed: 4, width: 100)
        for image in images {
            #expect(image.height == 60 && image.width == 100 && image.pixels.count == 60 * 100 * 3)
            for b in image.boxes { #expect(b.x1 >= 0 && b.y1 >= 0 && b.x2 <= 99 && b.y2 <= 59 && b.x1 <= b.x2 && b.y1 <= b.y2) }
        }
        // A square request is unchanged by the width parameter.
        #expect(try SyntheticDataset.generate(count: 2, size: 64, classes: 3, seed: 5).map(\.pixels)
                == SyntheticDataset.generate(count: 2, size: 64, classes: 3, seed: 5, width: 64).map(\.pixels))
    }
}
