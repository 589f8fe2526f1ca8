// A combined model as a detector (the reference's im_detect): RPN proposals on the preprocessed
// image and R-CNN scores and box deltas for them here; decoding, clipping and per-class threshold
// and NMS in Detection's `detections`. Boxes come back in original-image pixels. Used by `eval`
// and `detect`.

import Detection
import Engine
import Foundation
import ParamKit

public final class Detector {
    public struct Found: Sendable {
        /// Class index (1… ; 0 is the background) and name.
        public var classIndex: Int
        public var className: String
        public var score: Float
        /// In original-image pixels.
        public var box: Box
    }

    public let classNames: [String]
    let config: StageConfig
    let net: DetectionNetwork
    let pre: Preprocess

    /// `classNames` with the background first, as datasets list them.
    public init(model: String, classNames: [String], config: StageConfig) throws {
        self.classNames = classNames
        self.config = config
        let def = try StageSupport.definition(config, classes: classNames.count)
        var checkpoint = try Formats.load(path: model)
        // The test network uses the de-normalised box regressor when the file has it (load_param process=True).
        for name in ["bbox_pred_weight", "bbox_pred_bias"] {
            if let k = checkpoint.tensors.firstIndex(where: { $0.info.key == "arg:" + name + "_test" }),
               let j = checkpoint.tensors.firstIndex(where: { $0.info.key == "arg:" + name }) {
                checkpoint.tensors[j].tensor = checkpoint.tensors[k].tensor
            }
        }
        net = DetectionNetwork(def)
        try StageSupport.initialise(net.params, definition: def, from: checkpoint, file: model, redraw: [], seed: 0)
        pre = Preprocess(shortSide: config.scale, maxLongSide: config.maxSize, pixelMeans: config.pixelMeans)
    }

    /// The class names a model was trained with (its `classes` metadata, background first), if any.
    public static func classNames(of model: String) throws -> [String]? {
        let r = try Formats.open(path: model)
        guard let text = r.metadata["classes"], !text.isEmpty else { return nil }
        return text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }

    /// Detections above `threshold` (the config's score_threshold when nil) after per-class NMS.
    public func detect(_ image: DetectionImage, threshold: Float? = nil) -> [Found] {
        let classes = classNames.count
        let cut = threshold ?? Float(config.scoreThreshold)
        let (data, scale, h, w) = pre.blob(image, flip: false)
        var pass = net.propose(data)
        let (boxes, _) = Propose.proposalRows(prob: pass.rpnProb, delta: pass.rpnBBox, height: h, width: w, scale: scale,
                                              config: config.proposalConfig(forTraining: false))
        let n = boxes.count / 4
        guard n > 0 else { return [] }
        let rois = Blob(shape: [n, 5], data: (0..<n).flatMap { k in [0] + (0..<4).map { boxes[4 * k + $0] } })
        let (prob, delta) = net.classify(&pass, rois: rois)
        let found = detections(rois: (0..<n).map { k in Box(boxes[4 * k], boxes[4 * k + 1], boxes[4 * k + 2], boxes[4 * k + 3]) },
                               prob: prob.data, delta: delta.data, classes: classes, imageHeight: h, imageWidth: w, scale: scale,
                               settings: DetectionSettings(scoreThreshold: cut, nms: config.nms))
        return found.map { Found(classIndex: $0.classIndex, className: classNames[$0.classIndex], score: $0.score, box: $0.box) }
    }
}
