// Training metrics of rcnn/core/metric.py: running sums over an epoch, value = sumMetric / numInst
// (NaN before anything was counted, as MXNet's EvalMetric.get reports). Sums accumulate in Double
// where the reference sums float32 arrays; that changes only the last bits.

import Foundation

/// A running metric in MXNet's EvalMetric form.
public protocol RunningMetric {
    var name: String { get }
    var sumMetric: Double { get set }
    var numInst: Double { get set }
}

extension RunningMetric {
    public var value: Double { numInst == 0 ? .nan : sumMetric / numInst }
    public mutating func reset() { sumMetric = 0; numInst = 0 }
}

/// Index of the largest of `count` values spaced `stride` apart from `start`; the first on ties.
@inline(__always)
private func argmax(_ x: [Float], start: Int, count: Int, stride: Int) -> Int {
    var best = 0
    for c in 1..<max(count, 1) where x[start + c * stride] > x[start + best * stride] { best = c }
    return best
}

/// The reference converts labels with `astype('int32')`, i.e. truncation.
@inline(__always)
private func classLabel(_ v: Float) -> Int { Int(v) }

/// Shared by the RPN metrics: `clsProb` is (batch, channels, positions) with positions = A·H·W in
/// (a, h, w) order (the reshaped (N, 2, A·H, W) softmax output); `label` is (batch, positions).
private func forEachLabelledAnchor(clsProb: [Float], batch: Int, channels: Int, label: [Float],
                                   _ body: (_ label: Int, _ probStart: Int, _ stride: Int) -> Void) {
    let positions = label.count / max(batch, 1)
    precondition(clsProb.count == batch * channels * positions, "cls_prob has \(clsProb.count) values, expected \(batch)×\(channels)×\(positions)")
    for b in 0..<batch {
        for p in 0..<positions {
            let l = classLabel(label[b * positions + p])
            // −1 marks anchors that are neither sampled fg nor bg: they do not count.
            guard l != -1 else { continue }
            body(l, b * channels * positions + p, positions)
        }
    }
}

/// RPN classification accuracy over the anchors with label ≠ −1.
public struct RPNAcc: RunningMetric, Sendable {
    public let name = "RPNAcc"
    public var sumMetric = 0.0, numInst = 0.0
    public init() {}
    public mutating func update(clsProb: [Float], batch: Int = 1, channels: Int = 2, label: [Float]) {
        forEachLabelledAnchor(clsProb: clsProb, batch: batch, channels: channels, label: label) { l, start, stride in
            if argmax(clsProb, start: start, count: channels, stride: stride) == l { sumMetric += 1 }
            numInst += 1
        }
    }
}

/// RPN cross-entropy −log(p[label] + 1e-14), averaged over the anchors with label ≠ −1.
public struct RPNLogLoss: RunningMetric, Sendable {
    public let name = "RPNLogLoss"
    public var sumMetric = 0.0, numInst = 0.0
    public init() {}
    public mutating func update(clsProb: [Float], batch: Int = 1, channels: Int = 2, label: [Float]) {
        forEachLabelledAnchor(clsProb: clsProb, batch: batch, channels: channels, label: label) { l, start, stride in
            sumMetric += -log(Double(clsProb[start + l * stride]) + 1e-14)
            numInst += 1
        }
    }
}

/// RPN regression loss: the sum of the (weighted smooth-L1) `bbox_loss` output per foreground anchor,
/// counted as (number of weights > 0) / 4 — every fg anchor has 4 positive weights.
public struct RPNL1Loss: RunningMetric, Sendable {
    public let name = "RPNL1Loss"
    public var sumMetric = 0.0, numInst = 0.0
    public init() {}
    public mutating func update(bboxLoss: [Float], bboxWeight: [Float]) {
        sumMetric += bboxLoss.reduce(0.0) { $0 + Double($1) }
        numInst += Double(bboxWeight.lazy.filter { $0 > 0 }.count) / 4
    }
}

/// R-CNN classification accuracy over every roi (background included): `clsProb` is rows of
/// `numClasses` probabilities, one per label.
public struct RCNNAcc: RunningMetric, Sendable {
    public let name = "RCNNAcc"
    public var sumMetric = 0.0, numInst = 0.0
    public init() {}
    public mutating func update(clsProb: [Float], numClasses: Int, label: [Float]) {
        precondition(clsProb.count == label.count * numClasses, "cls_prob has \(clsProb.count) values for \(label.count) rois")
        for (r, l) in label.enumerated() where argmax(clsProb, start: r * numClasses, count: numClasses, stride: 1) == classLabel(l) {
            sumMetric += 1
        }
        numInst += Double(label.count)
    }
}

/// R-CNN cross-entropy −log(p[label] + 1e-14), averaged over every roi.
public struct RCNNLogLoss: RunningMetric, Sendable {
    public let name = "RCNNLogLoss"
    public var sumMetric = 0.0, numInst = 0.0
    public init() {}
    public mutating func update(clsProb: [Float], numClasses: Int, label: [Float]) {
        precondition(clsProb.count == label.count * numClasses, "cls_prob has \(clsProb.count) values for \(label.count) rois")
        for (r, l) in label.enumerated() {
            sumMetric += -log(Double(clsProb[r * numClasses + classLabel(l)]) + 1e-14)
        }
        numInst += Double(label.count)
    }
}

/// R-CNN regression loss: the sum of `bbox_loss` per foreground roi (label ≠ 0).
public struct RCNNL1Loss: RunningMetric, Sendable {
    public let name = "RCNNL1Loss"
    public var sumMetric = 0.0, numInst = 0.0
    public init() {}
    public mutating func update(bboxLoss: [Float], label: [Float]) {
        sumMetric += bboxLoss.reduce(0.0) { $0 + Double($1) }
        numInst += Double(label.lazy.filter { classLabel($0) != 0 }.count)
    }
}
