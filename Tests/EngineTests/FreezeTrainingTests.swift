// Training with frozen layers: fixed parameters are bit-identical after several SGD steps while the
// trainable ones move, and backward computes nothing below the lowest trainable layer.

import Testing
@testable import Engine
import ParamKit

struct FreezeTrainingTests {
    static func initialised(_ params: ParameterSet, seed: UInt64) {
        for p in params.ordered {
            var g = SeededGenerator(seed: seed, name: p.name)
            let fanIn = p.shape.dropFirst().reduce(1, *)
            let std = p.name.hasSuffix("_bias") ? 0.01 : (2.0 / Double(max(fanIn, 1))).squareRoot()
            p.value.withUnsafeMutableBufferPointer { g.fillNormal($0, std: std) }
        }
    }

    func rpnBatch(_ net: RPNNetwork, height: Int, width: Int, rng: inout RandomSource) -> (Blob, [Float], Blob, Blob) {
        let (fh, fw) = net.featureSize(height: height, width: width)
        let a = net.definition.anchors
        let data = rng.blob([1, 3, height, width], scale: 50)
        let label = (0..<(a * fh * fw)).map { _ in Float(rng.int(-1...1)) }
        let target = rng.blob([1, 4 * a, fh, fw], scale: 0.5)
        let weight = Blob(shape: target.shape, data: (0..<target.count).map { _ in Float(rng.int(0...1)) })
        return (data, label, target, weight)
    }

    @Test func sharedFreezeLeavesEveryConvUntouchedAndSkipsTheBackbone() throws {
        let net = RPNNetwork(try NetworkDefinition.named("tiny-vgg"))
        Self.initialised(net.params, seed: 1)
        let report = try net.params.freeze(FreezeSpec.preset("FIXED_PARAMS_SHARED", family: .vgg)!)
        #expect(report.frozen.count == 26)
        let before = net.params.ordered.map(\.value)
        var sgd = SGD(schedule: MultiFactorSchedule(baseLR: 0.01, steps: []))
        var rng = RandomSource(7)
        for _ in 0..<3 {
            let (data, label, target, weight) = rpnBatch(net, height: 64, width: 80, rng: &rng)
            net.params.zeroGrads()
            _ = net.forwardBackward(data: data, label: label, bboxTarget: target, bboxWeight: weight)
            #expect(net.backwardTrace.isEmpty)   // all 13 convs frozen: no backbone backward at all
            sgd.step(net.params)
        }
        for (p, v) in zip(net.params.ordered, before) {
            if p.fixed {
                #expect(p.value == v, "\(p.name) changed although frozen")
                #expect(p.grad.allSatisfy { $0 == 0 }, "\(p.name) has a gradient although frozen")
            } else {
                #expect(p.value != v, "\(p.name) did not move")
            }
        }
    }

    @Test func fixedParamsStopsBackwardAtConv3() throws {
        let net = RPNNetwork(try NetworkDefinition.named("tiny-vgg"))
        Self.initialised(net.params, seed: 2)
        try net.params.freeze(FreezeSpec.preset("FIXED_PARAMS", family: .vgg)!)
        var rng = RandomSource(8)
        let (data, label, target, weight) = rpnBatch(net, height: 64, width: 64, rng: &rng)
        net.params.zeroGrads()
        _ = net.forwardBackward(data: data, label: label, bboxTarget: target, bboxWeight: weight)
        // conv5_3 … conv3_1 get weight gradients; only conv3_1 skips its data gradient; conv2/conv1 nothing.
        #expect(net.backwardTrace.count == 9)
        #expect(net.backwardTrace.last == "conv3_1: dW db")
        #expect(net.backwardTrace.dropLast().allSatisfy { $0.hasSuffix("dW db dX") })
        #expect(net.params["conv3_1_weight"].grad.contains { $0 != 0 })
        #expect(net.params["conv2_2_weight"].grad.allSatisfy { $0 == 0 })
    }

    @Test func aTrainingStepIsDeterministicForAFixedThreadCount() throws {
        func run() throws -> [[Float]] {
            let net = RPNNetwork(try NetworkDefinition.named("tiny-vgg", width: 2))
            Self.initialised(net.params, seed: 4)
            try net.params.freeze(FreezeSpec.preset("FIXED_PARAMS", family: .vgg)!)
            var rng = RandomSource(10)
            let (data, label, target, weight) = rpnBatch(net, height: 96, width: 128, rng: &rng)
            var sgd = SGD(schedule: MultiFactorSchedule(baseLR: 0.01, steps: []))
            for _ in 0..<2 {
                net.params.zeroGrads()
                _ = net.forwardBackward(data: data, label: label, bboxTarget: target, bboxWeight: weight)
                sgd.step(net.params)
            }
            return net.params.ordered.map(\.value)
        }
        #expect(try run() == run())
    }

    @Test func rcnnTrainsHeadAndFreezesBackbone() throws {
        let net = RCNNNetwork(try NetworkDefinition.named("tiny-vgg"), seed: 3)
        Self.initialised(net.params, seed: 3)
        try net.params.freeze(FreezeSpec.preset("FIXED_PARAMS_SHARED", family: .vgg)!)
        var rng = RandomSource(9)
        let data = rng.blob([1, 3, 96, 96], scale: 50)
        var roiValues: [Float] = []
        for i in 0..<8 {
            let x1 = Float(i * 4), y1 = Float(i * 3)
            roiValues += [0, x1, y1, x1 + 40, y1 + 50]
        }
        let rois = Blob(shape: [8, 5], data: roiValues)
        let label: [Float] = [1, 2, 3, 0, 0, 0, 1, 0]
        let target = rng.blob([8, 16], scale: 0.5)
        var weightValues = [Float](repeating: 0, count: 128)
        for r in 0..<8 where label[r] > 0 { for k in 0..<4 { weightValues[r * 16 + Int(label[r]) * 4 + k] = 1 } }
        let weight = Blob(shape: [8, 16], data: weightValues)
        let before = net.params.ordered.map(\.value)
        var sgd = SGD(schedule: MultiFactorSchedule(baseLR: 0.01, steps: []))
        for _ in 0..<2 {
            net.params.zeroGrads()
            let losses = net.forwardBackward(data: data, rois: rois, label: label, bboxTarget: target, bboxWeight: weight)
            #expect(losses.prob.shape == [8, 4] && losses.prob.data.allSatisfy(\.isFinite) && losses.bboxLoss.shape == [8, 16])
            #expect(net.backwardTrace.isEmpty)
            sgd.step(net.params)
        }
        for (p, v) in zip(net.params.ordered, before) { #expect((p.value == v) == p.fixed, "\(p.name)") }
    }
}
