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
        return try FreezeSpec.parse(text, family: .vgg, names: names)
    }

    /// Fills `params` from a checkpoint; parameters named in `redraw` (the heads a stage trains
    /// afresh) are drawn from their definition's initialisation instead, seeded per name.
    static func initialise(_ params: ParameterSet, definition: NetworkDefinition, from checkpoint: Checkpoint, file: String,
                           redraw: Set<String>, seed: UInt64) throws {
        for p in params.ordered {
            let spec = definition.params.first { $0.name == p.name }!
            if redraw.contains(p.name) {
                draw(p, spec.initialisation, seed: seed)
                continue
            }
            guard let t = checkpoint["arg:" + p.name] else {
                throw StageError("\(file): no arg:\(p.name), which the \(definition.name) network needs")
            }
            guard t.dtype == .float32, t.shape == p.shape else {
                throw StageError("\(file): arg:\(p.name) is \(t.dtype.rawValue) \(Shape.text(t.shape)), expected float32 \(Shape.text(p.shape))")
            }
            t.withUnsafeBytes { p.value = Array($0.bindMemory(to: Float.self)) }
        }
    }

    static func draw(_ p: Parameter, _ initialisation: Initialisation, seed: UInt64) {
        switch initialisation {
        case let .normal(std):
            var g = SeededGenerator(seed: seed, name: "arg:" + p.name)
            p.value.withUnsafeMutableBufferPointer { g.fillNormal($0, std: std) }
        default:
            p.value = [Float](repeating: 0, count: p.value.count)
        }
    }

    /// `out/rpn1.h5`, epoch 3 → `out/rpn1-0003.h5` (MXNet's prefix-%04d naming, any extension).
    static func epochPath(_ output: String, _ epoch: Int) -> String {
        let url = URL(fileURLWithPath: output)
        let ext = url.pathExtension
        let stem = url.deletingPathExtension().path
        return stem + "-" + String(format: "%04d", epoch) + (ext.isEmpty ? "" : "." + ext)
    }

    /// After a forward/backward: stop on NaN/Inf (naming the step and tensor), else take the SGD
    /// step, let `updateMetrics` add this step to the running metrics, and report them.
    static func finishStep(_ stage: String, _ l: StepLosses, params: ParameterSet, sgd: inout SGD, log: StageLog, step: Int,
                           epoch: Int, of epochs: Int, at k: Int, steps: Int, image: String, lastGood: String?,
                           updateMetrics: () -> [any RunningMetric]) throws {
        let lossFinite = l.prob.data.allSatisfy(\.isFinite) && l.bboxLoss.data.allSatisfy(\.isFinite)
        if !lossFinite || nonFinite(params) != nil {
            throw StageError("\(stage): NaN/Inf at step \(step) (epoch \(epoch), image \(image)) in \(nonFinite(params) ?? "the loss"); "
                             + "stopped. Last good checkpoint: \(lastGood ?? "none (first epoch)")")
        }
        sgd.step(params)
        let metrics = updateMetrics()
        log.progress(epoch: epoch, epochs: epochs, step: k, steps: steps,
                     metrics: metrics.map { "\($0.name)=\(String(format: "%.4f", $0.value))" }.joined(separator: " "))
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

/// A JSON-lines log beside the output, and a progress line on stderr (only on a terminal).
public final class StageLog {
    let handle: FileHandle?
    let stage: String
    let start = Date()
    let interactive = isatty(2) != 0

    init(stage: String, path: String?) throws {
        self.stage = stage
        if let path {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            guard let h = FileHandle(forWritingAtPath: path) else { throw StageError("\(path): cannot write the log") }
            handle = h
        } else {
            handle = nil
        }
    }

    func record(_ fields: [(String, JSON)]) {
        handle?.write(Data((JSON.object([("stage", .string(stage))] + fields).compact + "\n").utf8))
    }

    /// "train-rpn epoch 2/8 [=====>    ] 120/256 RPNAcc=0.91 … 35.2 img/s ETA 4s"
    func progress(epoch: Int, epochs: Int, step: Int, steps: Int, metrics: String) {
        guard interactive else { return }
        let elapsed = Date().timeIntervalSince(start)
        let done = Double((epoch - 1) * steps + step)
        let rate = done / max(elapsed, 1e-9)
        let eta = (Double(epochs * steps) - done) / max(rate, 1e-9)
        let width = 20, filled = steps > 0 ? width * step / steps : width
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        FileHandle.standardError.write(Data(String(format: "\r%@ epoch %d/%d [%@] %d/%d %@ %.1f img/s ETA %.0fs\u{1B}[K",
                                                   stage, epoch, epochs, bar, step, steps, metrics, rate, eta).utf8))
        if step == steps { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
