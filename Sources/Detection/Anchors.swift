// Reference anchors (generate_anchor.py) and their copies shifted over a feature map, in the
// order the anchor-target and proposal code index them: (h·W + w)·A + a.

/// The base anchors centred on the first `baseSize`×`baseSize` cell: for each ratio (outer loop)
/// and each scale (inner loop) one row [x1, y1, x2, y2].
///
/// Widths are `round(sqrt(size / r))` and heights `round(w · r)` with round-half-to-even, because the
/// reference calls `np.round` (the C++ op's `floor(x + 0.5)` gives the same values for the usual
/// ratios, but not in general).
public func generateAnchors(baseSize: Int = 16, ratios: [Double] = [0.5, 1, 2], scales: [Double] = [8, 16, 32]) -> [[Double]] {
    let side = Double(baseSize)
    // The base box is [0, 0, side−1, side−1]; with the +1 convention w = h = side, centre (side−1)/2.
    let centre = 0.5 * (side - 1)
    let size = side * side
    var anchors: [[Double]] = []
    anchors.reserveCapacity(ratios.count * scales.count)
    for r in ratios {
        let ws = (size / r).squareRoot().rounded(.toNearestOrEven)
        let hs = (ws * r).rounded(.toNearestOrEven)
        for s in scales {
            let w = ws * s, h = hs * s
            anchors.append([centre - 0.5 * (w - 1), centre - 0.5 * (h - 1), centre + 0.5 * (w - 1), centre + 0.5 * (h - 1)])
        }
    }
    return anchors
}

/// `base` translated by (w·stride, h·stride) for every feature-map cell; row (h·W + w)·A + a.
public func shiftedAnchors(featureHeight: Int, featureWidth: Int, stride: Int = 16, base: [[Double]]) -> [[Double]] {
    var out: [[Double]] = []
    out.reserveCapacity(featureHeight * featureWidth * base.count)
    for h in 0..<featureHeight {
        let dy = Double(h * stride)
        for w in 0..<featureWidth {
            let dx = Double(w * stride)
            for b in base { out.append([b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy]) }
        }
    }
    return out
}
