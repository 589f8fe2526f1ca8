// Direct 3×3 convolution (stride 1, padding 1) for layers whose input and output channel counts are
// 4, 8 or 16, such as tiny-vgg's: the forward pass and the data gradient (the same convolution of dY
// with the flipped, transposed filter) split output rows between the threads; the weight gradient
// is summed per thread over its rows and then over threads in thread order, so results depend on
// the thread count only.

import CKernels
import ParamKit

enum Direct3x3 {
    static func supports(outChannels k: Int, inChannels c: Int) -> Bool {
        pk_direct3x3_supports(Int32(k)) != 0 && pk_direct3x3_supports(Int32(c)) != 0
    }

    /// The zero-bordered copy of one image for `body`.
    static func withPadded(_ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                           _ body: (UnsafePointer<Float>) -> Void) {
        let n = pk_pad3x3_size(Int32(c), Int32(h), Int32(w)), plane = (h + 2) * (w + 2)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { buffer.deallocate() }
        (buffer + c * plane).update(repeating: 0, count: n - c * plane)
        let shared = SendableBox(buffer)
        parallelFor(c) { r in
            pk_pad3x3(x + r.lowerBound * h * w, Int32(r.count), Int32(h), Int32(w), shared.value + r.lowerBound * plane)
        }
        body(buffer)
    }

    /// y[K][H][W] = conv3×3(x[C][H][W]) (+ bias) for one image; weight is [K][C][3][3].
    static func convolve(_ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int, weight: UnsafePointer<Float>,
                         outChannels k: Int, bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>) {
        withPadded(x, channels: c, height: h, width: w) { xp in
            let shared = SendableBox((xp, weight, bias, y))
            parallelFor(h, minimumPerThread: 4) { rows in
                let (xp, weight, bias, y) = shared.value
                pk_direct3x3_forward(xp, Int32(c), Int32(h), Int32(w), weight, Int32(k), bias, y, Int32(rows.lowerBound), Int32(rows.upperBound))
            }
        }
    }

    /// The filter of the data gradient: w'[c][k] = w[k][c] rotated by 180°.
    static func flipped(_ weight: UnsafePointer<Float>, outChannels k: Int, inChannels c: Int) -> [Float] {
        var out = [Float](repeating: 0, count: k * c * 9)
        for o in 0..<k {
            for i in 0..<c {
                for t in 0..<9 { out[(i * k + o) * 9 + t] = weight[(o * c + i) * 9 + 8 - t] }
            }
        }
        return out
    }

    /// dw[K][C][3][3] += the weight gradient of one image.
    static func accumulateWeightGradient(input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                                         outputGrad dy: UnsafePointer<Float>, outChannels k: Int, into dw: UnsafeMutablePointer<Float>) {
        let size = k * c * 9, parts = max(1, min(Threads.count, h / 4))
        var partial = [Float](repeating: 0, count: parts * size)
        withPadded(x, channels: c, height: h, width: w) { xp in
            partial.withUnsafeMutableBufferPointer { pp in
                let shared = SendableBox((xp, dy, pp.baseAddress!))
                parallelParts(parts) { p in
                    let (xp, dy, pp) = shared.value
                    pk_direct3x3_weight_grad(xp, Int32(c), Int32(h), Int32(w), dy, Int32(k), pp + p * size, Int32(h * p / parts), Int32(h * (p + 1) / parts))
                }
            }
        }
        for p in 0..<parts {
            for i in 0..<size { dw[i] += partial[p * size + i] }
        }
    }
}
