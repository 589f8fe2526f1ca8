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
        /// Per class, the interpolated precision (the best precision at that recall or above) at
        /// recall 0, 0.01, …, 1: the precision–recall curve the VOC AP integrates.
        public var model = ""
        public var data = ""
        public var datasetDigest = ""
        public var precisionAtRecall: [[Double]] = []

        /// The one JSON encoding of an eval (schemas/eval.schema.json): `paramkit eval --json` prints
        /// it with the speed; a pipeline's eval stage writes it without (NAME.json is an artifact
        /// with a content digest, so it holds only what the model and data decide).
        /// The one line `paramkit eval` and a pipeline's eval stage print.
        public var summary: String { String(format: "mAP (07 11-point) %.4f, mAP (area) %.4f", map07, mapArea) }

        public func json(withSpeed: Bool) -> JSON {
            .object([
                ("model", .string(model)), ("data", .string(data)), ("dataset_digest", .string(datasetDigest)),
                ("classes", .object(classNames.indices.map { c in
                    (classNames[c], .object([("ap_07", .double(ap07[c])), ("ap_area", .double(apArea[c])),
                                             ("precision_at_recall", .array((c < precisionAtRecall.count ? precisionAtRecall[c] : []).map { .double($0) }))]))
                })),
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
                detections[d.classIndex].append(VOCDetection(imageID: image.id, score: Double(d.score), box: d.box.corners.map(Double.init)))
            }
            log.progress(epoch: 1, epochs: 1, step: i + 1, steps: dataset.count, metrics: "")
        }
        let seconds = Date().timeIntervalSince(start)
        var ap07: [Double] = [], apArea: [Double] = [], curves: [[Double]] = []
        for c in 1..<classes {
            ap07.append(vocEval(detections: detections[c], groundTruth: truth[c], use07: true).ap)
            let area = vocEval(detections: detections[c], groundTruth: truth[c], use07: false)
            apArea.append(area.ap)
            curves.append((0...100).map { k in
                zip(area.rec, area.prec).filter { $0.0 >= Double(k) / 100 - 1e-12 }.map(\.1).max() ?? 0
            })
        }
        return Result(classNames: Array(dataset.classNames.dropFirst()), ap07: ap07, apArea: apArea,
                      imagesPerSecond: Double(dataset.count) / max(seconds, 1e-9), model: model, data: dataset.path,
                      datasetDigest: dataset.digest, precisionAtRecall: curves)
    }
}
