// PASCAL VOC detection evaluation of rcnn/dataset/pascal_voc_eval.py: precision/recall over
// score-sorted detections of one class, and average precision (VOC07 11-point or area).

/// A ground-truth object of the evaluated class, coordinates as written in the annotation XML
/// (voc_eval parses them raw; no −1 shift).
public struct VOCGroundTruth: Sendable {
    public var imageID: String
    public var box: [Double]
    public var difficult: Bool
    public init(imageID: String, box: [Double], difficult: Bool) {
        self.imageID = imageID; self.box = box; self.difficult = difficult
    }
}

/// One detection line of the class's result file: image, confidence, [x1, y1, x2, y2].
public struct VOCDetection: Sendable {
    public var imageID: String
    public var score: Double
    public var box: [Double]
    public init(imageID: String, score: Double, box: [Double]) {
        self.imageID = imageID; self.score = score; self.box = box
    }
}

/// Average precision from a recall/precision curve.
/// - use07: the VOC2007 11-point metric (max precision at recall ≥ t for t = 0, 0.1, …, 1);
///   otherwise the area under the monotone (right-to-left running max) precision envelope.
public func vocAP(rec: [Double], prec: [Double], use07: Bool) -> Double {
    precondition(rec.count == prec.count, "vocAP: \(rec.count) recalls, \(prec.count) precisions")
    if use07 {
        var ap = 0.0
        for i in 0...10 {
            // t as np.arange(0., 1.1, 0.1) makes it (i·0.1, so 0.30000000000000004 etc.).
            let t = Double(i) * 0.1
            let p = zip(rec, prec).filter { $0.0 >= t }.map(\.1).max() ?? 0
            ap += p / 11
        }
        return ap
    }
    let mrec = [0] + rec + [1]
    var mpre = [0] + prec + [0]
    for i in stride(from: mpre.count - 1, to: 0, by: -1) { mpre[i - 1] = max(mpre[i - 1], mpre[i]) }
    var terms: [Double] = []
    for i in 0..<(mrec.count - 1) where mrec[i + 1] != mrec[i] { terms.append((mrec[i + 1] - mrec[i]) * mpre[i + 1]) }
    return numpySum(terms)
}

/// `np.sum` of a float64 vector: numpy's pairwise summation (8 accumulators per block of ≤128,
/// halves above that), so totals agree to the last bit.
func numpySum(_ a: [Double]) -> Double {
    func pairwise(_ lo: Int, _ n: Int) -> Double {
        if n < 8 {
            var s = 0.0
            for i in lo..<(lo + n) { s += a[i] }
            return s
        }
        if n <= 128 {
            var r = Array(a[lo..<(lo + 8)])
            var i = 8
            while i < n - n % 8 {
                for j in 0..<8 { r[j] += a[lo + i + j] }
                i += 8
            }
            var s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
            while i < n { s += a[lo + i]; i += 1 }
            return s
        }
        var half = n / 2
        half -= half % 8
        return pairwise(lo, half) + pairwise(lo + half, n - half)
    }
    return pairwise(0, a.count)
}

/// Recall, precision (one entry per detection, by descending score) and AP of one class.
///
/// - groundTruth: that class's objects; `imageIDs` lists the image set (images without objects
///   matter only through their detections, which are all false positives).
/// - A detection matches the gt of its image with the highest IoU (+1 areas) when that IoU is
///   strictly above `overlapThreshold`. A difficult match counts as neither tp nor fp; a second
///   match of an already detected gt is a fp (duplicate). Recall is over non-difficult objects.
/// - Ties in score keep the input order (numpy's argsort is an insertion sort, hence stable, for
///   up to 16 detections; the reference gives no defined order beyond that).
public func vocEval(detections: [VOCDetection], groundTruth: [VOCGroundTruth], overlapThreshold: Double = 0.5,
                    use07: Bool) -> (rec: [Double], prec: [Double], ap: Double) {
    var byImage: [String: [Int]] = [:]
    for (i, g) in groundTruth.enumerated() { byImage[g.imageID, default: []].append(i) }
    let positives = groundTruth.lazy.filter { !$0.difficult }.count
    var detected = [Bool](repeating: false, count: groundTruth.count)

    let order = detections.indices.sorted { a, b in
        detections[a].score != detections[b].score ? detections[a].score > detections[b].score : a < b
    }
    var tp = [Double](repeating: 0, count: order.count), fp = tp
    for (d, di) in order.enumerated() {
        let bb = detections[di].box
        var ovmax = -Double.infinity, jmax = -1
        for j in byImage[detections[di].imageID] ?? [] {
            let g = groundTruth[j].box
            let iw = max(min(g[2], bb[2]) - max(g[0], bb[0]) + 1, 0)
            let ih = max(min(g[3], bb[3]) - max(g[1], bb[1]) + 1, 0)
            let inter = iw * ih
            let union = (bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1) + (g[2] - g[0] + 1) * (g[3] - g[1] + 1) - inter
            let ov = inter / union
            if ov > ovmax { ovmax = ov; jmax = j }   // first maximum, like np.argmax
        }
        if ovmax > overlapThreshold {
            if !groundTruth[jmax].difficult {
                if !detected[jmax] { tp[d] = 1; detected[jmax] = true } else { fp[d] = 1 }
            }
        } else {
            fp[d] = 1
        }
    }
    // Cumulative sums; precision guards 0/0 with the float64 epsilon as the reference does.
    var rec: [Double] = [], prec: [Double] = []
    var ctp = 0.0, cfp = 0.0
    for d in order.indices {
        ctp += tp[d]; cfp += fp[d]
        rec.append(ctp / Double(positives))
        prec.append(ctp / max(ctp + cfp, Double.ulpOfOne))
    }
    return (rec, prec, vocAP(rec: rec, prec: prec, use07: use07))
}
