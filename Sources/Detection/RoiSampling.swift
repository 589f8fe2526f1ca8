// The R-CNN minibatch of one image, as rcnn/io/rcnn.py sample_rois in alternate training: fg rois,
// then bg rois, then padding, with labels and per-class regression targets and weights.

/// One image's sampled rois. Row r comes from input row `keep[r]`.
public struct RoiSample: Sendable {
    /// Input rows picked: the fg block, then bg, then padding.
    public var keep: [Int]
    /// Length of the fg block; labels after it are 0.
    public var foregroundCount: Int
    public var rois: [[Float]]
    public var labels: [Int]
    /// (rows, 4·numClasses): the row's target in columns 4c..4c+3 of its class c, 0 elsewhere.
    public var bboxTargets: [[Float]]
    public var bboxWeights: [[Float]]
}

/// Samples up to `fgRoisPerImage` rois with overlap ≥ fgThresh and fills up to `roisPerImage` with
/// rois in [bgThreshLo, bgThreshHi); when that is still short, pads with repeated random picks among
/// the rois below fgThresh.
///
/// - labels, overlaps: each roi's max_classes and max_overlaps.
/// - bboxTargets: rows [class, dx, dy, dw, dh] from `addBBoxRegressionTargets` (class 0: no target).
///   The expansion uses this class column, not the labels, exactly as the reference does.
/// - Thresholds are Float because the reference compares float32 overlaps with Python floats,
///   which numpy casts to float32.
/// - sampler: makes the reference's `npr.choice` picks. When no pick is needed (few enough
///   candidates) the result is deterministic: fg rows then bg rows, each in ascending order.
public func sampleRois<S: Subsampler>(rois: [[Float]], fgRoisPerImage: Int, roisPerImage: Int, numClasses: Int,
                                      labels: [Int], overlaps: [Float], bboxTargets: [[Float]],
                                      fgThresh: Float = 0.5, bgThreshHi: Float = 0.5, bgThreshLo: Float = 0.0,
                                      bboxWeights: [Float] = [1, 1, 1, 1], sampler: inout S) -> RoiSample {
    precondition(rois.count == labels.count && rois.count == overlaps.count && rois.count == bboxTargets.count,
                 "sampleRois: rois, labels, overlaps and bboxTargets must have one row per roi")
    var fg = overlaps.indices.filter { overlaps[$0] >= fgThresh }
    let fgCount = sampler.appliesCaps ? min(fgRoisPerImage, fg.count) : fg.count
    if fg.count > fgCount { fg = sampler.choose(fgCount, from: fg) }

    var bg = overlaps.indices.filter { overlaps[$0] < bgThreshHi && overlaps[$0] >= bgThreshLo }
    let bgCount = sampler.appliesCaps ? min(roisPerImage - fgCount, bg.count) : bg.count
    if bg.count > bgCount { bg = sampler.choose(max(0, bgCount), from: bg) }

    var keep = fg + bg
    // Padding to a fixed batch. The reference loops forever when there is no roi below fgThresh;
    // here the batch then stays short.
    let negatives = overlaps.indices.filter { overlaps[$0] < fgThresh }
    while keep.count < roisPerImage && !negatives.isEmpty {
        keep += sampler.choose(min(negatives.count, roisPerImage - keep.count), from: negatives)
    }
    return gatherRoiSample(keep: keep, foregroundCount: fgCount, rois: rois, labels: labels, bboxTargets: bboxTargets,
                           numClasses: numClasses, bboxWeights: bboxWeights)
}

/// The deterministic half of sample_rois: the outputs for given picked rows `keep`, whose first
/// `foregroundCount` rows keep their label and the rest get label 0.
public func gatherRoiSample(keep: [Int], foregroundCount: Int, rois: [[Float]], labels: [Int], bboxTargets: [[Float]],
                            numClasses: Int, bboxWeights: [Float] = [1, 1, 1, 1]) -> RoiSample {
    let outLabels = keep.enumerated().map { r, i in r < foregroundCount ? labels[i] : 0 }
    let (targets, weights) = expandBBoxRegressionTargets(keep.map { bboxTargets[$0] }, numClasses: numClasses,
                                                         weights: bboxWeights)
    return RoiSample(keep: keep, foregroundCount: foregroundCount, rois: keep.map { rois[$0] }, labels: outLabels,
                     bboxTargets: targets, bboxWeights: weights)
}

/// Rows [class, dx, dy, dw, dh] → (rows, 4·numClasses) targets and weights, filled only in the
/// columns of the row's class and only for class > 0.
public func expandBBoxRegressionTargets(_ data: [[Float]], numClasses: Int,
                                        weights: [Float] = [1, 1, 1, 1]) -> (targets: [[Float]], weights: [[Float]]) {
    var targets = [[Float]](repeating: [Float](repeating: 0, count: 4 * numClasses), count: data.count)
    var outWeights = targets
    for (r, row) in data.enumerated() where row[0] > 0 {
        let start = 4 * Int(row[0])
        for k in 0..<4 {
            targets[r][start + k] = row[1 + k]
            outWeights[r][start + k] = weights[k]
        }
    }
    return (targets, outWeights)
}
