// Image preprocessing as rcnn/io/image.py: the scale rule with its long-side cap, OpenCV's
// INTER_LINEAR sampling, flips of images and boxes, mean subtraction into NCHW.

import Engine
import Foundation
import Testing
@testable import Detection

struct DatasetPreprocessTests {
    static func image(height: Int, width: Int, boxes: [Box] = [], pixel: (Int, Int, Int) -> UInt8) -> DetectionImage {
        var p = [UInt8](repeating: 0, count: height * width * 3)
        for y in 0..<height { for x in 0..<width { for c in 0..<3 { p[(y * width + x) * 3 + c] = pixel(y, x, c) } } }
        return DetectionImage(id: "t", height: height, width: width, pixels: p, boxes: boxes,
                              labels: boxes.map { _ in 1 }, difficult: boxes.map { _ in false })
    }

    @Test func scaleRuleAndResizedSize() {
        let p = Preprocess()
        // VOC's usual 375×500: short side to 600.
        let voc = p.scaledSize(height: 375, width: 500)
        #expect(voc.scale == Float(600) / 375 && voc.height == 600 && voc.width == 800)
        // Portrait 500×333: 600/333 = 1.8018…, 500·s = 900.9 → 901.
        let portrait = p.scaledSize(height: 500, width: 333)
        #expect(portrait.width == 600 && portrait.height == 901)
        // Long side cap: 300×1000 would become 600×2000, so the long side goes to 1000 instead.
        let wide = p.scaledSize(height: 300, width: 1000)
        #expect(wide.scale == 1 && wide.height == 300 && wide.width == 1000)
        let cap = p.scaledSize(height: 200, width: 800)
        #expect(cap.scale == 1.25 && cap.height == 250 && cap.width == 1000)
        let small = Preprocess(shortSide: 60, maxLongSide: 100).scaledSize(height: 30, width: 40)
        #expect(small.scale == 2 && small.height == 60 && small.width == 80)
    }

    @Test func bilinearSamplesAtHalfPixelCentresLikeOpenCV() {
        // cv2.resize(np.uint8([[0, 100]]), None, fx=2, fy=2) == [[0, 25, 75, 100]] * 2 rows.
        let up = Preprocess.resizeLinear([0, 0, 0, 100, 100, 100], height: 1, width: 2, toHeight: 2, toWidth: 4, scale: 2)
        #expect(stride(from: 0, to: 24, by: 3).map { up[$0] } == [0, 25, 75, 100, 0, 25, 75, 100])
        // fx = 0.5 takes the mean of pixel pairs: [10, 30, 50, 70] → [20, 60].
        let row: [UInt8] = [10, 30, 50, 70].flatMap { [$0, $0, $0] }
        let down = Preprocess.resizeLinear(row + row, height: 2, width: 4, toHeight: 1, toWidth: 2, scale: 0.5)
        #expect(down == [20, 20, 20, 60, 60, 60])
        // fx = 1.5 on [0, 90, 180]: sample points −1/6 (clamped), 1/2, 7/6, 11/6, 5/2 (clamped) → 0, 45, 105, 165, 180.
        let mid: [UInt8] = [0, 90, 180].flatMap { [$0, $0, $0] }
        let third = Preprocess.resizeLinear(mid, height: 1, width: 3, toHeight: 1, toWidth: 5, scale: 1.5)
        #expect(stride(from: 0, to: 15, by: 3).map { third[$0] } == [0, 45, 105, 165, 180])
    }

    @Test func constantImageGivesTheValueMinusTheMeans() {
        let img = Self.image(height: 30, width: 40) { _, _, c in [200, 100, 50][c] }
        let p = Preprocess(shortSide: 45, maxLongSide: 1000)
        let (blob, scale, h, w) = p.blob(img)
        #expect(scale == 1.5 && h == 45 && w == 60)
        #expect(blob.shape == [1, 3, 45, 60])
        let plane = h * w
        for c in 0..<3 {
            let expected = Float([200, 100, 50][c]) - p.pixelMeans[c]
            #expect(blob.data[(c * plane)..<((c + 1) * plane)].allSatisfy { $0 == expected }, "channel \(c)")
        }
        #expect(p.pixelMeans == [123.68, 116.779, 103.939])
    }

    @Test func channelsStayInRGBOrder() {
        let img = Self.image(height: 4, width: 4) { y, x, c in UInt8(c == 0 ? 10 * x : c == 1 ? 10 * y : 7) }
        let p = Preprocess(shortSide: 4, maxLongSide: 4, pixelMeans: [0, 0, 0])
        let (blob, _, _, _) = p.blob(img)
        #expect(Array(blob.data[0..<4]) == [0, 10, 20, 30])        // R varies along x
        #expect(Array(blob.data[16..<32].enumerated().filter { $0.offset % 4 == 0 }.map(\.element)) == [0, 10, 20, 30])  // G along y
        #expect(blob.data[32..<48].allSatisfy { $0 == 7 })
    }

    @Test func flipMirrorsTheImageAndTheBoxes() {
        let img = Self.image(height: 30, width: 40, boxes: [Box(10, 5, 19, 14), Box(0, 0, 39, 29)]) { y, x, c in
            UInt8((x * 7 + y * 3 + c * 50) % 256)
        }
        let p = Preprocess(shortSide: 60, maxLongSide: 100)
        let plain = p.blob(img), flipped = p.blob(img, flip: true)
        #expect(plain.scale == 2 && flipped.scale == 2 && flipped.width == 80 && flipped.height == 60)
        // An exact 2× scale samples symmetrically, so flip-then-resize mirrors the resized image.
        var mirrored = true
        for c in 0..<3 { for y in 0..<60 { for x in 0..<80 {
            let i = (c * 60 + y) * 80
            if plain.data.data[i + x] != flipped.data.data[i + 79 - x] { mirrored = false }
        } } }
        #expect(mirrored)
        // x1' = W − x2 − 1, x2' = W − x1 − 1, then × scale.
        #expect(p.boxes(img, flip: true, scale: 2) == [Box(40, 10, 58, 28), Box(0, 0, 78, 58)])
        #expect(p.boxes(img, flip: false, scale: 2) == [Box(20, 10, 38, 28), Box(0, 0, 78, 58)])
        // The flipped box still covers the same pixels: the object's colour moves with it.
        let marked = Self.image(height: 10, width: 10, boxes: [Box(1, 2, 3, 4)]) { y, x, _ in (1...3).contains(x) && (2...4).contains(y) ? 255 : 0 }
        let m = Preprocess(shortSide: 10, maxLongSide: 10, pixelMeans: [0, 0, 0]).blob(marked, flip: true)
        let b = Preprocess().boxes(marked, flip: true, scale: 1)[0]
        #expect(b == Box(6, 2, 8, 4))
        for y in 0..<10 { for x in 0..<10 {
            let inside = Float(x) >= b.x1 && Float(x) <= b.x2 && Float(y) >= b.y1 && Float(y) <= b.y2
            #expect(m.data.data[y * 10 + x] == (inside ? 255 : 0))
        } }
    }

    @Test func resizedSyntheticImageKeepsItsRange() throws {
        let img = try SyntheticDataset.generate(count: 1, size: 50, classes: 3, seed: 2)[0]
        let (blob, scale, h, w) = Preprocess(shortSide: 75, maxLongSide: 200).blob(img)
        #expect(scale == 1.5 && h == 75 && w == 75 && blob.count == 3 * 75 * 75)
        let means = Preprocess().pixelMeans
        for c in 0..<3 {
            let plane = blob.data[(c * 75 * 75)..<((c + 1) * 75 * 75)]
            #expect(plane.allSatisfy { $0 + means[c] >= 0 && $0 + means[c] <= 255 })
        }
    }
}
