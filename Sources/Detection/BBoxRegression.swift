// Fast R-CNN regression targets for the roidb, as rcnn/processing/bbox_regression.py
// add_bbox_regression_targets: per-roi targets, per-class empirical means/stds, normalisation.

/// One image's roidb fields used by the regression targets.
public struct RegressionRoidbEntry: Sendable {
    /// [x1, y1, x2, y2] per roi, gt rows included (those with max overlap 1).
    public var boxes: [[Float]]
    public var maxOverlaps: [Float]
    public var maxClasses: [Int]
    /// [class, dx, dy, dw, dh] per roi after `addBBoxRegressionTargets`; class 0 = no target.
    public var bboxTargets: [[Float]]

    public init(boxes: [[Float]], maxOverlaps: [Float], maxClasses: [Int]) {
        self.boxes = boxes; self.maxOverlaps = maxOverlaps; self.maxClasses = maxClasses; bboxTargets = []
    }

    /// An image's roidb entry for R-CNN training, as the reference's roidb with proposals appended:
    /// the non-difficult gt rows first with overlap 1 and their class, then the proposals (x1, y1, x2,
    /// y2 flat, in image pixels) with their best IoU against the gt and that gt's class (0 when they
    /// overlap none). `flip` mirrors every box, as the reference's flipped roidb entries.
    public init(image: DetectionImage, proposals: [Float], flip: Bool) {
        let w = Float(image.width)
        func mirrored(_ b: [Float]) -> [Float] { flip ? [w - b[2] - 1, b[1], w - b[0] - 1, b[3]] : b }
        let gt = zip(image.boxes, zip(image.labels, image.difficult)).filter { !$0.1.1 }
        let gtBoxes = gt.map { mirrored([$0.0.x1, $0.0.y1, $0.0.x2, $0.0.y2]) }
        let gtClasses = gt.map { $0.1.0 }
        let props = stride(from: 0, to: proposals.count, by: 4).map { mirrored(Array(proposals[$0..<($0 + 4)])) }
        var overlaps = [Float](repeating: 1, count: gtBoxes.count), classes = gtClasses
        if !gtBoxes.isEmpty && !props.isEmpty {
            let iou = bboxOverlaps(props.map { $0.map(Double.init) }, gtBoxes.map { $0.map(Double.init) })
            for row in iou {
                var best = 0
                for j in row.indices where row[j] > row[best] { best = j }
                overlaps.append(Float(row[best]))
                classes.append(row[best] > 0 ? gtClasses[best] : 0)
            }
        } else {
            overlaps += [Float](repeating: 0, count: props.count)
            classes += [Int](repeating: 0, count: props.count)
        }
        self.init(boxes: gtBoxes + props, maxOverlaps: overlaps, maxClasses: classes)
    }
}

/// Un-normalised targets of one image: rows with max overlap ≥ `threshold` (BBOX_REGRESSION_THRESH)
/// regress towards the gt row (max overlap exactly 1) they overlap most; other rows are all 0.
/// Computed in Double and stored as Float, like the reference's float32 targets array.
public func computeBBoxRegressionTargets(boxes: [[Float]], maxOverlaps: [Float], maxClasses: [Int],
                                         threshold: Float = 0.5) -> [[Float]] {
    var targets = [[Float]](repeating: [0, 0, 0, 0, 0], count: boxes.count)
    let rois = boxes.map { $0[0..<4].map(Double.init) }
    let gt = maxOverlaps.indices.filter { maxOverlaps[$0] == 1 }
    let ex = maxOverlaps.indices.filter { maxOverlaps[$0] >= threshold }
    // Without gt rows the reference fails (argmax of an empty axis); such rows get no target here.
    guard !gt.isEmpty else { return targets }
    let overlaps = bboxOverlaps(ex.map { rois[$0] }, gt.map { rois[$0] })
    for (r, i) in ex.enumerated() {
        var best = 0
        for j in overlaps[r].indices where overlaps[r][j] > overlaps[r][best] { best = j }
        let t = regressionTarget(ex: boxGeometry(rois[i][...]), gt: boxGeometry(rois[gt[best]][...]))
        targets[i] = [Float(maxClasses[i]), Float(t.0), Float(t.1), Float(t.2), Float(t.3)]
    }
    return targets
}

/// Fills every entry's `bboxTargets`, then normalises them per class with the empirical mean and
/// std over all images. Returns the means and stds (numClasses rows of 4; class 0 and classes
/// without targets are 0).
///
/// The arithmetic follows numpy's types so the statistics agree to ~1e-15: per image and class the
/// targets and their squares are summed in float32 (row by row), and those partial sums accumulate
/// in Double; counts start at 1e-14 so absent classes give 0/1e-14 = 0; std = sqrt(E[t²] − E[t]²);
/// normalisation subtracts and divides in Double, rounding to Float after each step.
///
/// One deliberate difference: where a class has targets but their spread is zero (for example only
/// its ground-truth rows, whose targets are all 0, because no proposal overlaps it enough) the
/// reference divides 0 by 0 and trains on NaN; here that std is 1, so the normalised targets are 0
/// and de-normalising the prediction gives back the mean, as it should.
@discardableResult
public func addBBoxRegressionTargets(_ roidb: inout [RegressionRoidbEntry], numClasses: Int,
                                     threshold: Float = 0.5) -> (means: [[Double]], stds: [[Double]]) {
    for i in roidb.indices {
        roidb[i].bboxTargets = computeBBoxRegressionTargets(boxes: roidb[i].boxes, maxOverlaps: roidb[i].maxOverlaps,
                                                            maxClasses: roidb[i].maxClasses, threshold: threshold)
    }
    var counts = [Double](repeating: 1e-14, count: numClasses)
    var sums = [[Double]](repeating: [0, 0, 0, 0], count: numClasses)
    var squares = sums
    for entry in roidb {
        for c in 1..<max(numClasses, 1) {
            var n = 0
            var s: [Float] = [0, 0, 0, 0], q: [Float] = [0, 0, 0, 0]
            for row in entry.bboxTargets where row[0] == Float(c) {
                n += 1
                for k in 0..<4 {
                    s[k] += row[1 + k]
                    q[k] += row[1 + k] * row[1 + k]
                }
            }
            guard n > 0 else { continue }
            counts[c] += Double(n)
            for k in 0..<4 { sums[c][k] += Double(s[k]); squares[c][k] += Double(q[k]) }
        }
    }
    var means = sums, stds = sums
    for c in 0..<numClasses {
        for k in 0..<4 {
            let mean: Double = sums[c][k] / counts[c]
            let variance: Double = squares[c][k] / counts[c] - mean * mean
            means[c][k] = mean
            let std = variance.squareRoot()   // NaN when rounding makes E[t²] − E[t]² slightly negative
            stds[c][k] = counts[c] >= 1 && !(std > 0) ? 1 : std
        }
    }

    for i in roidb.indices {
        for r in roidb[i].bboxTargets.indices {
            let c = Int(roidb[i].bboxTargets[r][0])
            guard c >= 1 && c < numClasses else { continue }
            for k in 0..<4 {
                let centred = Float(Double(roidb[i].bboxTargets[r][1 + k]) - means[c][k])
                roidb[i].bboxTargets[r][1 + k] = Float(Double(centred) / stds[c][k])
            }
        }
    }
    return (means, stds)
}
