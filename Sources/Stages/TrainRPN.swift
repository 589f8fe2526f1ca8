// Stage: train the RPN from an initial checkpoint on a dataset (train_rpn): images without a
// non-difficult gt box dropped (filter_roidb), AnchorLoader's order (landscape group, then portrait),
// anchor targets per image, SGD with the reference's schedule, frozen layers honoured, a checkpoint
// every epoch.

import Detection
import Engine
import Foundation
import ParamKit

public enum TrainRPN {
    public struct Result {
        public var output: String
        public var digest: String
        public var metrics: [String: Double]
        /// Training images (flipped copies included) per second, checkpoint writes included.
        public var imagesPerSecond: Double
        /// Set when a `BatchDump` with `maxUpdates` stopped the stage: no checkpoint was written
        /// (`output` and `digest` name nothing).
        public var stoppedAfterUpdates: Int? = nil
    }

    /// `keepHeads`: keep rpn_* from the init file instead of re-drawing them as the reference does.
    public static func run(initPath: String, freeze: FreezeSpec?, dataset: DetectionDataset, config: StageConfig,
                           output: String, keepHeads: Bool = false, dump: BatchDump? = nil) throws -> Result {
        let def = try StageSupport.definition(config, classes: dataset.classNames.count)
        let net = RPNNetwork(def)
        let initial = try Formats.load(path: initPath)
        let seed = StageSupport.stageSeed(config.seed, stage: "train-rpn", init: initial)
        let heads = Set(net.params.ordered.map(\.name).filter { $0.hasPrefix("rpn_") })
        let redraw = keepHeads ? heads.filter { initial["arg:" + $0] == nil } : heads
        try StageSupport.initialise(net.params, definition: def, from: initial, file: initPath, redraw: redraw, seed: seed)
        if let freeze { try net.params.freeze(freeze) }
        let pre = Preprocess(shortSide: config.scale, maxLongSide: config.maxSize, pixelMeans: config.pixelMeans)
        // filter_roidb: an entry needs at least one (non-difficult) gt box.
        var entries: [(index: Int, flip: Bool)] = [], landscape: [Bool] = []
        for i in 0..<dataset.count {
            let image = try dataset.imageHeader(i)
            guard image.difficult.contains(false) else { continue }
            for flip in config.flip ? [false, true] : [false] {
                entries.append((i, flip))
                landscape.append(image.width >= image.height)
            }
        }
        guard !entries.isEmpty else { throw StageError.noTrainingImages(dataset: dataset.path) }
        var sgd = SGD(schedule: MultiFactorSchedule(baseLR: config.lr, steps: config.lrSchedule.updates(config.lrSteps, images: entries.count,
                                                                                                         updatesPerEpoch: entries.count),
                                                    factor: config.lrFactor),
                      momentum: Float(config.momentum), wd: Float(config.wd), clipGradient: Float(config.clipGradient))
        var targetConfig = AnchorTargetConfig()
        targetConfig.batchSize = config.rpnBatchSize
        targetConfig.fgFraction = config.rpnFgFraction
        targetConfig.positiveOverlap = config.rpnPositiveOverlap
        targetConfig.negativeOverlap = config.rpnNegativeOverlap
        try dump?.start(stage: "rpn", params: net.params, config: config, sgd: sgd)
        var sampler = SeededSubsampler(seed: seed &+ 1)
        var order = SeededGenerator(seed: seed &+ 2)
        var step = 0, firstEpoch = 1
        var lastGood: String?
        let resume = StageResume(output: output, stage: "train-rpn", initial: initial, dataset: dataset.digest, config: config,
                                 frozen: net.params.ordered.filter(\.fixed).map(\.name), extra: keepHeads ? "keep-heads" : "")
        let point = dump == nil ? resume.load(into: net.params) : nil
        if let point, let o = point.streams["order"].flatMap(SeededGenerator.init(state:)), let s = point.streams["sampler"]?.first {
            sgd.resume(afterUpdates: point.updates)
            order = o
            sampler.generator.state = s
            step = point.updates
            firstEpoch = point.epoch + 1
            lastGood = StageSupport.epochPath(output, point.epoch)
        }
        let log = try StageLog(stage: "train-rpn", path: output + ".log.jsonl", append: point != nil)
        if let point { StageSupport.announceResume("train rpn", from: point, resume: resume, output: output, log: log) }
        var acc = RPNAcc(), logLoss = RPNLogLoss(), l1 = RPNL1Loss()
        var watch = TrivialMetricWatch(stage: "train rpn")
        let started = Date(), startStep = step
        for epoch in stride(from: firstEpoch, through: max(config.epochs, 1), by: 1) {
            acc.reset(); logLoss.reset(); l1.reset(); watch.reset()
            let batches = BatchOrder.anchorLoader(landscape: landscape, batchSize: 1, aspectGrouping: config.aspectGrouping, using: &order)
            for (k, batch) in batches.enumerated() {
                let (index, flip) = entries[batch[0]]
                step += 1
                let image = try dataset.image(index)
                let (data, scale, h, w) = pre.blob(image, flip: flip)
                let gt = zip(pre.boxes(image, flip: flip, scale: scale), zip(image.labels, image.difficult))
                    .filter { !$0.1.1 }.map { [$0.0.x1, $0.0.y1, $0.0.x2, $0.0.y2, Float($0.1.0)] }
                let (fh, fw) = net.featureSize(height: h, width: w)
                let t = assignAnchor(featureHeight: fh, featureWidth: fw, gtBoxes: gt, imInfo: (Double(h), Double(w), Double(scale)),
                                     scales: config.anchorScales, ratios: config.anchorRatios, config: targetConfig, sampler: &sampler)
                let shape = [1, 4 * def.anchors, fh, fw]
                try dump?.batch(step, [("data", data), ("label", Blob(shape: [1, t.label.count], data: t.label)),
                                       ("bbox_target", Blob(shape: shape, data: t.bboxTarget)), ("bbox_weight", Blob(shape: shape, data: t.bboxWeight))])
                net.params.zeroGrads()
                let l = net.forwardBackward(data: data, label: t.label, bboxTarget: Blob(shape: shape, data: t.bboxTarget),
                                            bboxWeight: Blob(shape: shape, data: t.bboxWeight), bboxGradScale: 1 / Float(config.rpnBatchSize))
                try StageSupport.finishStep("train rpn", l, params: net.params, sgd: &sgd, log: log, step: step, epoch: epoch,
                                            of: config.epochs, at: k + 1, steps: entries.count, image: image.id, lastGood: lastGood) {
                    acc.update(clsProb: l.prob.data, label: t.label)
                    logLoss.update(clsProb: l.prob.data, label: t.label)
                    l1.update(bboxLoss: l.bboxLoss.data, bboxWeight: t.bboxWeight)
                    watch.count(t.label.map { Int($0) }, classes: 2)
                    return [acc, logLoss, l1]
                }
                if try dump?.updated(step, params: net.params) == true {
                    return Result(output: output, digest: "", metrics: StageSupport.values([acc, logLoss, l1]),
                                  imagesPerSecond: Double(step - startStep) / max(Date().timeIntervalSince(started), 1e-9), stoppedAfterUpdates: step)
                }
            }
            let path = StageSupport.epochPath(output, epoch)
            try save(net.params, to: path, operation: "train-rpn", initPath: initPath, dataset: dataset, config: config, freeze: freeze, epoch: epoch)
            lastGood = path
            if dump == nil {
                try resume.save(epoch: epoch, params: net.params, sgd: sgd, streams: ["order": order.state, "sampler": [sampler.generator.state]])
            }
            log.record([("epoch", .int(epoch)), ("checkpoint", .string(path))] + StageSupport.json([acc, logLoss, l1]))
            watch.check(epoch: epoch, accuracy: acc, logLoss: logLoss, log: log)
        }
        let digest = try save(net.params, to: output, operation: "train-rpn", initPath: initPath, dataset: dataset, config: config,
                              freeze: freeze, epoch: config.epochs)
        resume.remove()
        return Result(output: output, digest: digest, metrics: StageSupport.values([acc, logLoss, l1]),
                      imagesPerSecond: Double(step - startStep) / max(Date().timeIntervalSince(started), 1e-9))
    }

    @discardableResult
    static func save(_ params: ParameterSet, to path: String, operation: String, initPath: String, dataset: DetectionDataset,
                     config: StageConfig, freeze: FreezeSpec?, epoch: Int, extra: [(String, Tensor)] = []) throws -> String {
        var c = params.checkpoint()
        for (name, t) in extra { c.append(name, t) }
        c.metadata = ["epoch": String(epoch), "network": config.network, "classes": dataset.classNames.joined(separator: ",")]
        var p = Provenance(operation: operation)
        p.inputs = [.init(label: "init", path: initPath, digest: (try? Formats.open(path: initPath).storedRootDigest ?? nil) ?? "")]
        p.settings = [("dataset", .string(dataset.path)), ("dataset_digest", .string(dataset.digest)), ("config", .string(config.json)),
                      ("frozen", .array((freeze?.entries ?? []).map { .string($0) })), ("epoch", .int(epoch))]
        let frozen = Set(params.ordered.filter(\.fixed).map(\.name))
        p.lineage = c.tensors.map { t in
            (t.info.key, .init(source: "init", key: t.info.key, transforms: [frozen.contains(t.info.name) ? "frozen" : "trained"]))
        }
        return try Formats.save(c, to: path, provenance: p)
    }
}
