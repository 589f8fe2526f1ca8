// The reference's im_detect after the network has run: each roi's R-CNN deltas decoded against the
// roi (bboxPred), clipped to the preprocessed image (clipBoxes), divided by the image scale back to
// original pixels, then per class (the background, class 0, skipped) a score threshold and NMS.
// Arithmetic on the network's outputs only, so `eval` and `detect` share it and it is tested
// without an engine.

/// One kept detection.
public struct Detected: Sendable, Equatable {
    /// Class index, 1… (0 is the background).
    public var classIndex: Int
    public var score: Float
    /// In original-image pixels.
    public var box: Box

    public init(classIndex: Int, score: Float, box: Box) {
        self.classIndex = classIndex; self.score = score; self.box = box
    }
}

/// What im_detect needs besides the network's outputs.
public struct DetectionSettings: Sendable {
    /// A detection is kept when its class probability is above this (strictly).
    public var scoreThreshold: Float
    /// Per-class NMS IoU threshold.
    public var nms: Double

    public init(scoreThreshold: Float, nms: Double) {
        self.scoreThreshold = scoreThreshold; self.nms = nms
    }
}

/// Detections from `rois` (boxes in the preprocessed image, which is `imageHeight` × `imageWidth`
/// and `scale` times the original), `prob` (rois × classes, row-major) and `delta` (rois ×
/// 4·classes; class j in columns 4j…4j+3), in class order and within a class best score first.
public func detections(rois: [Box], prob: [Float], delta: [Float], classes: Int,
                       imageHeight: Int, imageWidth: Int, scale: Float, settings: DetectionSettings) -> [Detected] {
    let n = rois.count
    precondition(prob.count == n * classes && delta.count == n * 4 * classes,
                 "detections: \(n) rois, \(prob.count) scores and \(delta.count) deltas for \(classes) classes")
    guard n > 0 else { return [] }
    let boxes = rois.map { [Double($0.x1), Double($0.y1), Double($0.x2), Double($0.y2)] }
    let deltas = (0..<n).map { k in delta[(k * 4 * classes)..<((k + 1) * 4 * classes)].map(Double.init) }
    let predicted = clipBoxes(bboxPred(boxes, deltas), imHeight: Double(imageHeight), imWidth: Double(imageWidth))
    var found: [Detected] = []
    for c in 1..<classes {
        var dets: [[Float]] = []
        for k in 0..<n where prob[k * classes + c] > settings.scoreThreshold {
            dets.append((0..<4).map { Float(predicted[k][4 * c + $0] / Double(scale)) } + [prob[k * classes + c]])
        }
        for j in nonMaximumSuppression(dets, threshold: settings.nms) {
            let d = dets[j]
            found.append(Detected(classIndex: c, score: d[4], box: Box(d[0], d[1], d[2], d[3])))
        }
    }
    return found
}
