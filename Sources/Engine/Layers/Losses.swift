// The losses of the two detection heads: SoftmaxOutput (multi-output with ignore label and 'valid'
// normalisation for the RPN; 'batch' for the R-CNN) and weighted smooth-L1 through MakeLoss.
// Like MXNet's, their backward ignores any head gradient.

import Foundation

public enum SoftmaxOutput {
    /// Softmax over axis 1 of (N, C, S…) — for 2-D input, over each row.
    public static func forward(_ x: Blob) -> Blob {
        let n = x.shape[0], c = x.shape[1], s = x.count / max(n * c, 1)
        var y = x
        for i in 0..<n {
            for j in 0..<s {
                var m = -Float.infinity
                for k in 0..<c { m = max(m, x.data[(i * c + k) * s + j]) }
                var sum: Float = 0
                for k in 0..<c {
                    let e = expf(x.data[(i * c + k) * s + j] - m)
                    y.data[(i * c + k) * s + j] = e
                    sum += e
                }
                for k in 0..<c { y.data[(i * c + k) * s + j] /= sum }
            }
        }
        return y
    }

    /// multi_output, use_ignore: labels (N, S); grad = (p − onehot)·scale / max(#valid, 1), 0 where ignored.
    public static func backwardValid(prob: Blob, label: [Float], ignore: Float = -1, gradScale: Float = 1) -> Blob {
        let valid = label.filter { $0 != ignore }.count
        return gradient(prob: prob, label: label, classes: prob.shape[1], ignore: ignore, scale: gradScale / Float(max(valid, 1)))
    }

    /// 2-D (N, C) with 'batch' normalisation: grad = (p − onehot)·scale / N.
    public static func backwardBatch(prob: Blob, label: [Float], gradScale: Float = 1) -> Blob {
        gradient(prob: prob, label: label, classes: prob.shape[1], ignore: nil, scale: gradScale / Float(max(prob.shape[0], 1)))
    }

    /// prob viewed as (N, classes, S), labels (N, S): grad = (p − onehot(label))·scale, 0 where the
    /// label is `ignore`.
    public static func gradient(prob: Blob, label: [Float], classes c: Int, ignore: Float?, scale: Float) -> Blob {
        let n = prob.shape[0], s = prob.count / max(n * c, 1)
        var g = prob
        for i in 0..<n {
            for j in 0..<s {
                let l = label[i * s + j]
                for k in 0..<c {
                    let idx = (i * c + k) * s + j
                    g.data[idx] = l == ignore ? 0 : (prob.data[idx] - (Int(l) == k ? 1 : 0)) * scale
                }
            }
        }
        return g
    }
}

/// smooth_l1 with MXNet's float32 arithmetic (σ² = scalar²).
public enum SmoothL1 {
    @inline(__always) public static func value(_ a: Float, sigma: Float) -> Float {
        let bsq = sigma * sigma
        if a > 1 / bsq { return a - 0.5 / bsq }
        if a < -1 / bsq { return -a - 0.5 / bsq }
        return 0.5 * a * a * bsq
    }

    @inline(__always) public static func derivative(_ a: Float, sigma: Float) -> Float {
        let bsq = sigma * sigma
        if a > 1 / bsq { return 1 }
        if a < -1 / bsq { return -1 }
        return bsq * a
    }

    /// MakeLoss(weight · smooth_l1(pred − target, σ), grad_scale): the loss map and d/dpred.
    public static func weightedLoss(pred: Blob, target: Blob, weight: Blob, sigma: Float, gradScale: Float) -> (loss: Blob, grad: Blob) {
        var loss = pred, grad = pred
        for i in 0..<pred.count {
            let d = pred.data[i] - target.data[i]
            loss.data[i] = weight.data[i] * value(d, sigma: sigma)
            grad.data[i] = gradScale * weight.data[i] * derivative(d, sigma: sigma)
        }
        return (loss, grad)
    }
}
