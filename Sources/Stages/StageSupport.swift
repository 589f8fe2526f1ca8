// What every stage shares: network parameters from checkpoints with the reference's head
// re-initialisation, per-epoch checkpoint names, a JSON-lines metrics log with a progress line,
// and the NaN guard.

import Detection
import Engine
import Foundation
import ParamKit

public enum StageSupport {
    static func definition(_ config: StageConfig, classes: Int) throws -> NetworkDefinition {
        try NetworkDefinition.named(config.network, classes: classes, anchors: config.anchorScales.count * config.anchorRatios.count,
                                    width: config.width)
    }

    /// A stage's freeze spec (FIXED_PARAMS, FIXED_PARAMS_SHARED, a,b,c, @FILE; nil for "none" or no
    /// text), resolved against the parameter names of the config's network for `classes` classes.
    public static func freezeSpec(_ text: String?, config: StageConfig, classes: Int) throws -> FreezeSpec? {
        guard let text, text != "none" else { return nil }
        let names = try definition(config, classes: classes).params.map(\.name)
        return try FreezeSpec.parse(text, family: try definition(config, classes: classes).family, names: names)
    }

    /// Fills `params` from a checkpoint; parameters named in `redraw` (the heads a stage trains
    /// afresh) are drawn from their definition's initialisation instead, seeded per name.
    static func initialise(_ params: ParameterSet, definition: NetworkDefinition, from checkpoint: Checkpoint, file: String,
                           redraw: Set<String>, seed: UInt64) throws {
        try params.load(checkpoint, file: file, network: definition.name, except: redraw)
        for p in params.ordered where redraw.contains(p.name) {
            draw(p, definition.params.first { $0.name == p.name }!.initialisation, seed: seed)
        }
    }

    /// Redraws a head the way `init` draws it (`Initialisation.fill`, the same stream for the same seed).
    static func draw(_ p: Parameter, _ initialisation: Initialisation, seed: UInt64) {
        p.value.withUnsafeMutableBufferPointer { initialisation.fill($0, seed: seed, key: "arg:" + p.name) }
    }

    /// The seed of one stage's random streams (head draws, shuffles, sampling, dropout): the config's
    /// seed mixed with the stage kind and the content digest of its init checkpoint, so two stages of
    /// one schedule draw fresh streams as the reference does (rpn2's heads are not rpn1's, rcnn2's
    /// order is not rcnn1's) while a re-run of the same stage draws the same ones.
    static func stageSeed(_ seed: UInt64, stage: String, init checkpoint: Checkpoint) -> UInt64 {
        var g = SeededGenerator(seed: seed, name: stage + "\t" + checkpoint.rootDigest)
        return g.next()
    }

    /// Announces a resumed stage on stderr and in its log.
    static func announceResume(_ stage: String, from point: StageResume.Point, resume: StageResume, output: String, log: StageLog) {
        let text = "\(stage): resuming after epoch \(point.epoch) (update \(point.updates)) from \(resume.path)"
        FileHandle.standardError.write(Data((text + "\n").utf8))
        log.record([("resumed_after_epoch", .int(point.epoch)), ("updates", .int(point.updates)), ("from", .string(resume.path))])
    }

    /// Training metrics as one line, `RPNAcc=0.9816 RPNL1Loss=0.3141` (in the given order).
    public static func metricsLine(_ metrics: [(name: String, value: Double)]) -> String {
        metrics.map { "\($0.name)=\(String(format: "%.4f", $0.value))" }.joined(separator: " ")
    }

    /// The same line for a result's metrics, sorted by name.
    public static func metricsLine(_ metrics: [String: Double]) -> String {
        metricsLine(metrics.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) })
    }

    /// `out/rpn1.h5`, epoch 3 → `out/rpn1-0003.h5` (`Formats.epochPath`).
    static func epochPath(_ output: String, _ epoch: Int) -> String { Formats.epochPath(output, epoch: epoch) }

    /// After a forward/backward: stop on NaN/Inf (naming the step and tensor), else take the SGD
    /// step, let `updateMetrics` add this step to the running metrics, and report them.
    static func finishStep(_ stage: String, _ l: StepLosses, params: ParameterSet, sgd: inout SGD, log: StageLog, step: Int,
                           epoch: Int, of epochs: Int, at k: Int, steps: Int, image: String, lastGood: String?,
                           updateMetrics: () -> [any RunningMetric]) throws {
        let lossFinite = l.prob.data.allSatisfy(\.isFinite) && l.bboxLoss.data.allSatisfy(\.isFinite)
        if !lossFinite || nonFinite(params) != nil {
            throw StageError.diverged(stage: stage, step: step, epoch: epoch, image: image, tensor: nonFinite(params), lastGood: lastGood)
        }
        log.watchLoss(l.bboxLoss.data.reduce(0.0) { $0 + Double($1) }, step: step, epoch: epoch)
        sgd.step(params)
        let metrics = updateMetrics()
        log.progress(epoch: epoch, epochs: epochs, step: k, steps: steps,
                     metrics: metricsLine(metrics.map { (name: $0.name, value: Double($0.value)) }))
        if step % 20 == 0 { log.record([("epoch", .int(epoch)), ("step", .int(step)), ("lr", .double(sgd.schedule.lr(sgd.updates)))] + json(metrics)) }
    }

    static func json(_ metrics: [any RunningMetric]) -> [(String, JSON)] { metrics.map { ($0.name, .double($0.value)) } }
    static func values(_ metrics: [any RunningMetric]) -> [String: Double] {
        Dictionary(uniqueKeysWithValues: metrics.map { ($0.name, $0.value) })
    }

    /// The first parameter holding a NaN or Inf (value or gradient), for the divergence message.
    static func nonFinite(_ params: ParameterSet) -> String? {
        for p in params.ordered {
            if p.value.contains(where: { !$0.isFinite }) { return p.name }
            if !p.fixed && p.grad.contains(where: { !$0.isFinite }) { return p.name + " (gradient)" }
        }
        return nil
    }
}

/// Notices a stage that learns nothing: over a whole epoch the accuracy equals the share of the
/// most frequent label (what always predicting it scores: the background share for the R-CNN) and
/// the log-loss equals the entropy of the label distribution (what predicting the prior scores).
/// Then it warns on stderr and in the log, naming both metrics and the values they are stuck at.
struct TrivialMetricWatch {
    let stage: String
    var counts: [Int] = []

    init(stage: String) { self.stage = stage }

    mutating func reset() { counts = [] }

    /// One step's labels (negative ones are ignored, as the metrics ignore them).
    mutating func count(_ labels: [Int], classes: Int) {
        if counts.count < classes { counts += [Int](repeating: 0, count: classes - counts.count) }
        for l in labels where l >= 0 && l < classes { counts[l] += 1 }
    }

    /// The trivial accuracy and log-loss of the epoch's labels, or nil before any label.
    var trivial: (accuracy: Double, logLoss: Double)? {
        let total = Double(counts.reduce(0, +))
        guard total > 0 else { return nil }
        let shares = counts.map { Double($0) / total }
        return (shares.max()!, -shares.filter { $0 > 0 }.map { $0 * log($0) }.reduce(0, +))
    }

    /// The warning for an epoch whose metrics sit at the trivial values, or nil.
    func warning(epoch: Int, accuracy: any RunningMetric, logLoss: any RunningMetric) -> String? {
        guard let t = trivial, abs(accuracy.value - t.accuracy) <= 0.005,
              abs(logLoss.value - t.logLoss) <= max(0.02 * t.logLoss, 0.005) else { return nil }
        return String(format: "%@: epoch %d learned nothing: %@ %.4f is the majority-label share %.4f and %@ %.4f the label prior's "
                      + "entropy %.4f (check the learning rate, the batch and the init)",
                      stage, epoch, accuracy.name, accuracy.value, t.accuracy, logLoss.name, logLoss.value, t.logLoss)
    }

    func check(epoch: Int, accuracy: any RunningMetric, logLoss: any RunningMetric, log: StageLog) {
        guard let text = warning(epoch: epoch, accuracy: accuracy, logLoss: logLoss) else { return }
        FileHandle.standardError.write(Data(("warning: " + text + "\n").utf8))
        log.record([("epoch", .int(epoch)), ("warning", .string(text))])
    }
}

/// A JSON-lines log beside the output, and a progress line on stderr (only on a terminal).
public final class StageLog {
    let handle: FileHandle?
    let stage: String
    let start = Date()
    let interactive = isatty(2) != 0
    /// Seconds between progress lines when stderr is not a terminal.
    static let quietInterval = 30.0
    var lastPlainLine = -StageLog.quietInterval   // the first update is reported at once

    /// `append`: continue an existing log (a resumed stage) instead of starting it afresh.
    init(stage: String, path: String?, append: Bool = false) throws {
        self.stage = stage
        if let path {
            if !(append && FileManager.default.fileExists(atPath: path)) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
            guard let h = FileHandle(forWritingAtPath: path) else { throw StageError.cannotWrite(file: path, what: "the log") }
            if append { h.seekToEndOfFile() }
            handle = h
        } else {
            handle = nil
        }
    }

    /// One JSON line: `"stage"` (this log's stage, unless the fields name one themselves, as the
    /// pipeline's log does for each of its stages) and the fields, every key once.
    func record(_ fields: [(String, JSON)]) {
        let own: [(String, JSON)] = fields.contains { $0.0 == "stage" } ? [] : [("stage", .string(stage))]
        handle?.write(Data((JSON.object(own + fields).compact + "\n").utf8))
    }

    /// "train-rpn epoch 2/8 [=====>    ] 120/256 RPNAcc=0.91 … 35.2 updates/s ETA 4s" on a terminal
    /// Elsewhere (a log file, CI) a plain line at the first update and then every `quietInterval` s.
    /// A step whose box loss is this many times the median of the first steps' is a divergence.
    static let explosionFactor = 1000.0
    private var earlyLosses: [Double] = []
    /// The divergence warning, once one was given.
    private(set) var explosion: String?

    /// Watches each step's box loss (the sum of the weighted smooth-L1 the step computed): the median
    /// of the first 5 nonzero steps is the baseline, and the first step above `explosionFactor` times
    /// it is reported (stderr and log, once) and flagged on every later progress line. A NaN/Inf
    /// stops the stage elsewhere; this catches the growth before it.
    func watchLoss(_ value: Double, step: Int, epoch: Int) {
        guard value.isFinite, explosion == nil else { return }
        if earlyLosses.count < 5 {
            if value > 0 { earlyLosses.append(value) }
            return
        }
        let baseline = earlyLosses.sorted()[earlyLosses.count / 2]
        guard value > Self.explosionFactor * baseline else { return }
        let text = String(format: "%@: the loss is exploding: box loss %.4g at step %d (epoch %d) is %.0f× its median over the first steps (%.4g); "
                          + "the training is diverging (check the learning rate and the inputs)",
                          stage, value, step, epoch, value / baseline, baseline)
        explosion = text
        lastPlainLine = -StageLog.quietInterval   // the next progress line, flagged, comes at once
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
        FileHandle.standardError.write(Data(("warning: " + text + "\n").utf8))
        record([("epoch", .int(epoch)), ("step", .int(step)), ("warning", .string(text))])
    }

    func progress(epoch: Int, epochs: Int, step: Int, steps: Int, metrics: String) {
        let elapsed = Date().timeIntervalSince(start)
        if !interactive {
            guard elapsed - lastPlainLine >= StageLog.quietInterval else { return }
            lastPlainLine = elapsed
        }
        let done = Double((epoch - 1) * steps + step), rate = done / max(elapsed, 1e-9)
        let eta = (Double(epochs * steps) - done) / max(rate, 1e-9)
        let position: String
        if interactive {
            let width = 20, filled = steps > 0 ? width * step / steps : width
            position = "[" + String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled) + "]"
        } else {
            position = "step"
        }
        var line = String(format: "%@ epoch %d/%d %@ %d/%d %@ %.1f updates/s ETA %.0fs", stage, epoch, epochs, position, step, steps, metrics, rate, eta)
        if explosion != nil { line += " LOSS EXPLODING" }
        FileHandle.standardError.write(Data((interactive ? "\r" + line + "\u{1B}[K" + (step == steps ? "\n" : "") : line + "\n").utf8))
    }
}
