// Settings of the training and proposal stages, with the reference config's defaults
// (rcnn/config.py; mxnet-rcnn.md §3), loadable from YAML (schemas/stage-config.schema.json).

import Detection
import Foundation
import ParamKit
import Yams

public struct StageConfig: Codable, Sendable, Equatable {
    public var network = "tiny-vgg"
    /// The tiny networks only: channel multiplier.
    public var width = 1
    public var epochs = 8
    public var lr = 0.001
    /// Epochs after which the learning rate drops by `lrFactor` (the reference's lr_step '6').
    public var lrSteps = [6]
    /// How `lrSteps` become update counts. `reference`: lr_step × (training images, flipped
    /// included), as train_rpn and train_rcnn compute it; with 2 images per R-CNN update those counts
    /// lie beyond the stage's last update, so the R-CNN rate never drops (mxnet-rcnn.md §11).
    /// `per_epoch`: lr_step × updates per epoch, the schedule the reference meant.
    public var lrSchedule = LRSchedule.reference
    public var lrFactor = 0.1
    public var momentum = 0.9
    public var wd = 0.0005
    public var clipGradient = 5.0
    public var seed: UInt64 = 0
    /// Train on horizontally flipped copies too (append_flipped_images).
    public var flip = true
    /// Image scale: short side, capped so the long side stays within `maxSize`.
    public var scale = 600
    public var maxSize = 1000
    public var pixelMeans: [Float] = [123.68, 116.779, 103.939]
    /// Anchor scales and ratios (ANCHOR_SCALES, ANCHOR_RATIOS); small images want smaller scales.
    public var anchorScales: [Double] = [8, 16, 32]
    public var anchorRatios: [Double] = [0.5, 1, 2]
    // RPN targets (TRAIN.RPN_*).
    public var rpnBatchSize = 256
    public var rpnFgFraction = 0.5
    public var rpnPositiveOverlap = 0.7
    public var rpnNegativeOverlap = 0.3
    // Proposals for training the R-CNN (TEST.PROPOSAL_*) and at detection time (TEST.RPN_*).
    public var proposalPreNMSTopN = 20000
    public var proposalPostNMSTopN = 2000
    public var testPreNMSTopN = 6000
    public var testPostNMSTopN = 300
    public var rpnNMSThreshold: Float = 0.7
    public var rpnMinSize: Float = 16
    // R-CNN batches and sampling (TRAIN.*): BATCH_IMAGES 2 images per update, zero-padded to the
    // largest; BATCH_ROIS 128 rois per update, split evenly over its images; 25 % foreground.
    public var rcnnBatchImages = 2
    public var rcnnBatchRois = 128
    /// Batch landscape and portrait images apart (ASPECT_GROUPING).
    public var aspectGrouping = true
    public var fgFraction = 0.25
    public var fgThresh: Float = 0.5
    public var bgThreshHi: Float = 0.5
    public var bgThreshLo: Float = 0.0
    // Detection (TEST.NMS, test.py --thresh).
    public var nms = 0.3
    public var scoreThreshold: Float = 0.001
    /// Dropout in the R-CNN head (the reference's 0.5).
    public var dropout: Float = 0.5

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case network, width, epochs, lr, lrSteps = "lr_steps", lrFactor = "lr_factor", momentum, wd
        case clipGradient = "clip_gradient", seed, flip, scale, maxSize = "max_size", pixelMeans = "pixel_means"
        case anchorScales = "anchor_scales", anchorRatios = "anchor_ratios"
        case rpnBatchSize = "rpn_batch_size", rpnFgFraction = "rpn_fg_fraction", rpnPositiveOverlap = "rpn_positive_overlap"
        case rpnNegativeOverlap = "rpn_negative_overlap", proposalPreNMSTopN = "proposal_pre_nms_top_n"
        case proposalPostNMSTopN = "proposal_post_nms_top_n", testPreNMSTopN = "test_pre_nms_top_n"
        case testPostNMSTopN = "test_post_nms_top_n", rpnNMSThreshold = "rpn_nms_threshold", rpnMinSize = "rpn_min_size"
        case rcnnBatchImages = "rcnn_batch_images", rcnnBatchRois = "rcnn_batch_rois", aspectGrouping = "aspect_grouping"
        case lrSchedule = "lr_schedule", fgFraction = "fg_fraction", fgThresh = "fg_thresh", bgThreshHi = "bg_thresh_hi"
        case bgThreshLo = "bg_thresh_lo", nms, scoreThreshold = "score_threshold", dropout
    }

    /// Every key is optional in YAML: missing ones keep the reference default.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = StageConfig()
        network = try c.decodeIfPresent(String.self, forKey: .network) ?? d.network
        width = try c.decodeIfPresent(Int.self, forKey: .width) ?? d.width
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? d.epochs
        lr = try c.decodeIfPresent(Double.self, forKey: .lr) ?? d.lr
        lrSteps = try c.decodeIfPresent([Int].self, forKey: .lrSteps) ?? d.lrSteps
        lrFactor = try c.decodeIfPresent(Double.self, forKey: .lrFactor) ?? d.lrFactor
        momentum = try c.decodeIfPresent(Double.self, forKey: .momentum) ?? d.momentum
        wd = try c.decodeIfPresent(Double.self, forKey: .wd) ?? d.wd
        clipGradient = try c.decodeIfPresent(Double.self, forKey: .clipGradient) ?? d.clipGradient
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        flip = try c.decodeIfPresent(Bool.self, forKey: .flip) ?? d.flip
        scale = try c.decodeIfPresent(Int.self, forKey: .scale) ?? d.scale
        maxSize = try c.decodeIfPresent(Int.self, forKey: .maxSize) ?? d.maxSize
        pixelMeans = try c.decodeIfPresent([Float].self, forKey: .pixelMeans) ?? d.pixelMeans
        anchorScales = try c.decodeIfPresent([Double].self, forKey: .anchorScales) ?? d.anchorScales
        anchorRatios = try c.decodeIfPresent([Double].self, forKey: .anchorRatios) ?? d.anchorRatios
        rpnBatchSize = try c.decodeIfPresent(Int.self, forKey: .rpnBatchSize) ?? d.rpnBatchSize
        rpnFgFraction = try c.decodeIfPresent(Double.self, forKey: .rpnFgFraction) ?? d.rpnFgFraction
        rpnPositiveOverlap = try c.decodeIfPresent(Double.self, forKey: .rpnPositiveOverlap) ?? d.rpnPositiveOverlap
        rpnNegativeOverlap = try c.decodeIfPresent(Double.self, forKey: .rpnNegativeOverlap) ?? d.rpnNegativeOverlap
        proposalPreNMSTopN = try c.decodeIfPresent(Int.self, forKey: .proposalPreNMSTopN) ?? d.proposalPreNMSTopN
        proposalPostNMSTopN = try c.decodeIfPresent(Int.self, forKey: .proposalPostNMSTopN) ?? d.proposalPostNMSTopN
        testPreNMSTopN = try c.decodeIfPresent(Int.self, forKey: .testPreNMSTopN) ?? d.testPreNMSTopN
        testPostNMSTopN = try c.decodeIfPresent(Int.self, forKey: .testPostNMSTopN) ?? d.testPostNMSTopN
        rpnNMSThreshold = try c.decodeIfPresent(Float.self, forKey: .rpnNMSThreshold) ?? d.rpnNMSThreshold
        rpnMinSize = try c.decodeIfPresent(Float.self, forKey: .rpnMinSize) ?? d.rpnMinSize
        rcnnBatchImages = try c.decodeIfPresent(Int.self, forKey: .rcnnBatchImages) ?? d.rcnnBatchImages
        rcnnBatchRois = try c.decodeIfPresent(Int.self, forKey: .rcnnBatchRois) ?? d.rcnnBatchRois
        aspectGrouping = try c.decodeIfPresent(Bool.self, forKey: .aspectGrouping) ?? d.aspectGrouping
        lrSchedule = try c.decodeIfPresent(LRSchedule.self, forKey: .lrSchedule) ?? d.lrSchedule
        fgFraction = try c.decodeIfPresent(Double.self, forKey: .fgFraction) ?? d.fgFraction
        fgThresh = try c.decodeIfPresent(Float.self, forKey: .fgThresh) ?? d.fgThresh
        bgThreshHi = try c.decodeIfPresent(Float.self, forKey: .bgThreshHi) ?? d.bgThreshHi
        bgThreshLo = try c.decodeIfPresent(Float.self, forKey: .bgThreshLo) ?? d.bgThreshLo
        nms = try c.decodeIfPresent(Double.self, forKey: .nms) ?? d.nms
        scoreThreshold = try c.decodeIfPresent(Float.self, forKey: .scoreThreshold) ?? d.scoreThreshold
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? d.dropout
    }

    /// Keys that once meant something else, and what to write instead.
    static let retiredKeys = [
        "batch_rois": "'batch_rois' counted rois per image; it is now rcnn_batch_rois, counted per update of "
            + "rcnn_batch_images images as the reference's BATCH_ROIS (128 over 2 images = 64 per image)",
    ]

    /// rois and foreground rois per image of an R-CNN batch (BATCH_ROIS / BATCH_IMAGES, and
    /// round(FG_FRACTION · that), as sample_rois computes them).
    public var roisPerImage: (rois: Int, foreground: Int) {
        let per = rcnnBatchRois / max(rcnnBatchImages, 1)
        return (per, Int((fgFraction * Double(per)).rounded(.toNearestOrEven)))
    }

    /// Every key a YAML config may hold.
    public static var keyNames: [String] { CodingKeys.allCases.map(\.rawValue) }

    /// The Proposal op's settings: for dumping proposals (`train`) or at detection time.
    public func proposalConfig(forTraining: Bool) -> ProposalConfig {
        var pc = ProposalConfig()
        pc.scales = anchorScales
        pc.ratios = anchorRatios
        pc.preNMSTopN = forTraining ? proposalPreNMSTopN : testPreNMSTopN
        pc.postNMSTopN = forTraining ? proposalPostNMSTopN : testPostNMSTopN
        pc.threshold = rpnNMSThreshold
        pc.minSize = rpnMinSize
        return pc
    }

    /// Reference defaults, then the YAML file at `path` (if any), then `key=value` overrides (values
    /// in YAML syntax: `epochs=2`, `lr_steps=[1]`). Unknown keys are errors, not silently ignored.
    public static func load(path: String? = nil, overrides: [String] = []) throws -> StageConfig {
        guard let path else { return try load(text: nil, named: "config", overrides: overrides) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw StageError.unreadable(file: path, what: "the config") }
        return try load(text: text, named: path, overrides: overrides)
    }

    /// The same from YAML (or JSON) text, e.g. the resolved config a checkpoint's provenance records.
    public static func load(text: String?, named name: String, overrides: [String] = []) throws -> StageConfig {
        var dict: [String: Any] = [:]
        if let text {
            let loaded: Any?
            do { loaded = try YAMLValue.load(yaml: text) } catch { throw StageError.notYAML(file: name, detail: "\(error)") }
            guard let mapping = (loaded ?? [String: Any]()) as? [String: Any] else {
                throw StageError.notYAML(file: name, detail: nil)
            }
            dict = mapping
        }
        for o in overrides {
            guard let eq = o.firstIndex(of: "=") else { throw StageError.badOverride(override: o, problem: "must look like key=value") }
            guard let value = try? YAMLValue.load(yaml: String(o[o.index(after: eq)...])) else { throw StageError.badOverride(override: o, problem: "has a value that is not YAML") }
            dict[String(o[..<eq])] = value
        }
        if let retired = dict.keys.sorted().first(where: { retiredKeys[$0] != nil }) {
            throw StageError.retiredKey(file: name, key: retired, advice: retiredKeys[retired]!)
        }
        if let unknown = dict.keys.sorted().first(where: { !keyNames.contains($0) }) {
            throw StageError.unknownKey(file: name, stage: nil, kind: nil, key: unknown, known: keyNames.sorted())
        }
        do {
            let config = try YAMLDecoder().decode(StageConfig.self, from: try Yams.dump(object: dict))
            guard config.rcnnBatchImages >= 1, config.rcnnBatchRois >= config.rcnnBatchImages,
                  config.rcnnBatchRois % config.rcnnBatchImages == 0 else {
                throw StageError.badValue(file: name, stage: nil, key: "rcnn_batch_rois",
                                         expected: "a positive multiple of rcnn_batch_images (\(config.rcnnBatchImages)): the rois of an update are split evenly over its images",
                                         found: "\(config.rcnnBatchRois)")
            }
            return config
        } catch let e as StageError {
            throw e
        } catch let e as DecodingError {
            throw StageError.badValue(file: name, stage: nil, key: Self.keyPath(e), expected: Self.expected(e))
        } catch {
            throw StageError.notYAML(file: name, detail: "\(error)")
        }
    }

    /// The key a decoding error is about (`lr_steps[1]`), or "config" for the whole document.
    static func keyPath(_ e: DecodingError) -> String {
        let path: [any CodingKey]
        switch e {
        case let .typeMismatch(_, c), let .valueNotFound(_, c), let .dataCorrupted(c): path = c.codingPath
        case let .keyNotFound(k, c): path = c.codingPath + [k]
        @unknown default: path = []
        }
        let text = path.reduce("") { t, k in k.intValue.map { "\(t)[\($0)]" } ?? (t.isEmpty ? k.stringValue : "\(t).\(k.stringValue)") }
        return text.isEmpty ? "config" : text
    }

    /// What the key takes, in words.
    static func expected(_ e: DecodingError) -> String {
        func words(_ t: Any.Type) -> String {
            switch t {
            case is Int.Type, is UInt64.Type: "an integer"
            case is Double.Type, is Float.Type: "a number"
            case is Bool.Type: "true or false"
            case is String.Type: "a string"
            default: "a \(t)"
            }
        }
        switch e {
        case let .typeMismatch(t, _), let .valueNotFound(t, _): return words(t)
        case let .dataCorrupted(c):
            if c.codingPath.last?.stringValue == CodingKeys.lrSchedule.rawValue {
                return "one of " + LRSchedule.allCases.map(\.rawValue).joined(separator: ", ")
            }
            return "valid (\(c.debugDescription))"
        case .keyNotFound: return "present"
        @unknown default: return "valid"
        }
    }

    /// The config as JSON for provenance and logs.
    public var json: String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: (try? e.encode(self)) ?? Data(), as: UTF8.self)
    }
}

/// How epoch-counted learning-rate steps become update counts (see `StageConfig.lrSchedule`).
public enum LRSchedule: String, Codable, Sendable, CaseIterable {
    case reference
    case perEpoch = "per_epoch"

    /// The update counts at which the rate drops, for `steps` in epochs.
    public func updates(_ steps: [Int], images: Int, updatesPerEpoch: Int) -> [Int] {
        steps.map { $0 * (self == .reference ? images : updatesPerEpoch) }
    }
}
