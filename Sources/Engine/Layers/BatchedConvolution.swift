// Convolution over many small images (the R-CNN head of ResNet runs stage 4 on 128 ROI-pooled
// 14×14 maps): per image the GEMM would have only 49–196 columns, so the images go into one column
// matrix, kdim × (images · pixels), in chunks of at most `tileElements` floats, and each chunk is
// one GEMM for the forward pass, one for the weight gradient and one for the data gradient.

import COpenBLAS
import ParamKit

extension Convolution {
    /// Images per chunk for `kdim` × `spatial` columns each.
    func batchedChunk(kdim: Int, spatial: Int, images n: Int) -> Int {
        max(1, min(n, (4 * tileElements) / max(kdim * spatial, 1)))
    }

    func batchedForward(_ x: Blob, weight: [Float], bias: [Float]?, into y: inout Blob) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (ho, wo) = (y.shape[2], y.shape[3])
        let kdim = c * kernel.h * kernel.w, spatial = ho * wo
        let chunk = batchedChunk(kdim: kdim, spatial: spatial, images: n)
        var col = [Float](repeating: 0, count: kdim * chunk * spatial)
        var out = [Float](repeating: 0, count: numFilter * chunk * spatial)
        x.data.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    col.withUnsafeMutableBufferPointer { cp in
                        out.withUnsafeMutableBufferPointer { op in
                            for i0 in Swift.stride(from: 0, to: n, by: chunk) {
                                let m = min(chunk, n - i0), cols = m * spatial
                                for k in 0..<m {
                                    im2col(xp.baseAddress! + (i0 + k) * c * h * w, channels: c, height: h, width: w, rows: 0..<ho, outW: wo,
                                           into: cp.baseAddress! + k * spatial, ld: cols)
                                }
                                // OUT[O, m·S] = W[O, CKK] · col[CKK, m·S]
                                sgemm(m: numFilter, n: cols, k: kdim, a: wp.baseAddress!, lda: kdim, b: cp.baseAddress!, ldb: cols,
                                      beta: 0, c: op.baseAddress!, ldc: cols)
                                // y[i, o, :] = OUT[o, k·S ..< (k+1)·S] (+ bias)
                                let shared = SendableBox((op.baseAddress!, yp.baseAddress!))
                                parallelFor(m * numFilter) { range in
                                    let (op, yp) = shared.value
                                    for t in range {
                                        let (k, o) = (t / numFilter, t % numFilter)
                                        let src = op + o * cols + k * spatial, dst = yp + ((i0 + k) * numFilter + o) * spatial
                                        if let bias {
                                            let b = bias[o]
                                            for s in 0..<spatial { dst[s] = src[s] + b }
                                        } else {
                                            dst.update(from: src, count: spatial)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func batchedBackward(_ dy: Blob, input x: Blob, weight: [Float], gradWeight: UnsafeMutablePointer<Float>?,
                         gradBias: UnsafeMutablePointer<Float>?, inputGrad: Bool) -> Blob? {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (ho, wo) = (dy.shape[2], dy.shape[3])
        let kdim = c * kernel.h * kernel.w, spatial = ho * wo
        let chunk = batchedChunk(kdim: kdim, spatial: spatial, images: n)
        var dx: Blob? = inputGrad ? Blob(zeros: x.shape) : nil
        var col = [Float](repeating: 0, count: gradWeight == nil ? 0 : kdim * chunk * spatial)
        var dcol = [Float](repeating: 0, count: inputGrad ? kdim * chunk * spatial : 0)
        var g = [Float](repeating: 0, count: numFilter * chunk * spatial)
        dy.data.withUnsafeBufferPointer { dyp in
            x.data.withUnsafeBufferPointer { xp in
                weight.withUnsafeBufferPointer { wp in
                    g.withUnsafeMutableBufferPointer { gp in
                        for i0 in Swift.stride(from: 0, to: n, by: chunk) {
                            let m = min(chunk, n - i0), cols = m * spatial
                            // G[O, m·S]: the chunk's output gradient with the images side by side.
                            let shared = SendableBox((dyp.baseAddress!, gp.baseAddress!))
                            parallelFor(m * numFilter) { range in
                                let (dyp, gp) = shared.value
                                for t in range {
                                    let (k, o) = (t / numFilter, t % numFilter)
                                    (gp + o * cols + k * spatial).update(from: dyp + ((i0 + k) * numFilter + o) * spatial, count: spatial)
                                }
                            }
                            if let gradBias { accumulateBiasGradient(gp.baseAddress!, spatial: cols, into: gradBias) }
                            if let gradWeight {
                                col.withUnsafeMutableBufferPointer { cp in
                                    for k in 0..<m {
                                        im2col(xp.baseAddress! + (i0 + k) * c * h * w, channels: c, height: h, width: w, rows: 0..<ho, outW: wo,
                                               into: cp.baseAddress! + k * spatial, ld: cols)
                                    }
                                    // dW[O, CKK] += G[O, m·S] · colᵀ[m·S, CKK]
                                    sgemm(transB: true, m: numFilter, n: kdim, k: cols, a: gp.baseAddress!, lda: cols, b: cp.baseAddress!, ldb: cols,
                                          beta: 1, c: gradWeight, ldc: kdim)
                                }
                            }
                            if inputGrad {
                                dcol.withUnsafeMutableBufferPointer { dcp in
                                    // dcol[CKK, m·S] = Wᵀ[CKK, O] · G[O, m·S], then each image's block back onto dX
                                    sgemm(transA: true, m: kdim, n: cols, k: numFilter, a: wp.baseAddress!, lda: kdim, b: gp.baseAddress!, ldb: cols,
                                          beta: 0, c: dcp.baseAddress!, ldc: cols)
                                    dx!.data.withUnsafeMutableBufferPointer { dxp in
                                        for k in 0..<m {
                                            col2im(dcp.baseAddress! + k * spatial, channels: c, height: h, width: w, rows: 0..<ho, outW: wo,
                                                   into: dxp.baseAddress! + (i0 + k) * c * h * w, ld: cols)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }
}
