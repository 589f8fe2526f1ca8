// The Proposal op with MXNet 1.9.1's CPU semantics (fixtures/golden/README.md §4): anchors shifted
// over the feature map, deltas decoded and clipped, padded cells and too-small boxes kept with score
// −1 (small boxes grown by m/2, not re-clipped), a stable sort, pre-NMS top-N, greedy NMS and
// exactly post-NMS-top-N output rows, cycling through the kept boxes when NMS keeps fewer.

import Engine
import Foundation
import ParamKit

public struct ProposalConfig: Sendable {
    public var featureStride = 16
    public var scales: [Double] = [8, 16, 32]
    public var ratios: [Double] = [0.5, 1, 2]
    public var preNMSTopN = 6000
    public var postNMSTopN = 300
    public var threshold: Float = 0.7
    public var minSize: Float = 16

    public init() {}
    public var anchorsPerPosition: Int { scales.count * ratios.count }
}

public struct Proposals: Sendable {
    /// post rows of [x1, y1, x2, y2] in the scaled image's pixels.
    public var boxes: [Float]
    public var scores: [Float]
    /// How many distinct boxes NMS kept (the rest of the rows repeat them).
    public var kept: Int
}

public enum Proposal {
    /// The op's anchors: for each ratio (outer) and scale (inner), w = ⌊√⌊256/r⌋ + ½⌋·s,
    /// h = ⌊w/s·r + ½⌋·s, centred on (7.5, 7.5).
    public static func anchors(_ c: ProposalConfig) -> [Float] {
        var out: [Float] = []
        let base = Double(c.featureStride)
        for r in c.ratios {
            for s in c.scales {
                let size = base * base
                let ws = (Double(Int(size / r)).squareRoot() + 0.5).rounded(.down)
                let hs = (ws * r + 0.5).rounded(.down)
                let w = ws * s, h = hs * s
                let cx = (base - 1) / 2, cy = (base - 1) / 2
                out += [Float(cx - 0.5 * (w - 1)), Float(cy - 0.5 * (h - 1)), Float(cx + 0.5 * (w - 1)), Float(cy + 0.5 * (h - 1))]
            }
        }
        return out
    }

    /// One image: clsProb (2A, H, W) with background in channels 0..<A and foreground in A..<2A,
    /// bboxPred (4A, H, W), imInfo (height, width, scale).
    public static func run(clsProb: UnsafeBufferPointer<Float>, bboxPred: UnsafeBufferPointer<Float>, height fh: Int, width fw: Int,
                           imInfo: (Float, Float, Float), config c: ProposalConfig) -> Proposals {
        let a = c.anchorsPerPosition
        let count = a * fh * fw
        let base = anchors(c)
        let (imH, imW, scale) = imInfo
        let stride = Float(c.featureStride)
        let validH = Int(imH / stride), validW = Int(imW / stride)
        let minSize = c.minSize * scale
        var x1 = [Float](repeating: 0, count: count), y1 = x1, x2 = x1, y2 = x1, score = x1
        let plane = fh * fw
        x1.withUnsafeMutableBufferPointer { px1 in y1.withUnsafeMutableBufferPointer { py1 in
        x2.withUnsafeMutableBufferPointer { px2 in y2.withUnsafeMutableBufferPointer { py2 in
        score.withUnsafeMutableBufferPointer { ps in base.withUnsafeBufferPointer { pb in
            let out = SendableBox((px1.baseAddress!, py1.baseAddress!, px2.baseAddress!, py2.baseAddress!, ps.baseAddress!,
                                   pb.baseAddress!, clsProb.baseAddress!, bboxPred.baseAddress!))
            parallelFor(fh, minimumPerThread: 8) { rows in
                let (x1, y1, x2, y2, score, base, prob, pred) = out.value
                for h in rows {
                    for w in 0..<fw {
                        let cell = h * fw + w
                        let padded = h >= validH || w >= validW
                        for k in 0..<a {
                            let i = cell * a + k
                            let ax1 = base[4 * k] + Float(w) * stride, ay1 = base[4 * k + 1] + Float(h) * stride
                            let ax2 = base[4 * k + 2] + Float(w) * stride, ay2 = base[4 * k + 3] + Float(h) * stride
                            let bw = ax2 - ax1 + 1, bh = ay2 - ay1 + 1
                            // MXNet mixes float and double here (0.5 is a double literal); so do we.
                            let cx = ax1 + Float(0.5 * Double(bw - 1)), cy = ay1 + Float(0.5 * Double(bh - 1))
                            let dx = pred[(4 * k) * plane + cell], dy = pred[(4 * k + 1) * plane + cell]
                            let dw = pred[(4 * k + 2) * plane + cell], dh = pred[(4 * k + 3) * plane + cell]
                            let pcx = dx * bw + cx, pcy = dy * bh + cy
                            let pw = expf(dw) * bw, ph = expf(dh) * bh
                            var bx1 = Float(Double(pcx) - 0.5 * Double(pw - 1)), by1 = Float(Double(pcy) - 0.5 * Double(ph - 1))
                            var bx2 = Float(Double(pcx) + 0.5 * Double(pw - 1)), by2 = Float(Double(pcy) + 0.5 * Double(ph - 1))
                            bx1 = max(min(bx1, imW - 1), 0); by1 = max(min(by1, imH - 1), 0)
                            bx2 = max(min(bx2, imW - 1), 0); by2 = max(min(by2, imH - 1), 0)
                            var s = padded ? -1 : prob[(a + k) * plane + cell]
                            if bx2 - bx1 + 1 < minSize || by2 - by1 + 1 < minSize {
                                bx1 -= minSize / 2; by1 -= minSize / 2; bx2 += minSize / 2; by2 += minSize / 2
                                s = -1
                            }
                            x1[i] = bx1; y1[i] = by1; x2[i] = bx2; y2[i] = by2; score[i] = s
                        }
                    }
                }
            }
        } } } } } }
        // Stable descending sort: ties keep anchor order (the −1 rows in practice). Sorting packed
        // (score, index) keys is several times faster than a comparator over indices.
        var keys = [UInt64](repeating: 0, count: count)
        for i in 0..<count {
            let bits = score[i].bitPattern
            let ascending = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000   // order-preserving map to UInt32
            keys[i] = UInt64(~ascending) << 32 | UInt64(i)
        }
        keys.sort()
        let pre = c.preNMSTopN > 0 ? min(c.preNMSTopN, count) : count
        let order = keys.prefix(pre).map { Int($0 & 0xFFFF_FFFF) }
        let post = c.postNMSTopN
        let keep = nms(order: order, x1: x1, y1: y1, x2: x2, y2: y2, threshold: c.threshold, limit: min(post, pre))
        var boxes = [Float](repeating: 0, count: 4 * post), scores = [Float](repeating: 0, count: post)
        if !keep.isEmpty {
            for r in 0..<post {
                let i = keep[r % keep.count]
                boxes[4 * r] = x1[i]; boxes[4 * r + 1] = y1[i]; boxes[4 * r + 2] = x2[i]; boxes[4 * r + 3] = y2[i]
                scores[r] = score[i]
            }
        }
        return Proposals(boxes: boxes, scores: scores, kept: keep.count)
    }

    /// Greedy NMS over candidates in `order`: a later box goes when its IoU (+1 areas, float32) with a
    /// kept one is > threshold. Survivors are compacted after each kept box, so the work is the sum of
    /// the surviving candidates rather than candidates × kept.
    static func nms(order: [Int], x1: [Float], y1: [Float], x2: [Float], y2: [Float], threshold: Float, limit: Int) -> [Int] {
        let n0 = order.count
        var buf = [Float](repeating: 0, count: 5 * n0)
        var ids = order
        var keep: [Int] = []
        keep.reserveCapacity(limit)
        buf.withUnsafeMutableBufferPointer { b in
            let (cx1, cy1, cx2, cy2, area) = (b.baseAddress!, b.baseAddress! + n0, b.baseAddress! + 2 * n0, b.baseAddress! + 3 * n0, b.baseAddress! + 4 * n0)
            for (k, i) in order.enumerated() {
                cx1[k] = x1[i]; cy1[k] = y1[i]; cx2[k] = x2[i]; cy2[k] = y2[i]
                area[k] = (x2[i] - x1[i] + 1) * (y2[i] - y1[i] + 1)
            }
            ids.withUnsafeMutableBufferPointer { idp in
                let id = idp.baseAddress!
                var n = n0
                while n > 0 && keep.count < limit {
                    // The first survivor is the best remaining box.
                    keep.append(id[0])
                    let bx1 = cx1[0], by1 = cy1[0], bx2 = cx2[0], by2 = cy2[0], ba = area[0]
                    // Survivors of the kept box among candidates lo..<hi, compacted down to start at `to`.
                    func filter(_ lo: Int, _ hi: Int, to: Int) -> Int {
                        var m = to
                        for j in lo..<max(hi, lo) {
                            let w = max(0, min(bx2, cx2[j]) - max(bx1, cx1[j]) + 1)
                            let h = max(0, min(by2, cy2[j]) - max(by1, cy1[j]) + 1)
                            let inter = w * h
                            // Branch-free compaction: always copy, advance only for a survivor.
                            cx1[m] = cx1[j]; cy1[m] = cy1[j]; cx2[m] = cx2[j]; cy2[m] = cy2[j]; area[m] = area[j]; id[m] = id[j]
                            m &+= inter / (ba + area[j] - inter) > threshold ? 0 : 1
                        }
                        return m - to
                    }
                    var m: Int
                    if n <= 16384 {
                        m = filter(1, n, to: 0)
                    } else {
                        // Large candidate lists: both halves are filtered on their own core, then joined.
                        let half = (n + 1) / 2, total = n
                        var counts = (0, 0)
                        withUnsafeMutablePointer(to: &counts) { cnt in
                            let job = { (part: Int) in
                                if part == 0 { cnt.pointee.0 = filter(1, half, to: 0) } else { cnt.pointee.1 = filter(half, total, to: half) }
                            }
                            // On the engine's worker pool, as every parallel loop (one thread: in turn).
                            if Threads.count >= 2 { parallelParts(2, job) } else { job(0); job(1) }
                        }
                        m = counts.0
                        // Move the second half's survivors down behind the first half's.
                        for arr in [cx1, cy1, cx2, cy2, area] { (arr + m).update(from: arr + half, count: counts.1) }
                        (id + m).update(from: id + half, count: counts.1)
                        m += counts.1
                    }
                    n = m
                }
            }
        }
        return keep
    }
}
