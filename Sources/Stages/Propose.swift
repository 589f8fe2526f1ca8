// Stage: run a trained RPN over every image (unflipped) and keep its proposals in original-image
// pixels (test_rpn + generate_proposals), reporting recall at IoU 0.5 and 0.7.

import Detection
import Engine
import Foundation
import ParamKit

public enum Propose {
    public struct Result {
        public var recall05: Double; public var recall07: Double; public var perImage: Double; public var imagesPerSecond: Double

        /// The one line `paramkit propose` and a pipeline's propose stage print.
        public var summary: String {
            String(format: "%.1f proposals per image; recall@0.5 %.4f, recall@0.7 %.4f", perImage, recall05, recall07)
        }

        /// The one JSON encoding of the result (`paramkit propose --json`).
        public func json(output: String) -> JSON {
            .object([("output", .string(output)), ("proposals_per_image", .double(perImage)), ("recall_05", .double(recall05)),
                     ("recall_07", .double(recall07)), ("images_per_second", .double(imagesPerSecond))])
        }
    }

    public static func run(model: String, dataset: DetectionDataset, config: StageConfig, output: String) throws -> Result {
        let def = try StageSupport.definition(config, classes: dataset.classNames.count)
        let net = RPNNetwork(def)
        let checkpoint = try Formats.load(path: model)
        try StageSupport.initialise(net.params, definition: def, from: checkpoint, file: model, redraw: [], seed: 0)
        let pre = Preprocess(shortSide: config.scale, maxLongSide: config.maxSize, pixelMeans: config.pixelMeans)
        let pc = config.proposalConfig(forTraining: true)
        var set = ProposalSet(boxes: [], scores: [], imageIDs: [], datasetDigest: dataset.digest, modelDigest: checkpoint.rootDigest)
        var total = 0
        let log = try StageLog(stage: "propose", path: nil)
        let started = Date()
        for i in 0..<dataset.count {
            let image = try dataset.image(i)
            let (boxes, scores) = try proposals(net, image: image, pre: pre, config: pc)
            set.boxes.append(boxes); set.scores.append(scores); set.imageIDs.append(image.id)
            total += scores.count
            log.progress(epoch: 1, epochs: 1, step: i + 1, steps: dataset.count, metrics: "")
        }
        try set.write(to: output, settings: JSON.object([("operation", .string("propose")), ("tool", .string(Provenance.toolVersion)),
                                                          ("model", .string(model)), ("dataset", .string(dataset.path)),
                                                          ("config", .string(config.json))]).compact)
        let recall = try set.recall(dataset, thresholds: [0.5, 0.7])
        return Result(recall05: recall[0], recall07: recall[1],
                      perImage: dataset.count > 0 ? Double(total) / Double(dataset.count) : 0,
                      imagesPerSecond: Double(dataset.count) / max(Date().timeIntervalSince(started), 1e-9))
    }

    /// The Proposal op's rows for one image as the test network outputs them: boxes in the scaled
    /// image's pixels and scores, the −1-scored padding and small-box rows included (im_detect feeds
    /// all of them to the R-CNN).
    /// `data` is the preprocessed image (`Preprocess.blob`), h × w at `scale`.
    static func proposalRows(_ net: RPNNetwork, data: Blob, height h: Int, width w: Int, scale: Float,
                             config: ProposalConfig) -> (boxes: [Float], scores: [Float]) {
        let (prob, delta) = net.predict(data)
        return proposalRows(prob: prob, delta: delta, height: h, width: w, scale: scale, config: config)
    }

    /// The same from the RPN's outputs: probabilities (1, 2A, H, W) and deltas (1, 4A, H, W).
    static func proposalRows(prob: Blob, delta: Blob, height h: Int, width w: Int, scale: Float,
                             config: ProposalConfig) -> (boxes: [Float], scores: [Float]) {
        let r = prob.data.withUnsafeBufferPointer { p in
            delta.data.withUnsafeBufferPointer { d in
                Proposal.run(clsProb: p, bboxPred: d, height: prob.shape[2], width: prob.shape[3],
                             imInfo: (Float(h), Float(w), scale), config: config)
            }
        }
        return (r.boxes, r.scores)
    }

    /// One image's proposals in original pixels with positive scores (generate_proposals, thresh 0).
    static func proposals(_ net: RPNNetwork, image: DetectionImage, pre: Preprocess, config: ProposalConfig) throws -> ([Float], [Float]) {
        let (data, scale, h, w) = pre.blob(image, flip: false)
        let r = proposalRows(net, data: data, height: h, width: w, scale: scale, config: config)
        var boxes: [Float] = [], scores: [Float] = []
        for k in 0..<r.scores.count where r.scores[k] > 0 {
            for j in 0..<4 { boxes.append(r.boxes[4 * k + j] / scale) }
            scores.append(r.scores[k])
        }
        return (boxes, scores)
    }
}
