// Box geometry of rcnn/processing/bbox_transform.py: IoU (+1 areas), the regression targets
// (nonlinear_transform), decoding (nonlinear_pred) and clipping to the image, all in Double.

import Foundation

/// Width, height and centre of [x1, y1, x2, y2] with the +1 pixel convention.
@inline(__always)
func boxGeometry(_ b: ArraySlice<Double>) -> (w: Double, h: Double, cx: Double, cy: Double) {
    let i = b.startIndex
    let w = b[i + 2] - b[i] + 1, h = b[i + 3] - b[i + 1] + 1
    return (w, h, b[i] + 0.5 * (w - 1), b[i + 1] + 0.5 * (h - 1))
}

/// The same for a float32 box, computed in Float: numpy keeps `gt[:, 2] − gt[:, 0] + 1.0` in float32
/// when the gt array is float32 (the anchor targets' gt_boxes), and only mixes in float64 afterwards.
@inline(__always)
func boxGeometry(_ b: ArraySlice<Float>) -> (w: Double, h: Double, cx: Double, cy: Double) {
    let i = b.startIndex
    let w = b[i + 2] - b[i] + 1, h = b[i + 3] - b[i + 1] + 1
    let cx = b[i] + Float(0.5) * (w - 1), cy = b[i + 1] + Float(0.5) * (h - 1)
    return (Double(w), Double(h), Double(cx), Double(cy))
}

/// Targets (dx, dy, dw, dh) of a box with geometry `ex` towards one with geometry `gt`.
@inline(__always)
func regressionTarget(ex: (w: Double, h: Double, cx: Double, cy: Double),
                      gt: (w: Double, h: Double, cx: Double, cy: Double)) -> (Double, Double, Double, Double) {
    // The 1e-14 is the reference's guard against zero-width boxes; it is kept so that results agree.
    ((gt.cx - ex.cx) / (ex.w + 1e-14), (gt.cy - ex.cy) / (ex.h + 1e-14), log(gt.w / ex.w), log(gt.h / ex.h))
}

/// IoU of every box (rows [x1, y1, x2, y2]) with every query box: N×K, 0 where they do not meet.
/// Same operation order as the Cython bbox_overlaps, so results are bit-identical.
public func bboxOverlaps(_ boxes: [[Double]], _ queryBoxes: [[Double]]) -> [[Double]] {
    var out = [[Double]](repeating: [Double](repeating: 0, count: queryBoxes.count), count: boxes.count)
    for (k, q) in queryBoxes.enumerated() {
        let qArea = (q[2] - q[0] + 1) * (q[3] - q[1] + 1)
        for (n, b) in boxes.enumerated() {
            let iw = min(b[2], q[2]) - max(b[0], q[0]) + 1
            guard iw > 0 else { continue }
            let ih = min(b[3], q[3]) - max(b[1], q[1]) + 1
            guard ih > 0 else { continue }
            let ua = (b[2] - b[0] + 1) * (b[3] - b[1] + 1) + qArea - iw * ih
            out[n][k] = iw * ih / ua
        }
    }
    return out
}

/// Regression targets [dx, dy, dw, dh] from each ex box to the gt box of the same row.
public func bboxTransform(_ exBoxes: [[Double]], _ gtBoxes: [[Double]]) -> [[Double]] {
    precondition(exBoxes.count == gtBoxes.count, "bboxTransform: \(exBoxes.count) ex boxes, \(gtBoxes.count) gt boxes")
    return zip(exBoxes, gtBoxes).map { ex, gt in
        let t = regressionTarget(ex: boxGeometry(ex[0..<4]), gt: boxGeometry(gt[0..<4]))
        return [t.0, t.1, t.2, t.3]
    }
}

/// Decodes deltas with 4k columns (class j in columns 4j..4j+3) against their row's box. dw and dh
/// are not clamped, as in the reference.
public func bboxPred(_ boxes: [[Double]], _ deltas: [[Double]]) -> [[Double]] {
    precondition(boxes.count == deltas.count, "bboxPred: \(boxes.count) boxes, \(deltas.count) delta rows")
    return zip(boxes, deltas).map { box, d in
        let g = boxGeometry(box[0..<4])
        var out = [Double](repeating: 0, count: d.count)
        for j in stride(from: 0, to: d.count - 3, by: 4) {
            let cx = d[j] * g.w + g.cx, cy = d[j + 1] * g.h + g.cy
            let w = exp(d[j + 2]) * g.w, h = exp(d[j + 3]) * g.h
            out[j] = cx - 0.5 * (w - 1)
            out[j + 1] = cy - 0.5 * (h - 1)
            out[j + 2] = cx + 0.5 * (w - 1)
            out[j + 3] = cy + 0.5 * (h - 1)
        }
        return out
    }
}

/// Clamps every x to [0, W−1] and y to [0, H−1]; rows may hold several boxes (4k columns).
public func clipBoxes(_ boxes: [[Double]], imHeight: Double, imWidth: Double) -> [[Double]] {
    boxes.map { row in
        row.enumerated().map { j, v in max(min(v, j % 2 == 0 ? imWidth - 1 : imHeight - 1), 0) }
    }
}
