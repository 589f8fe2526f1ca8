// ROIPooling with MXNet's CPU semantics: corners rounded half away from zero after scaling, bins
// from floor/ceil of float32 bin sizes clipped to the map, empty bins 0 with argmax −1, first
// maximum wins; backward adds each output gradient at its argmax.

import Foundation
import ParamKit

public struct ROIPooling: Sendable {
    public var pooled: (h: Int, w: Int)
    public var spatialScale: Float

    public init(pooled: (Int, Int), spatialScale: Float) {
        self.pooled = (pooled.0, pooled.1)
        self.spatialScale = spatialScale
    }

    /// data (N, C, H, W), rois (R, 5) = [batch, x1, y1, x2, y2] → output (R, C, PH, PW) and, per output,
    /// the flat index into `data` of its maximum (−1 for an empty bin).
    public func forward(_ data: Blob, rois: Blob) -> (Blob, [Int32]) {
        let (n, c, h, w) = (data.shape[0], data.shape[1], data.shape[2], data.shape[3])
        let r = rois.shape[0]
        let (ph, pw) = pooled
        var y = Blob(zeros: [r, c, ph, pw])
        var arg = [Int32](repeating: -1, count: y.count)
        data.data.withUnsafeBufferPointer { dp in
            y.data.withUnsafeMutableBufferPointer { yp in
                arg.withUnsafeMutableBufferPointer { ap in
                    let shared = SendableBox((dp.baseAddress!, yp.baseAddress!, ap.baseAddress!))
                    parallelFor(r * c) { range in
                        let (dp, yp, ap) = shared.value
                        for rc in range {
                            let roi = rc / c, ch = rc % c
                            let b = Int(rois.data[roi * 5])
                            let x1 = Int((rois.data[roi * 5 + 1] * spatialScale).rounded(.toNearestOrAwayFromZero))
                            let y1 = Int((rois.data[roi * 5 + 2] * spatialScale).rounded(.toNearestOrAwayFromZero))
                            let x2 = Int((rois.data[roi * 5 + 3] * spatialScale).rounded(.toNearestOrAwayFromZero))
                            let y2 = Int((rois.data[roi * 5 + 4] * spatialScale).rounded(.toNearestOrAwayFromZero))
                            let roiW = max(x2 - x1 + 1, 1), roiH = max(y2 - y1 + 1, 1)
                            let binH = Float(roiH) / Float(ph), binW = Float(roiW) / Float(pw)
                            let out = (roi * c + ch) * ph * pw
                            guard b >= 0 && b < n else { continue }   // outputs stay 0, argmax −1
                            let plane = dp + (b * c + ch) * h * w
                            let planeIndex = (b * c + ch) * h * w
                            for i in 0..<ph {
                                let hs = min(max(Int((Float(i) * binH).rounded(.down)) + y1, 0), h)
                                let he = min(max(Int((Float(i + 1) * binH).rounded(.up)) + y1, 0), h)
                                for j in 0..<pw {
                                    let ws = min(max(Int((Float(j) * binW).rounded(.down)) + x1, 0), w)
                                    let we = min(max(Int((Float(j + 1) * binW).rounded(.up)) + x1, 0), w)
                                    guard he > hs && we > ws else { continue }
                                    var best = -Float.greatestFiniteMagnitude, at = -1
                                    for yy in hs..<he {
                                        for xx in ws..<we where plane[yy * w + xx] > best {
                                            best = plane[yy * w + xx]; at = yy * w + xx
                                        }
                                    }
                                    yp[out + i * pw + j] = best
                                    ap[out + i * pw + j] = at < 0 ? -1 : Int32(planeIndex + at)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (y, arg)
    }

    public func backward(_ dy: Blob, argmax: [Int32], dataShape: [Int]) -> Blob {
        var dx = Blob(zeros: dataShape)
        for i in 0..<dy.count where argmax[i] >= 0 { dx.data[Int(argmax[i])] += dy.data[i] }
        return dx
    }
}
