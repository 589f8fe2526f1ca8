// Max pooling 2×2 stride 2 with MXNet's 'valid' convention: out = ⌊(H − 2)/2⌋ + 1, so an odd last
// row or column is never read. Backward sends each gradient to the window's (first) maximum.

import ParamKit

public struct MaxPool2x2: Sendable {
    public init() {}

    public func outputShape(_ x: [Int]) -> [Int] { [x[0], x[1], (x[2] - 2) / 2 + 1, (x[3] - 2) / 2 + 1] }

    /// The output and, per output cell, the index of its maximum inside the input plane.
    public func forward(_ x: Blob) -> (Blob, [Int32]) {
        let out = outputShape(x.shape)
        let (h, w, ho, wo) = (x.shape[2], x.shape[3], out[2], out[3])
        let planes = out[0] * out[1]
        var y = Blob(uninitialized: out)
        var arg = [Int32](repeating: 0, count: y.count)
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                arg.withUnsafeMutableBufferPointer { ap in
                    let shared = SendableBox((xp.baseAddress!, yp.baseAddress!, ap.baseAddress!))
                    parallelFor(planes) { range in
                        let (xp, yp, ap) = shared.value
                        for p in range {
                            let src = xp + p * h * w
                            for oh in 0..<ho {
                                for ow in 0..<wo {
                                    // The window in row-major order; a later element wins only if strictly larger.
                                    let i0 = (2 * oh) * w + 2 * ow
                                    var best = src[i0], at = i0
                                    if src[i0 + 1] > best { best = src[i0 + 1]; at = i0 + 1 }
                                    if src[i0 + w] > best { best = src[i0 + w]; at = i0 + w }
                                    if src[i0 + w + 1] > best { best = src[i0 + w + 1]; at = i0 + w + 1 }
                                    yp[p * ho * wo + oh * wo + ow] = best
                                    ap[p * ho * wo + oh * wo + ow] = Int32(at)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (y, arg)
    }

    public func backward(_ dy: Blob, argmax: [Int32], inputShape: [Int]) -> Blob {
        var dx = Blob(zeros: inputShape)
        let plane = inputShape[2] * inputShape[3], outPlane = dy.shape[2] * dy.shape[3]
        let planes = dy.shape[0] * dy.shape[1]
        dx.data.withUnsafeMutableBufferPointer { dxp in
            let shared = SendableBox(dxp.baseAddress!)
            parallelFor(planes) { range in
                let dxp = shared.value
                for p in range {
                    for j in 0..<outPlane { dxp[p * plane + Int(argmax[p * outPlane + j])] += dy.data[p * outPlane + j] }
                }
            }
        }
        return dx
    }
}
