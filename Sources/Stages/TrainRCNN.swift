// Stage: train the R-CNN head from an initial checkpoint, a dataset and that dataset's proposals
// (train_rcnn): gt boxes merged with proposals, flipped copies mirrored, box targets normalised by
// per-class statistics, batches of `rcnn_batch_images` images in ROIIter's order (aspect groups),
// zero-padded to the largest, `rcnn_batch_rois` rois per batch split evenly over its images and
// normalised together, and de-normalised `_test` weights in every checkpoint.

import Detection
import Engine
import Foundation
import ParamKit

public enum TrainRCNN {
    /// One roidb entry: an image (maybe flipped) with its candidate boxes in original pixels.
    struct Entry {
        var index: Int
        var flip: Bool
        /// width ≥ height (ASPECT_GROUPING's landscape group).
        var landscape: Bool
        var regression: RegressionRoidbEntry
    }

    /// `rpnModel`: the RPN the proposals should come from; a proposals file from another model is refused.
    public static func run(initPath: String, proposals: String, freeze: FreezeSpec?, dataset: DetectionDataset, config: StageConfig,
                           output: String, rpnModel: String? = nil, dump: BatchDump? = nil) throws -> TrainRPN.Result {
        let set = try ProposalSet.read(path: proposals)
        if let rpnModel {
            let digest = try Formats.load(path: rpnModel).rootDigest
            guard digest == set.modelDigest else {
                throw StageError.proposalsFromAnotherModel(proposals: proposals, digest: set.modelDigest, model: rpnModel, modelDigest: digest)
            }
        }
        guard set.datasetDigest == dataset.digest, set.imageIDs.count == dataset.count else {
            throw StageError.proposalsFromAnotherDataset(proposals: proposals, digest: set.datasetDigest, images: set.imageIDs.count,
                                                         dataset: dataset.path, datasetDigest: dataset.digest, datasetImages: dataset.count)
        }
        let classes = dataset.classNames.count
        let def = try StageSupport.definition(config, classes: classes)
        let initial = try Formats.load(path: initPath)
        let seed = StageSupport.stageSeed(config.seed, stage: "train-rcnn", init: initial)
        let net = RCNNNetwork(def, seed: seed &+ 3)
        // The proposals decide the run as much as the init file does.
        let resumeExtra = "proposals \(set.modelDigest) \(set.datasetDigest) \(set.scores.map(\.count).reduce(0, +))"
        net.dropout = config.dropout
        try StageSupport.initialise(net.params, definition: def, from: initial, file: initPath,
                                    redraw: ["cls_score_weight", "cls_score_bias", "bbox_pred_weight", "bbox_pred_bias"], seed: seed)
        if let freeze { try net.params.freeze(freeze) }

        var entries: [Entry] = []
        for i in 0..<dataset.count {
            let image = try dataset.image(i)
            guard set.imageIDs[i] == image.id else {
                throw StageError.proposalsForAnotherImage(proposals: proposals, index: i, image: set.imageIDs[i], datasetImage: image.id)
            }
            for flip in config.flip ? [false, true] : [false] {
                entries.append(Entry(index: i, flip: flip, landscape: image.width >= image.height,
                                     regression: RegressionRoidbEntry(image: image, proposals: set.boxes[i], flip: flip)))
            }
        }
        var regression = entries.map(\.regression)
        let (means, stds) = addBBoxRegressionTargets(&regression, numClasses: classes)
        for k in entries.indices { entries[k].regression = regression[k] }
        // A training image needs at least one foreground or background roi (filter_roidb).
        entries = entries.filter { e in e.regression.maxOverlaps.contains { $0 >= config.fgThresh || ($0 < config.bgThreshHi && $0 >= config.bgThreshLo) } }

        let pre = Preprocess(shortSide: config.scale, maxLongSide: config.maxSize, pixelMeans: config.pixelMeans)
        let batchImages = config.rcnnBatchImages
        let (roisPerImage, fgPerImage) = config.roisPerImage
        let updatesPerEpoch = entries.count / batchImages
        guard updatesPerEpoch > 0 else {
            throw StageError.tooFewEntries(dataset: dataset.path, usable: entries.count, batchImages: batchImages)
        }
        var sgd = SGD(schedule: MultiFactorSchedule(baseLR: config.lr, steps: config.lrSchedule.updates(config.lrSteps, images: entries.count,
                                                                                                         updatesPerEpoch: updatesPerEpoch),
                                                    factor: config.lrFactor),
                      momentum: Float(config.momentum), wd: Float(config.wd), clipGradient: Float(config.clipGradient))
        try dump?.start(stage: "rcnn", params: net.params, config: config, sgd: sgd, extra: ["classes": classes])
        var sampler = SeededSubsampler(seed: seed &+ 4)
        var order = SeededGenerator(seed: seed &+ 5)
        let landscape = entries.map(\.landscape)
        var lastGood: String?
        var step = 0, images = 0, firstEpoch = 1
        let resume = StageResume(output: output, stage: "train-rcnn", initial: initial, dataset: dataset.digest, config: config,
                                 frozen: net.params.ordered.filter(\.fixed).map(\.name), extra: resumeExtra)
        let point = dump == nil ? resume.load(into: net.params) : nil
        if let point, let o = point.streams["order"].flatMap(SeededGenerator.init(state:)), let s = point.streams["sampler"]?.first,
           let d = point.streams["dropout"].flatMap(SeededGenerator.init(state:)), let k = point.streams["step"]?.first {
            sgd.resume(afterUpdates: point.updates)
            order = o
            sampler.generator.state = s
            net.generator = d
            step = Int(k)
            firstEpoch = point.epoch + 1
            lastGood = StageSupport.epochPath(output, point.epoch)
        }
        let log = try StageLog(stage: "train-rcnn", path: output + ".log.jsonl", append: point != nil)
        if let point { StageSupport.announceResume("train rcnn", from: point, resume: resume, output: output, log: log) }
        var acc = RCNNAcc(), logLoss = RCNNLogLoss(), l1 = RCNNL1Loss()
        var watch = TrivialMetricWatch(stage: "train rcnn")
        let started = Date()
        let flatMeans = means.flatMap { $0 }, flatStds = stds.flatMap { $0 }
        for epoch in stride(from: firstEpoch, through: max(config.epochs, 1), by: 1) {
            acc.reset(); logLoss.reset(); l1.reset(); watch.reset()
            let batches = BatchOrder.roiIter(landscape: landscape, batchSize: batchImages, aspectGrouping: config.aspectGrouping, using: &order)
            for (k, batch) in batches.enumerated() {
                step += 1
                var blobs: [Blob] = [], rois: [Float] = [], targets: [Float] = [], weights: [Float] = [], labels: [Float] = []
                var ids: [String] = []
                for (b, entry) in batch.enumerated() {
                    let e = entries[entry]
                    let image = try dataset.image(e.index)
                    ids.append(image.id)
                    let (data, scale, _, _) = pre.blob(image, flip: e.flip)
                    blobs.append(data)
                    let r = e.regression
                    let sample = sampleRois(rois: r.boxes, fgRoisPerImage: fgPerImage, roisPerImage: roisPerImage, numClasses: classes,
                                            labels: r.maxClasses, overlaps: r.maxOverlaps, bboxTargets: r.bboxTargets,
                                            fgThresh: config.fgThresh, bgThreshHi: config.bgThreshHi, bgThreshLo: config.bgThreshLo, sampler: &sampler)
                    rois += sample.rois.flatMap { [Float(b), $0[0] * scale, $0[1] * scale, $0[2] * scale, $0[3] * scale] }
                    targets += sample.bboxTargets.flatMap { $0 }
                    weights += sample.bboxWeights.flatMap { $0 }
                    labels += sample.labels.map(Float.init)
                }
                images += batch.count
                let n = labels.count
                guard n > 0 else { continue }
                let data = BatchOrder.stack(blobs)
                if let dump {
                    // As ROIIter feeds them: (images, rois per image, …).
                    let b = batch.count
                    try dump.batch(step, [("data", data), ("rois", Blob(shape: [b, n / b, 5], data: rois)),
                                          ("label", Blob(shape: [b, n / b], data: labels)),
                                          ("bbox_target", Blob(shape: [b, n / b, 4 * classes], data: targets)),
                                          ("bbox_weight", Blob(shape: [b, n / b, 4 * classes], data: weights))])
                }
                net.params.zeroGrads()
                let l = net.forwardBackward(data: data, rois: Blob(shape: [n, 5], data: rois), label: labels,
                                            bboxTarget: Blob(shape: [n, 4 * classes], data: targets),
                                            bboxWeight: Blob(shape: [n, 4 * classes], data: weights),
                                            bboxGradScale: 1 / Float(config.rcnnBatchRois))
                try StageSupport.finishStep("train rcnn", l, params: net.params, sgd: &sgd, log: log, step: step, epoch: epoch,
                                            of: config.epochs, at: k + 1, steps: batches.count, image: ids.joined(separator: "+"), lastGood: lastGood) {
                    acc.update(clsProb: l.prob.data, numClasses: classes, label: labels)
                    logLoss.update(clsProb: l.prob.data, numClasses: classes, label: labels)
                    l1.update(bboxLoss: l.bboxLoss.data, label: labels)
                    watch.count(labels.map(Int.init), classes: classes)
                    return [acc, logLoss, l1]
                }
                if try dump?.updated(step, params: net.params) == true {
                    return TrainRPN.Result(output: output, digest: "", metrics: StageSupport.values([acc, logLoss, l1]),
                                           imagesPerSecond: Double(images) / max(Date().timeIntervalSince(started), 1e-9), stoppedAfterUpdates: step)
                }
            }
            let path = StageSupport.epochPath(output, epoch)
            try TrainRPN.save(net.params, to: path, operation: "train-rcnn", initPath: initPath, dataset: dataset, config: config, freeze: freeze,
                              epoch: epoch, extra: denormalised(net.params, means: flatMeans, stds: flatStds))
            lastGood = path
            if dump == nil {
                try resume.save(epoch: epoch, params: net.params, sgd: sgd,
                                streams: ["order": order.state, "sampler": [sampler.generator.state], "dropout": net.generator.state,
                                          "step": [UInt64(step)]])
            }
            log.record([("epoch", .int(epoch)), ("checkpoint", .string(path))] + StageSupport.json([acc, logLoss, l1]))
            watch.check(epoch: epoch, accuracy: acc, logLoss: logLoss, log: log)
        }
        let digest = try TrainRPN.save(net.params, to: output, operation: "train-rcnn", initPath: initPath, dataset: dataset, config: config,
                                       freeze: freeze, epoch: config.epochs, extra: denormalised(net.params, means: flatMeans, stds: flatStds))
        resume.remove()
        return TrainRPN.Result(output: output, digest: digest, metrics: StageSupport.values([acc, logLoss, l1]),
                               imagesPerSecond: Double(images) / max(Date().timeIntervalSince(started), 1e-9))
    }

    /// bbox_pred_weight_test / bbox_pred_bias_test (reference §5) from the per-class statistics,
    /// through the one formula `paramkit rewrite bbox-denorm` uses.
    static func denormalised(_ params: ParameterSet, means: [Double], stds: [Double]) -> [(String, Tensor)] {
        let w = params["bbox_pred_weight"], b = params["bbox_pred_bias"]
        return [("bbox_pred_weight_test", Tensor(Rewrite.bboxDenorm(weight: w.value, means: means, stds: stds), shape: w.shape)),
                ("bbox_pred_bias_test", Tensor(Rewrite.bboxDenorm(bias: b.value, means: means, stds: stds), shape: b.shape))]
    }
}
