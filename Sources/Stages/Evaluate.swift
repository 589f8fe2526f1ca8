// Stage: detect with a combined model (Detector: RPN → proposals → R-CNN → per-class NMS) and score it with
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
        public var model = ""
        public var data = ""
        public var datasetDigest = ""

        /// The one JSON encoding of an eval (schemas/eval.schema.json): `paramkit eval --json` prints
        /// it with the speed; a pipeline's eval stage writes it without (NAME.json is an artifact
        /// with a content digest, so it holds only what the model and data decide).
        public func json(withSpeed: Bool) -> JSON {
            .object([
                ("model", .string(model)), ("data", .string(data)), ("dataset_digest", .string(datasetDigest)),
                ("classes", .object(zip(classNames, zip(ap07, apArea)).map { ($0, .object([("ap_07", .double($1.0)), ("ap_area", .double($1.1))])) })),
                ("map_07", .double(map07)), ("map_area", .double(mapArea)),
            ] + (withSpeed ? [("images_per_second", .double(imagesPerSecond))] : []))
        }
    }

    public static func run(model: String, dataset: DetectionDataset, config: StageConfig) throws -> Result {
        let classes = dataset.classNames.count
        let detector = try Detector(model: model, classNames: dataset.classNames, config: config)
        var detections = [[VOCDetection]](repeating: [], count: classes)
        var truth = [[VOCGroundTruth]](repeating: [], count: classes)
        let log = try StageLog(stage: "eval", path: nil)
        let start = Date()
        for i in 0..<dataset.count {
            let image = try dataset.image(i)
            for (b, (l, d)) in zip(image.boxes, zip(image.labels, image.difficult)) {
                truth[l].append(VOCGroundTruth(imageID: image.id, box: [Double(b.x1), Double(b.y1), Double(b.x2), Double(b.y2)], difficult: d))
            }
            for d in detector.detect(image) {
                detections[d.classIndex].append(VOCDetection(imageID: image.id, score: Double(d.score), box: d.box.map(Double.init)))
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
                      imagesPerSecond: Double(dataset.count) / max(seconds, 1e-9), model: model, data: dataset.path,
                      datasetDigest: dataset.digest)
    }
}
