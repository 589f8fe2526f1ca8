// A deterministic synthetic detection set: filled shapes of up to eight classes on textured
// backgrounds, with tight boxes, so that detectors can be trained and tested on small machines.
// Each image is drawn from its own random stream (seed, "synth/<index>"), so image i is the same
// whatever the count.

import Foundation
import ParamKit

public enum SyntheticDataset {
    /// The shape classes in label order (label 1 is "rectangle").
    public static let shapeNames = ["rectangle", "ellipse", "triangle", "cross", "ring", "diamond", "frame", "hourglass"]

    /// "__background__" and the first `classes` shape names.
    public static func classNames(classes: Int) -> [String] {
        [DatasetStore.background] + shapeNames.prefix(max(0, min(classes, shapeNames.count)))
    }

    /// `count` images of `size` × `width` pixels (square unless `width` is given) with 1–4 objects
    /// each from the first `classes` shapes. Objects span 15–60 % of the shorter side with varied
    /// aspect ratios and colours, and may overlap a little; boxes are the tight pixel extent of each
    /// shape (before later objects cover it).
    public static func generate(count: Int, size: Int, classes: Int, seed: UInt64, width: Int? = nil) throws -> [DetectionImage] {
        guard count >= 0 else { throw UsageError("synthetic dataset: count must be ≥ 0, got \(count)") }
        guard size >= 16, size <= 4096 else { throw UsageError("synthetic dataset: size must be in 16…4096, got \(size)") }
        guard (16...4096).contains(width ?? size) else { throw UsageError("synthetic dataset: width must be in 16…4096, got \(width ?? size)") }
        guard classes >= 1, classes <= shapeNames.count else {
            throw UsageError("synthetic dataset: classes must be in 1…\(shapeNames.count), got \(classes)")
        }
        return (0..<count).map { image(index: $0, height: size, width: width ?? size, classes: classes, seed: seed) }
    }

    /// Writes images to a store, recording the generator settings in the provenance.
    @discardableResult
    public static func writeStore(_ images: [DetectionImage], classNames: [String], to path: String,
                                  provenance: Provenance) throws -> String {
        try DatasetStore.write(images: images, classNames: classNames, to: path, provenance: provenance)
    }

    /// Generates and writes a store in one call; returns its digest.
    @discardableResult
    public static func writeStore(count: Int, size: Int, classes: Int, seed: UInt64, to path: String, width: Int? = nil) throws -> String {
        let images = try generate(count: count, size: size, classes: classes, seed: seed, width: width)
        var provenance = Provenance(operation: "dataset-synth")
        provenance.settings = [("count", .int(count)), ("size", .int(size)), ("width", .int(width ?? size)), ("classes", .int(classes)),
                               ("seed", .int(Int(truncatingIfNeeded: seed)))]
        return try writeStore(images, classNames: classNames(classes: classes), to: path, provenance: provenance)
    }

    // MARK: drawing

    /// Uniform numbers from the project's generator, in a form that does not depend on the
    /// standard library's sampling algorithms.
    struct Stream {
        var g: SeededGenerator
        mutating func unit() -> Double { Double(g.next() >> 11) * 0x1.0p-53 }
        mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * unit() }
        mutating func int(_ n: Int) -> Int { Int(g.next() % UInt64(n)) }
    }

    /// Whether normalised coordinates (u, v) in [−1, 1]² lie inside a shape. Every shape touches
    /// all four sides of its square, so its pixel extent is its box.
    static func inside(_ shape: Int, _ u: Double, _ v: Double) -> Bool {
        let au = abs(u), av = abs(v)
        switch shape {
        case 0: return true                                            // rectangle
        case 1: return u * u + v * v <= 1                              // ellipse
        case 2: return au <= (v + 1) / 2                               // triangle, apex up
        case 3: return au <= 0.3 || av <= 0.3                          // cross
        case 4: let r = u * u + v * v; return r <= 1 && r >= 0.3       // ring
        case 5: return au + av <= 1                                    // diamond
        case 6: return max(au, av) >= 0.6                              // frame (hollow rectangle)
        default: return au <= av                                      // hourglass
        }
    }

    static func image(index: Int, height: Int, width: Int, classes: Int, seed: UInt64) -> DetectionImage {
        var r = Stream(g: SeededGenerator(seed: seed, name: "synth/\(index)"))
        let (hh, ww) = (height, width), n = min(height, width)
        var pixels = [UInt8](repeating: 0, count: hh * ww * 3)

        // Background: a muted base colour, a linear gradient, stripes, and per-pixel noise.
        let base = (0..<3).map { _ in r.uniform(80, 170) }
        let angle = r.uniform(0, 2 * .pi), gradient = r.uniform(-40, 40)
        let (gx, gy) = (cos(angle) / Double(ww), sin(angle) / Double(hh))
        let stripeAngle = r.uniform(0, .pi), period = r.uniform(6, 24), stripeAmp = r.uniform(5, 20), phase = r.uniform(0, 2 * .pi)
        let (sx, sy) = (cos(stripeAngle) * 2 * .pi / period, sin(stripeAngle) * 2 * .pi / period)
        let tint = (0..<3).map { _ in r.uniform(0.6, 1.0) }
        for y in 0..<hh {
            for x in 0..<ww {
                let t = gradient * (Double(x) * gx + Double(y) * gy) + stripeAmp * sin(Double(x) * sx + Double(y) * sy + phase)
                let noise = r.uniform(-12, 12)
                for c in 0..<3 {
                    pixels[(y * ww + x) * 3 + c] = clampByte(base[c] + t * tint[c] + noise)
                }
            }
        }

        // Objects: placed one by one, rejecting spots that would hide much of an earlier object.
        let objects = 1 + r.int(4)
        var boxes: [Box] = [], labels: [Int] = []
        for _ in 0..<objects {
            for _ in 0..<20 {
                let side = r.uniform(0.15, 0.6) * Double(n)
                let aspect = exp(r.uniform(log(0.6), log(1.6)))
                let w = Int(min(max(side * aspect.squareRoot(), 0.15 * Double(n)), 0.6 * Double(n)).rounded())
                let h = Int(min(max(side / aspect.squareRoot(), 0.15 * Double(n)), 0.6 * Double(n)).rounded())
                let x0 = r.int(ww - w + 1), y0 = r.int(hh - h + 1)
                let candidate = Box(Float(x0), Float(y0), Float(x0 + w - 1), Float(y0 + h - 1))
                if boxes.contains(where: { covered($0, by: candidate) > 0.35 || covered(candidate, by: $0) > 0.6 }) { continue }
                let shape = r.int(classes)
                // A saturated colour: one channel high, one low, so it stands out from the muted background.
                let hi = r.int(3), lo = (hi + 1 + r.int(2)) % 3
                var colour = [0.0, 0.0, 0.0]
                colour[hi] = r.uniform(200, 255); colour[lo] = r.uniform(0, 60); colour[3 - hi - lo] = r.uniform(0, 255)
                if r.int(2) == 0 { colour = colour.map { 255 - $0 } }  // or its complement
                var minX = ww, minY = hh, maxX = -1, maxY = -1
                for y in y0..<(y0 + h) {
                    let v = h == 1 ? 0 : 2 * Double(y - y0) / Double(h - 1) - 1
                    for x in x0..<(x0 + w) {
                        let u = w == 1 ? 0 : 2 * Double(x - x0) / Double(w - 1) - 1
                        guard inside(shape, u, v) else { continue }
                        let noise = r.uniform(-8, 8)
                        for c in 0..<3 { pixels[(y * ww + x) * 3 + c] = clampByte(colour[c] + noise) }
                        minX = min(minX, x); maxX = max(maxX, x); minY = min(minY, y); maxY = max(maxY, y)
                    }
                }
                if maxX >= 0 {
                    boxes.append(Box(Float(minX), Float(minY), Float(maxX), Float(maxY)))
                    labels.append(shape + 1)
                }
                break
            }
        }
        return DetectionImage(id: String(format: "synth_%06d", index), height: hh, width: ww, pixels: pixels, boxes: boxes,
                              labels: labels, difficult: boxes.map { _ in false })
    }

    /// The fraction of `a`'s area that `b` covers.
    static func covered(_ a: Box, by b: Box) -> Float {
        let iw = min(a.x2, b.x2) - max(a.x1, b.x1) + 1, ih = min(a.y2, b.y2) - max(a.y1, b.y1) + 1
        return iw > 0 && ih > 0 ? iw * ih / a.area : 0
    }

    @inline(__always) static func clampByte(_ v: Double) -> UInt8 { UInt8(max(0, min(255, v.rounded()))) }
}
