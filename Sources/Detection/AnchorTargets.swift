// RPN training targets for one image, as rcnn/io/rpn.py assign_anchor: labels (−1 ignore,
// 0 background, 1 foreground), regression targets and weights, in the network's output layouts.

/// The TRAIN.RPN_* settings assign_anchor reads (rcnn/config.py defaults).
public struct AnchorTargetConfig: Sendable {
    public var batchSize = 256
    public var fgFraction = 0.5
    public var positiveOverlap = 0.7
    public var negativeOverlap = 0.3
    /// false (the default): background is assigned first, so the positive rules overwrite it.
    public var clobberPositives = false
    public var bboxWeights: [Float] = [1, 1, 1, 1]
    public init() {}
}

/// Targets in the layouts the RPN losses consume.
public struct AnchorTargets: Sendable {
    public var numAnchors: Int, featureHeight: Int, featureWidth: Int
    /// A·H·W labels in (a, h, w) order: the (1, A·H·W) `label` input.
    public var label: [Float]
    /// (4A, H, W) with channel 4a + k: the `bbox_target` input, not normalised.
    public var bboxTarget: [Float]
    /// (4A, H, W): `bboxWeights` on foreground anchors, 0 elsewhere.
    public var bboxWeight: [Float]

    public var foregroundCount: Int { label.lazy.filter { $0 == 1 }.count }
    public var backgroundCount: Int { label.lazy.filter { $0 == 0 }.count }
}

/// Anchor targets for a feature map of `featureHeight`×`featureWidth` cells.
///
/// - gtBoxes: rows [x1, y1, x2, y2, class] in scaled-image pixels (float32 as in the reference).
/// - imInfo: the scaled image's height, width and scale; anchors must lie fully inside it
///   (x1 ≥ −border, y1 ≥ −border, x2 < W + border, y2 < H + border) or they are ignored.
/// - sampler: decides which excess fg/bg anchors are disabled (see `Subsampler`).
public func assignAnchor<S: Subsampler>(featureHeight: Int, featureWidth: Int, gtBoxes: [[Float]],
                                        imInfo: (height: Double, width: Double, scale: Double),
                                        featStride: Int = 16, scales: [Double] = [8, 16, 32], ratios: [Double] = [0.5, 1, 2],
                                        allowedBorder: Double = 0, config: AnchorTargetConfig = AnchorTargetConfig(),
                                        sampler: inout S) -> AnchorTargets {
    let base = generateAnchors(baseSize: featStride, ratios: ratios, scales: scales)
    let a = base.count, fh = featureHeight, fw = featureWidth
    let all = shiftedAnchors(featureHeight: fh, featureWidth: fw, stride: featStride, base: base)
    let inside = all.indices.filter { i in
        let b = all[i]
        return b[0] >= -allowedBorder && b[1] >= -allowedBorder
            && b[2] < imInfo.width + allowedBorder && b[3] < imInfo.height + allowedBorder
    }
    let anchors = inside.map { all[$0] }

    // Labels of the inside anchors, in `inside` order.
    var labels = [Float](repeating: -1, count: inside.count)
    var argmax = [Int](repeating: 0, count: inside.count)
    if !gtBoxes.isEmpty {
        let overlaps = bboxOverlaps(anchors, gtBoxes.map { $0[0..<4].map(Double.init) })
        var best = [Double](repeating: 0, count: inside.count)
        for (i, row) in overlaps.enumerated() {
            // First maximum, like numpy's argmax.
            var k = 0
            for j in row.indices where row[j] > row[k] { k = j }
            argmax[i] = k; best[i] = row[k]
        }
        // Each gt's best IoU over the inside anchors. Every anchor equal to it (ties included)
        // becomes fg — even when that best IoU is 0, so a gt no anchor touches makes every anchor
        // with IoU 0 to it fg. That is the reference's `overlaps == gt_max_overlaps` behaviour, kept.
        var gtBest = [Double](repeating: -.infinity, count: gtBoxes.count)
        for row in overlaps { for j in row.indices { gtBest[j] = max(gtBest[j], row[j]) } }

        if !config.clobberPositives {
            for i in labels.indices where best[i] < config.negativeOverlap { labels[i] = 0 }
        }
        for (i, row) in overlaps.enumerated() where row.indices.contains(where: { row[$0] == gtBest[$0] }) { labels[i] = 1 }
        for i in labels.indices where best[i] >= config.positiveOverlap { labels[i] = 1 }
        if config.clobberPositives {
            for i in labels.indices where best[i] < config.negativeOverlap { labels[i] = 0 }
        }
    } else {
        labels = [Float](repeating: 0, count: inside.count)
    }

    // Subsampling: too many fg are cut to fgFraction·batch, then bg to what remains of the batch.
    if sampler.appliesCaps {
        let fgCap = Int(config.fgFraction * Double(config.batchSize))
        let fg = labels.indices.filter { labels[$0] == 1 }
        if fg.count > fgCap {
            for i in sampler.choose(fg.count - fgCap, from: fg) { labels[i] = -1 }
        }
        let bgCap = max(0, config.batchSize - labels.lazy.filter { $0 == 1 }.count)
        let bg = labels.indices.filter { labels[$0] == 0 }
        if bg.count > bgCap {
            for i in sampler.choose(bg.count - bgCap, from: bg) { labels[i] = -1 }
        }
    }

    // Map back to all anchors and into the (a, h, w) / (4a + k, h, w) layouts.
    let plane = fh * fw
    var out = AnchorTargets(numAnchors: a, featureHeight: fh, featureWidth: fw,
                            label: [Float](repeating: -1, count: a * plane),
                            bboxTarget: [Float](repeating: 0, count: 4 * a * plane),
                            bboxWeight: [Float](repeating: 0, count: 4 * a * plane))
    for (i, n) in inside.enumerated() {
        let k = n % a, cell = n / a
        out.label[k * plane + cell] = labels[i]
        // Targets exist for every inside anchor (towards its best gt), whatever its label.
        if !gtBoxes.isEmpty {
            let t = regressionTarget(ex: boxGeometry(anchors[i][0..<4]), gt: boxGeometry(gtBoxes[argmax[i]][0..<4]))
            let at = (4 * k) * plane + cell
            out.bboxTarget[at] = Float(t.0)
            out.bboxTarget[at + plane] = Float(t.1)
            out.bboxTarget[at + 2 * plane] = Float(t.2)
            out.bboxTarget[at + 3 * plane] = Float(t.3)
        }
        if labels[i] == 1 {
            for c in 0..<4 { out.bboxWeight[(4 * k + c) * plane + cell] = config.bboxWeights[c] }
        }
    }
    return out
}
