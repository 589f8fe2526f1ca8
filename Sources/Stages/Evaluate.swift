// Stage: detect with a combined model (RPN → proposals → R-CNN → per-class NMS) and score it with
// the VOC metrics: AP per class and mAP, both the 2007 11-point and the area definition.

import Detection
import Engine
import Foundation
import ParamKit

public enum Evaluate {
    public struct Result {
        public var classNames: [String]
        public var ap07: [Double]
        public var apArea: [Double]
        public var map07: Double { ap07.isEmpty ? 0 : ap07.reduce(0, +) / Double(ap07.count) }
        public var mapArea: Double { apArea.isEmpty ? 0 : apArea.reduce(0, +) / Double(apArea.count) }
        public var imagesPerSecond: Double
    }

    public static func run(model: String, dataset: DetectionDataset, config: StageConfig) throws -> Result {
        let classes = dataset.classNames.count
        let def = try StageSupport.definition(config, classes: classes)
        var checkpoint = try Formats.load(path: model)
        // The test network uses the de-normalised box regressor when the file has it (load_param process=True).
        for name in ["bbox_pred_weight", "bbox_pred_bias"] {
            if let k = checkpoint.tensors.firstIndex(where: { $0.info.key == "arg:" + name + "_test" }),
               let j = checkpoint.tensors.firstIndex(where: { $0.info.key == "arg:" + name }) {
                checkpoint.tensors[j].tensor = checkpoint.tensors[k].tensor
            }
        }
        let rpn = RPNNetwork(def), rcnn = RCNNNetwork(def)
        try StageSupport.initialise(rpn.params, definition: def, from: checkpoint, file: model, redraw: [], seed: 0)
        try StageSupport.initialise(rcnn.params, definition: def, from: checkpoint, file: model, redraw: [], seed: 0)
        let pre = Preprocess(shortSide: config.scale, maxLongSide: config.maxSize, pixelMeans: config.pixelMeans)
        let pc = config.proposalConfig(forTraining: false)
        var detections = [[VOCDetection]](repeating: [], count: classes)
        var truth = [[VOCGroundTruth]](repeating: [], count: classes)
        let log = try StageLog(stage: "eval", path: nil)
        let start = Date()
        for i in 0..<dataset.count {
            let image = try dataset.image(i)
            for (b, (l, d)) in zip(image.boxes, zip(image.labels, image.difficult)) {
                truth[l].append(VOCGroundTruth(imageID: image.id, box: [Double(b.x1), Double(b.y1), Double(b.x2), Double(b.y2)], difficult: d))
            }
            let (data, scale, h, w) = pre.blob(image, flip: false)
            let (boxes, _) = Propose.proposalRows(rpn, data: data, height: h, width: w, scale: scale, config: pc)
            let n = boxes.count / 4
            guard n > 0 else { continue }
            let rois = Blob(shape: [n, 5], data: (0..<n).flatMap { k in [0] + (0..<4).map { boxes[4 * k + $0] } })
            let (prob, delta) = rcnn.predict(data, rois: rois)
            let scaled = (0..<n).map { k in (1...4).map { Double(rois.data[5 * k + $0]) } }
            let deltas = (0..<n).map { k in (0..<(4 * classes)).map { Double(delta.data[k * 4 * classes + $0]) } }
            let predicted = clipBoxes(bboxPred(scaled, deltas), imHeight: Double(h), imWidth: Double(w))
            for c in 1..<classes {
                var dets: [[Float]] = []
                for k in 0..<n where prob.data[k * classes + c] > config.scoreThreshold {
                    dets.append((0..<4).map { Float(predicted[k][4 * c + $0] / Double(scale)) } + [prob.data[k * classes + c]])
                }
                for j in nonMaximumSuppression(dets, threshold: config.nms) {
                    detections[c].append(VOCDetection(imageID: image.id, score: Double(dets[j][4]), box: dets[j][0..<4].map(Double.init)))
                }
            }
            log.progress(epoch: 1, epochs: 1, step: i + 1, steps: dataset.count, metrics: "")
        }
        let seconds = Date().timeIntervalSince(start)
        var ap07: [Double] = [], apArea: [Double] = []
        for c in 1..<classes {
            ap07.append(vocEval(detections: detections[c], groundTruth: truth[c], use07: true).ap)
            apArea.append(vocEval(detections: detections[c], groundTruth: truth[c], use07: false).ap)
        }
        return Result(classNames: Array(dataset.classNames.dropFirst()), ap07: ap07, apArea: apArea,
                      imagesPerSecond: Double(dataset.count) / max(seconds, 1e-9))
    }
}
