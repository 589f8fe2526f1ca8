// Greedy non-maximum suppression over scored float32 boxes, as rcnn/processing/nms.py's
// py_nms_wrapper (and, with the other tie rule, the Cython cpu_nms).

/// Which IoU removes a lower-scored box. The two reference implementations differ only at equality.
public enum NMSRule: Sendable {
    /// py_nms: a box survives while IoU ≤ threshold (the threshold is compared as float32, because
    /// numpy casts the Python float to the array's dtype).
    case suppressAbove
    /// cpu_nms: a box goes when IoU ≥ threshold (float32 IoU compared with the double threshold, as
    /// the Cython code does).
    case suppressAtOrAbove
}

/// Indices of the kept rows of `dets` ([x1, y1, x2, y2, score] each), best score first.
///
/// Boxes are visited by descending score. The reference uses `argsort()[::-1]`, which is not a stable
/// sort; for equal scores this takes the higher index first (what a stable ascending sort, reversed,
/// gives). Areas use the +1 convention and everything is computed in Float like the float32 arrays
/// of the reference.
public func nonMaximumSuppression(_ dets: [[Float]], threshold: Double, rule: NMSRule = .suppressAbove) -> [Int] {
    let n = dets.count
    let order = (0..<n).sorted { a, b in
        dets[a][4] != dets[b][4] ? dets[a][4] > dets[b][4] : a > b
    }
    let areas = dets.map { ($0[2] - $0[0] + 1) * ($0[3] - $0[1] + 1) }
    let thresholdF = Float(threshold)
    var suppressed = [Bool](repeating: false, count: n)
    var keep: [Int] = []
    for (pos, i) in order.enumerated() where !suppressed[i] {
        keep.append(i)
        let b = dets[i]
        for j in order[(pos + 1)...] where !suppressed[j] {
            let d = dets[j]
            let w = max(0, min(b[2], d[2]) - max(b[0], d[0]) + 1)
            let h = max(0, min(b[3], d[3]) - max(b[1], d[1]) + 1)
            let inter = w * h
            let ovr = inter / (areas[i] + areas[j] - inter)
            switch rule {
            case .suppressAbove: if !(ovr <= thresholdF) { suppressed[j] = true }
            case .suppressAtOrAbove: if Double(ovr) >= threshold { suppressed[j] = true }
            }
        }
    }
    return keep
}
