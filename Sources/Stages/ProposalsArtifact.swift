// The proposals artifact (`paramkit.proposals`): per image, in dataset order, boxes in original-image
// pixels and objectness scores, stored ragged, with the model and dataset digests it came from.

import Detection
import Foundation
import ParamKit

public struct ProposalSet: Sendable {
    public var boxes: [[Float]]      // per image, 4 floats per proposal
    public var scores: [[Float]]
    public var imageIDs: [String]
    public var datasetDigest: String
    public var modelDigest: String

    public static let kind = "paramkit.proposals"

    public init(boxes: [[Float]], scores: [[Float]], imageIDs: [String], datasetDigest: String, modelDigest: String) {
        self.boxes = boxes
        self.scores = scores
        self.imageIDs = imageIDs
        self.datasetDigest = datasetDigest
        self.modelDigest = modelDigest
    }

    public func write(to path: String, settings: String) throws {
        let b = try HDF5Builder(path: path)
        var flat: [Float] = [], flatScores: [Float] = [], offsets: [Int64] = [0]
        for (bx, sc) in zip(boxes, scores) { flat += bx; flatScores += sc; offsets.append(offsets.last! + Int64(sc.count)) }
        try b.addDataset(path: "/boxes", shape: [flatScores.count, 4], values: flat)
        try b.addDataset(path: "/scores", shape: [flatScores.count], values: flatScores)
        try b.addDataset(path: "/offsets", shape: [offsets.count], values: offsets)
        try b.setStringAttribute(path: "/", name: "paramkit_format", value: Self.kind)
        try b.setIntAttribute(path: "/", name: "format_version", value: 1)
        try b.setStringAttribute(path: "/", name: "image_ids", value: JSON.array(imageIDs.map { .string($0) }).compact)
        try b.setStringAttribute(path: "/", name: "dataset_digest", value: datasetDigest)
        try b.setStringAttribute(path: "/", name: "model_digest", value: modelDigest)
        try b.setStringAttribute(path: "/", name: "provenance", value: settings)
        try b.commit()
    }

    /// For each IoU threshold, the share of the dataset's non-difficult ground-truth boxes that one of
    /// their image's first `topN` proposals (all when nil; proposals are stored best first) covers.
    public func recall(_ dataset: DetectionDataset, topN: Int? = nil, thresholds: [Double]) throws -> [Double] {
        guard dataset.count == boxes.count else { throw StageError.proposalsCount(dataset: dataset.path, images: dataset.count, proposals: boxes.count) }
        var hits = [Int](repeating: 0, count: thresholds.count), objects = 0
        for i in 0..<dataset.count {
            let image = try dataset.imageHeader(i)
            let n = min(topN ?? Int.max, boxes[i].count / 4)
            let props: [[Double]] = (0..<n).map { k in (0..<4).map { Double(boxes[i][4 * k + $0]) } }
            for (b, d) in zip(image.boxes, image.difficult) where !d {
                objects += 1
                let gt: [[Double]] = [[Double(b.x1), Double(b.y1), Double(b.x2), Double(b.y2)]]
                let best: Double = props.isEmpty ? 0 : (bboxOverlaps(gt, props)[0].max() ?? 0)
                for (t, threshold) in thresholds.enumerated() where best >= threshold { hits[t] += 1 }
            }
        }
        return hits.map { objects > 0 ? Double($0) / Double(objects) : 0 }
    }

    public static func read(path: String) throws -> ProposalSet {
        let watch = try H5Watchdog.start(path)
        defer { watch?.cancel() }
        let f = try HDF5File(path: path)
        guard try f.string("paramkit_format") == kind else { throw FormatError(file: path, location: "paramkit_format", "not a ParamKit proposals file") }
        let (_, flat) = try f.dataset("/boxes", as: Float.self)
        let (_, scores) = try f.dataset("/scores", as: Float.self)
        let (_, offsets) = try f.dataset("/offsets", as: Int64.self)
        guard let idsText = try f.string("image_ids"),
              let ids = (try? JSONSerialization.jsonObject(with: Data(idsText.utf8))) as? [String], ids.count + 1 == offsets.count,
              offsets.first == 0, offsets.last.map({ Int($0) == scores.count }) == true, flat.count == 4 * scores.count,
              zip(offsets, offsets.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw FormatError(file: path, "inconsistent proposals layout (offsets, image ids and boxes do not agree)")
        }
        var boxes: [[Float]] = [], sc: [[Float]] = []
        for i in 0..<ids.count {
            let lo = Int(offsets[i]), hi = Int(offsets[i + 1])
            boxes.append(Array(flat[(4 * lo)..<(4 * hi)]))
            sc.append(Array(scores[lo..<hi]))
        }
        return ProposalSet(boxes: boxes, scores: sc, imageIDs: ids, datasetDigest: try f.string("dataset_digest") ?? "",
                           modelDigest: try f.string("model_digest") ?? "")
    }
}
