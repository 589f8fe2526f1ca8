// The reference's batching and schedule (mxnet-rcnn.md §3, §7, §11): ROIIter's and AnchorLoader's
// epoch order with ASPECT_GROUPING, the zero-padded image stack, the R-CNN loss normalised over all
// rois of a two-image batch, the LR-step arithmetic, retired config keys, per-stage random streams
// and the warning for an epoch that learns nothing.

import Foundation
import Testing
import Detection
@testable import Engine
import ParamKit
@testable import Stages

struct ReferenceBatchingTests {
    /// 7 landscape and 4 portrait entries, interleaved.
    static let landscape = [true, false, true, true, false, true, true, false, true, false, true]

    @Test func roiIterBatchesNeverMixAspectsAndCoverEveryEntry() {
        var g = SeededGenerator(seed: 3)
        for bs in [1, 2, 3] {
            let batches = BatchOrder.roiIter(landscape: Self.landscape, batchSize: bs, aspectGrouping: true, using: &g)
            #expect(batches.count == Self.landscape.count / bs, "⌊11/\(bs)⌋ updates per epoch")
            for b in batches {
                #expect(b.count == bs)
                #expect(Set(b.map { Self.landscape[$0] }).count == 1, "batch \(b) mixes landscape and portrait")
            }
            // Padding repeats only a group's first entries (ROIIter pads with horz_inds[:pad]).
            let seen = batches.flatMap { $0 }
            let landscapeGroup = Self.landscape.indices.filter { Self.landscape[$0] }
            let portraitGroup = Self.landscape.indices.filter { !Self.landscape[$0] }
            for (i, n) in Dictionary(seen.map { ($0, 1) }, uniquingKeysWith: +) where n > 1 {
                let group = Self.landscape[i] ? landscapeGroup : portraitGroup
                #expect(group.prefix(bs).contains(i) && n == 2, "entry \(i) seen \(n) times")
            }
        }
        // Over many epochs the rows of both groups interleave (the rows are shuffled).
        var firstIsPortrait = false
        for _ in 0..<20 where !BatchOrder.roiIter(landscape: Self.landscape, batchSize: 2, aspectGrouping: true, using: &g)[0]
            .allSatisfy({ Self.landscape[$0] }) { firstIsPortrait = true }
        #expect(firstIsPortrait)
    }

    @Test func anchorLoaderWithOneImageShowsLandscapeFirst() {
        var g = SeededGenerator(seed: 4)
        let order = BatchOrder.anchorLoader(landscape: Self.landscape, batchSize: 1, aspectGrouping: true, using: &g).map { $0[0] }
        #expect(order.count == Self.landscape.count && Set(order).count == order.count)
        #expect(order.prefix(7).allSatisfy { Self.landscape[$0] } && order.suffix(4).allSatisfy { !Self.landscape[$0] })
        let plain = BatchOrder.anchorLoader(landscape: Self.landscape, batchSize: 1, aspectGrouping: false, using: &g).map { $0[0] }
        #expect(plain.sorted() == Array(0..<11))
    }

    @Test func stackZeroPadsToTheLargestImage() {
        let a = Blob(shape: [1, 2, 2, 3], data: (1...12).map(Float.init)), b = Blob(shape: [1, 2, 3, 2], data: (1...12).map { -Float($0) })
        let s = BatchOrder.stack([a, b])
        #expect(s.shape == [2, 2, 3, 3])
        #expect(Array(s.data[0..<9]) == [1, 2, 3, 4, 5, 6, 0, 0, 0])
        #expect(Array(s.data[18..<27]) == [-1, -2, 0, -3, -4, 0, -5, -6, 0])
    }

    /// Two equal-size images in one batch with their 2·R rois give the mean of the two one-image
    /// steps' gradients: classification normalised by all rois of the batch, box loss by 1/(2R).
    @Test func aTwoImageBatchAveragesTheOneImageGradients() throws {
        let def = try NetworkDefinition.named("tiny-vgg", classes: 3, anchors: 9)
        var rng = SeededGenerator(seed: 9)
        func randoms(_ n: Int, _ scale: Float) -> [Float] { (0..<n).map { _ in Float.random(in: -scale...scale, using: &rng) } }
        let net = RCNNNetwork(def)
        net.dropout = 0
        for p in net.params.ordered { p.value = randoms(p.value.count, 0.3) }
        let (h, w, r, c) = (48, 64, 6, 3)
        let images = [randoms(3 * h * w, 50), randoms(3 * h * w, 50)]
        func rois(_ b: Int) -> [Float] {
            var out: [Float] = []
            for i in 0..<r {
                let x1 = Float(2 * i), y1 = Float(i), x2 = Float(20 + 5 * i), y2 = Float(16 + 4 * i)
                out += [Float(b), x1, y1, x2, y2]
            }
            return out
        }
        let labels: [[Float]] = [[1, 2, 0, 0, 1, 0], [2, 0, 0, 1, 0, 0]]
        let targets = [randoms(r * 4 * c, 1), randoms(r * 4 * c, 1)]
        let weights: [[Float]] = labels.map { l in
            var out: [Float] = []
            for k in l { for j in 0..<c { out += [Float](repeating: j == Int(k) && k > 0 ? 1 : 0, count: 4) } }
            return out
        }
        func grads(_ items: [Int]) -> [String: [Float]] {
            net.params.zeroGrads()
            let data = BatchOrder.stack(items.map { Blob(shape: [1, 3, h, w], data: images[$0]) })
            let roiRows = items.enumerated().flatMap { b, i in rois(b) }
            _ = net.forwardBackward(data: data, rois: Blob(shape: [items.count * r, 5], data: roiRows), label: items.flatMap { labels[$0] },
                                    bboxTarget: Blob(shape: [items.count * r, 4 * c], data: items.flatMap { targets[$0] }),
                                    bboxWeight: Blob(shape: [items.count * r, 4 * c], data: items.flatMap { weights[$0] }),
                                    bboxGradScale: 1 / Float(items.count * r))
            return Dictionary(uniqueKeysWithValues: net.params.ordered.map { ($0.name, $0.grad) })
        }
        let one = grads([0]), two = grads([1]), both = grads([0, 1])
        for (name, g) in both {
            let want = zip(one[name]!, two[name]!).map { ($0 + $1) / 2 }
            let scale = max(want.map(abs).max() ?? 0, 1e-6)
            let diff = zip(g, want).map { abs($0 - $1) }.max() ?? 0
            #expect(diff <= 1e-4 * scale, "\(name): max|Δ| \(diff) of \(scale)")
        }
    }

    @Test func theReferenceRCNNScheduleNeverDropsAndPerEpochDoes() {
        // 400 images flipped = 800 entries, 2 per update: 400 updates an epoch, 8 epochs = 3200 updates.
        #expect(LRSchedule.reference.updates([6], images: 800, updatesPerEpoch: 400) == [4800])
        #expect(LRSchedule.perEpoch.updates([6], images: 800, updatesPerEpoch: 400) == [2400])
        // One image per update (the RPN): both are the same.
        #expect(LRSchedule.reference.updates([6], images: 800, updatesPerEpoch: 800) == [4800])
    }

    @Test func configsUseReferenceBatchesAndRefuseTheRetiredKey() throws {
        let c = try StageConfig.load()
        #expect(c.rcnnBatchImages == 2 && c.rcnnBatchRois == 128 && c.aspectGrouping && c.lrSchedule == .reference)
        #expect(c.roisPerImage == (64, 16))
        let e = try #require(throws: StageError.self) { _ = try StageConfig.load(overrides: ["batch_rois=64"]) }
        if case let .retiredKey(_, "batch_rois", advice) = e {
            #expect(advice.contains("rcnn_batch_rois") && advice.contains("per image"), "\(advice)")
        } else {
            Issue.record("\(e)")
        }
        let odd = try #require(throws: StageError.self) { _ = try StageConfig.load(overrides: ["rcnn_batch_rois=127"]) }
        if case .badValue(_, nil, "rcnn_batch_rois", _, "127") = odd {} else { Issue.record("\(odd)") }
        #expect(try StageConfig.load(overrides: ["lr_schedule=per_epoch"]).lrSchedule == .perEpoch)
        let unknown = try #require(throws: StageError.self) { _ = try StageConfig.load(overrides: ["lr_schedule=sometimes"]) }
        #expect(unknown == .badValue(file: "config", stage: nil, key: "lr_schedule", expected: "one of reference, per_epoch"), "\(unknown)")
    }

    @Test func eachStageDrawsItsOwnStreams() throws {
        var a = Checkpoint(), b = Checkpoint()
        a.append("w", Tensor([1, 2], shape: [2]))
        b.append("w", Tensor([1, 3], shape: [2]))
        let s = StageSupport.stageSeed(0, stage: "train-rpn", init: a)
        #expect(s == StageSupport.stageSeed(0, stage: "train-rpn", init: a))
        #expect(s != StageSupport.stageSeed(0, stage: "train-rpn", init: b))
        #expect(s != StageSupport.stageSeed(0, stage: "train-rcnn", init: a))
        #expect(s != StageSupport.stageSeed(1, stage: "train-rpn", init: a))
    }

    struct Fixed: RunningMetric { var name: String; var sumMetric: Double; var numInst: Double = 1 }

    @Test func anEpochAtTheTrivialValuesIsReported() {
        var watch = TrivialMetricWatch(stage: "train rcnn")
        watch.count([Int](repeating: 0, count: 75) + [Int](repeating: 1, count: 15) + [Int](repeating: 2, count: 10), classes: 3)
        let t = watch.trivial!
        #expect(abs(t.accuracy - 0.75) < 1e-12)
        let prior = -(0.75 * log(0.75) + 0.15 * log(0.15) + 0.1 * log(0.1))
        #expect(abs(t.logLoss - prior) < 1e-12)
        let stuck = watch.warning(epoch: 2, accuracy: Fixed(name: "RCNNAcc", sumMetric: 0.751), logLoss: Fixed(name: "RCNNLogLoss", sumMetric: prior + 0.003))
        #expect(stuck?.contains("RCNNAcc 0.7510 is the majority-label share 0.7500") == true, "\(stuck ?? "no warning")")
        #expect(watch.warning(epoch: 2, accuracy: Fixed(name: "RCNNAcc", sumMetric: 0.82), logLoss: Fixed(name: "RCNNLogLoss", sumMetric: 0.5)) == nil)
        #expect(watch.warning(epoch: 2, accuracy: Fixed(name: "RCNNAcc", sumMetric: 0.75), logLoss: Fixed(name: "RCNNLogLoss", sumMetric: 0.4)) == nil)
    }
}
