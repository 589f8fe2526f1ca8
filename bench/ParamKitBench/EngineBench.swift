// The engine's side of the benchmarks and of the whole-network check against MXNet:
//   engine-step DIR STAGE OUT [--probe] [--align FILE]
//                               one training step from bench/mx_train_step.py --dump-init DIR files;
//                               writes OUT/STAGE_grads.params (grad:NAME, out:…) and OUT/STAGE_after1.params;
//                               --probe also OUT/STAGE_probe.params (act:reluX_Y, argmax:poolN / roi_pool5);
//                               --align takes ReLU and pooling decisions that went the other way from
//                               the activations in FILE (act:NAME, mx_train_step.py --dump-internals)
//                               and prints the flips per layer as JSON (see Engine.ForwardProbe)
//   train NET STAGE H W [--iters N] [--freeze SPEC] [--profile [TOP]]
//                               ms per training iteration (forward, backward, SGD); --profile prints
//                               to stderr each op kind's and the TOP (25) slowest nodes' forward and backward ms
//   proposal IN OUT PRE POST    the Proposal op on IN's cls_prob/bbox_pred/im_info (.params), timed
//                               (median of 20 after 3 warm-ups); the rows go to OUT for comparison
//   conv-gflops [--only TEXT]   conv forward+backward GFLOP/s at VGG16 and tiny-vgg shapes (layers whose
//                               name contains TEXT), with the sgemm rates measured in the same run

import COpenBLAS
import Detection
import Engine
import Foundation
import ParamKit

enum EngineBench {
    static func blob(_ t: Tensor?, _ what: String) throws -> Blob {
        guard let t, t.dtype == .float32 else { throw UsageError("missing or non-float32 \(what)") }
        return t.withUnsafeBytes { Blob(shape: t.shape, data: Array($0.bindMemory(to: Float.self))) }
    }

    static func step(dir: String, stage: String, out: String, probe: Bool = false, align: String? = nil) throws {
        var reference: [String: Blob] = [:]
        if let align {
            for (info, t) in try Formats.load(path: align).tensors where info.name.hasPrefix("act:") {
                reference[String(info.name.dropFirst("act:".count))] = try blob(t, info.name)
            }
        }
        let wantProbe = probe || align != nil
        var recorded: ForwardProbe?
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(stage)_meta.json"))) as! [String: Any]
        let def = try NetworkDefinition.named(meta["net"] as! String)
        let initial = try Formats.load(path: "\(dir)/\(stage)_params.params")
        let batch = try Formats.load(path: "\(dir)/\(stage)_batch.params")
        let fixed = meta["fixed_param_names"] as! [String]
        let opt = meta["optimizer_params"] as! [String: Double]
        var sgd = SGD(schedule: MultiFactorSchedule(baseLR: opt["learning_rate"]!, steps: []), momentum: Float(opt["momentum"]!),
                      wd: Float(opt["wd"]!), clipGradient: Float(opt["clip_gradient"]!), rescaleGrad: Float(opt["rescale_grad"]!))
        let params: ParameterSet
        var outputs = Checkpoint()
        if stage == "rpn" {
            let net = RPNNetwork(def)
            if wantProbe { net.probe = ForwardProbe(reference: reference) }
            params = net.params
            try params.load(initial, file: dir)
            try params.freeze(FreezeSpec(entries: fixed, mode: .exact))
            let label = try blob(batch["arg:label"], "label").data
            _ = net.forwardBackward(data: try blob(batch["arg:data"], "data"), label: label,
                                    bboxTarget: try blob(batch["arg:bbox_target"], "bbox_target"), bboxWeight: try blob(batch["arg:bbox_weight"], "bbox_weight"))
            recorded = net.probe
        } else {
            let net = RCNNNetwork(def)
            net.dropout = (meta["dropout"] as? Bool ?? false) ? 0.5 : 0
            if wantProbe { net.probe = ForwardProbe(reference: reference) }
            params = net.params
            try params.load(initial, file: dir)
            try params.freeze(FreezeSpec(entries: fixed, mode: .exact))
            let rois = try blob(batch["arg:rois"], "rois"), label = try blob(batch["arg:label"], "label")
            let target = try blob(batch["arg:bbox_target"], "bbox_target"), weight = try blob(batch["arg:bbox_weight"], "bbox_weight")
            let r = rois.shape[1], c4 = target.shape[2]
            _ = net.forwardBackward(data: try blob(batch["arg:data"], "data"), rois: Blob(shape: [r, 5], data: rois.data), label: label.data,
                                    bboxTarget: Blob(shape: [r, c4], data: target.data), bboxWeight: Blob(shape: [r, c4], data: weight.data))
            recorded = net.probe
        }
        if let recorded {
            var p = Checkpoint()
            for (name, value) in recorded.activations { p.append("act:" + name, Tensor(value.data, shape: value.shape)) }
            for (name, value) in recorded.argmax { p.append("argmax:" + name, Tensor(dtype: .int32, shape: [value.count]) { dst in value.withUnsafeBytes { dst.copyMemory(from: $0) } }) }
            p.metadata = ["mxnet.keys": "plain"]
            if probe { try Formats.save(p, to: "\(out)/\(stage)_probe.params") }
            if align != nil {
                let layers = recorded.flips.sorted { $0.key < $1.key }.map { #""\#($0.key)": {"flips": \#($0.value.count), "max_gap": \#($0.value.maxGap)}"# }
                print(#"{"isa": "\#(KernelISA.current)", "gemm": "\#(Threads.gemm.rawValue)", "aligned_to": "\#(align!)", "layers": {\#(layers.joined(separator: ", "))}}"#)
            }
        }
        for p in params.ordered where !p.fixed { outputs.append("grad:" + p.name, Tensor(p.grad, shape: p.shape)) }
        outputs.metadata = ["mxnet.keys": "plain"]
        try Formats.save(outputs, to: "\(out)/\(stage)_grads.params")
        sgd.step(params)
        try Formats.save(params.checkpoint(), to: "\(out)/\(stage)_after1.params")
    }

    static func proposal(input: String, output: String, pre: Int, post: Int) throws -> String {
        let c = try Formats.load(path: input)
        let prob = try blob(c["arg:cls_prob"], "cls_prob"), deltas = try blob(c["arg:bbox_pred"], "bbox_pred"), info = try blob(c["arg:im_info"], "im_info")
        var config = ProposalConfig()
        config.preNMSTopN = pre
        config.postNMSTopN = post
        let (fh, fw) = (prob.shape[2], prob.shape[3])
        var result: Proposals?
        var times: [Double] = []
        for i in 0..<23 {
            let t0 = now()
            result = prob.data.withUnsafeBufferPointer { p in
                deltas.data.withUnsafeBufferPointer { d in
                    Proposal.run(clsProb: p, bboxPred: d, height: fh, width: fw, imInfo: (info.data[0], info.data[1], info.data[2]), config: config)
                }
            }
            if i >= 3 { times.append((now() - t0) * 1000) }
        }
        var out = Checkpoint()
        out.append("boxes", Tensor(result!.boxes, shape: [post, 4]))
        out.append("scores", Tensor(result!.scores, shape: [post]))
        out.metadata = ["mxnet.keys": "plain"]
        try Formats.save(out, to: output)
        return #"{"op": "proposal", "pre": \#(pre), "post": \#(post), "median_ms": \#(median(times)), "kept": \#(result!.kept)}"#
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    static func median(_ v: [Double]) -> Double { let s = v.sorted(); return s[s.count / 2] }

    static func train(net name: String, stage: String, height: Int, width: Int, iters: Int, freeze: String, profile top: Int = 0) throws -> String {
        let profile = top > 0
        let def = try NetworkDefinition.named(name)
        var rng = SeededGenerator(seed: 1)
        func blob(_ shape: [Int], _ range: ClosedRange<Float>) -> Blob {
            Blob(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float.random(in: range, using: &rng) })
        }
        func initialise(_ params: ParameterSet) {
            for p in params.ordered {
                // BatchNorm as MXNet initialises it (gamma and moving variance 1, beta and moving mean 0).
                if p.name.hasSuffix("_gamma") || p.name.hasSuffix("_moving_var") { p.value = [Float](repeating: 1, count: p.value.count); continue }
                if p.name.hasSuffix("_beta") || p.name.hasSuffix("_moving_mean") { p.value = [Float](repeating: 0, count: p.value.count); continue }
                var g = SeededGenerator(seed: 7, name: p.name)
                let fanIn = p.shape.dropFirst().reduce(1, *)
                let std = p.name.hasSuffix("_bias") ? 0 : (p.name.hasPrefix("rpn_") || p.name.hasPrefix("cls_score") ? 0.01
                          : p.name.hasPrefix("bbox_pred") ? 0.001 : (2.0 / Double(fanIn)).squareRoot())
                p.value.withUnsafeMutableBufferPointer { g.fillNormal($0, std: std) }
            }
        }
        let spec = freeze == "none" ? FreezeSpec(entries: []) : FreezeSpec.preset(freeze, family: def.family)!
        var sgd = SGD(schedule: MultiFactorSchedule(baseLR: 0.001, steps: []))
        let data = blob([1, 3, height, width], -128...128)
        var times: [Double] = []
        var feature = (0, 0)
        GraphProfile.enabled = profile
        var sgdTime = 0.0
        defer {
            if profile {
                let step = times.reduce(0, +) / Double(max(times.count, 1))
                FileHandle.standardError.write(Data((GraphProfile.report(top: top, per: iters) + "\n"
                    + String(format: "SGD update %.1f ms; whole step %.1f ms (mean)\n", sgdTime * 1000 / Double(iters), step)).utf8))
            }
        }
        if stage == "rpn" {
            let net = RPNNetwork(def)
            initialise(net.params)
            try net.params.freeze(spec)
            let (fh, fw) = net.featureSize(height: height, width: width)
            feature = (fh, fw)
            let a = def.anchors, n = a * fh * fw
            // 256 labelled anchors (64 fg, 192 bg), the rest ignored, as the reference batch.
            var label = [Float](repeating: -1, count: n)
            var idx = Array(0..<n); idx.shuffle(using: &rng)
            for (k, i) in idx.prefix(256).enumerated() { label[i] = k < 64 ? 1 : 0 }
            let target = blob([1, 4 * a, fh, fw], -0.5...0.5)
            var weight = Blob(zeros: target.shape)
            for i in 0..<n where label[i] == 1 {
                let (aa, hw) = (i / (fh * fw), i % (fh * fw))
                for k in 0..<4 { weight.data[(4 * aa + k) * fh * fw + hw] = 1 }
            }
            for i in 0..<(iters + 2) {
                let t0 = now()
                if profile && i == 2 { GraphProfile.reset(); sgdTime = 0 }
                net.params.zeroGrads()
                _ = net.forwardBackward(data: data, label: label, bboxTarget: target, bboxWeight: weight)
                let t1 = now()
                sgd.step(net.params)
                sgdTime += now() - t1
                if i >= 2 { times.append((now() - t0) * 1000) }
            }
        } else {
            let net = RCNNNetwork(def, seed: 3)
            initialise(net.params)
            try net.params.freeze(spec)
            let c = def.classes, r = 128
            var rois: [Float] = [], label: [Float] = []
            var target = Blob(zeros: [r, 4 * c]), weight = Blob(zeros: [r, 4 * c])
            for k in 0..<r {
                let x1 = Float.random(in: 0...Float(width - 32), using: &rng), y1 = Float.random(in: 0...Float(height - 32), using: &rng)
                rois += [0, x1, y1, min(Float(width - 1), x1 + Float.random(in: 16...200, using: &rng)), min(Float(height - 1), y1 + Float.random(in: 16...200, using: &rng))]
                let cls = k < 32 ? Int.random(in: 1..<c, using: &rng) : 0
                label.append(Float(cls))
                if cls > 0 { for j in 0..<4 { target.data[k * 4 * c + 4 * cls + j] = Float.random(in: -1...1, using: &rng); weight.data[k * 4 * c + 4 * cls + j] = 1 } }
            }
            let roiBlob = Blob(shape: [r, 5], data: rois)
            feature = RPNNetwork(def).featureSize(height: height, width: width)
            for i in 0..<(iters + 2) {
                let t0 = now()
                if profile && i == 2 { GraphProfile.reset(); sgdTime = 0 }
                net.params.zeroGrads()
                _ = net.forwardBackward(data: data, rois: roiBlob, label: label, bboxTarget: target, bboxWeight: weight)
                let t1 = now()
                sgd.step(net.params)
                sgdTime += now() - t1
                if i >= 2 { times.append((now() - t0) * 1000) }
            }
        }
        return #"{"net": "\#(name)", "stage": "\#(stage)", "height": \#(height), "width": \#(width), "threads": \#(Threads.count), "freeze": "\#(freeze)", "median_ms": \#(median(times)), "runs_ms": \#(times), "feature_shape": [\#(feature.0), \#(feature.1)]}"#
    }

    /// GFLOP/s of convolution forward + backward (weights and data) per layer shape, and the sgemm rate.
    static func convGFlops(only: String? = nil, skipIm2col: Bool = false, runs: Int = 3) -> String {
        var lines: [String] = []
        // sgemm peak: 2048³ NN, best of 5, through the engine's own threading, with OpenBLAS (the
        // reference the conv fractions divide by) and with the engine's own kernel for the current ISA.
        let n = 2048
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        let chosen = Threads.gemm
        var best = 0.0
        for backend in [GemmBackend.openblas, .native] where only == nil || (backend == .openblas && !skipIm2col) {
            Threads.setGemm(backend)
            guard Threads.gemm == backend else { continue }
            var rate = 0.0
            for _ in 0..<5 {
                let t0 = now()
                c.withUnsafeMutableBufferPointer { cp in
                    Engine.sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: cp.baseAddress!, ldc: n)
                }
                rate = max(rate, 2 * pow(Double(n), 3) / (now() - t0) / 1e9)
            }
            if backend == .openblas { best = rate }
            lines.append(#"{"kind": "sgemm", "backend": "\#(backend.rawValue)", "isa": "\#(KernelISA.current)", "n": \#(n), "gflops": \#(rate)}"#)
        }
        Threads.setGemm(chosen)
        // (name, in channels, out channels, height, width) of VGG16 at 600×1000, and tiny-vgg at the same size.
        let vgg: [(String, Int, Int, Int, Int)] = [
            ("conv1_2", 64, 64, 600, 1000), ("conv2_2", 128, 128, 300, 500), ("conv3_3", 256, 256, 150, 250),
            ("conv4_3", 512, 512, 75, 125), ("conv5_3", 512, 512, 37, 62)]
        let tiny: [(String, Int, Int, Int, Int)] = [
            ("tiny conv1_2", 4, 4, 600, 1000), ("tiny conv2_2", 8, 8, 300, 500), ("tiny conv3_3", 8, 8, 150, 250),
            ("tiny conv4_3", 16, 16, 75, 125), ("tiny conv5_3", 16, 16, 37, 62)]
        // tiny-vgg --width 4 (16/32/32/64/64) at 224×300: the mid-size network of the stage benches.
        let mid: [(String, Int, Int, Int, Int)] = [
            ("mid conv1_2", 16, 16, 224, 300), ("mid conv2_1", 16, 32, 112, 150), ("mid conv2_2", 32, 32, 112, 150),
            ("mid conv3_3", 32, 32, 56, 75), ("mid conv4_1", 32, 64, 28, 38), ("mid conv4_3", 64, 64, 28, 38),
            ("mid conv5_3", 64, 64, 14, 19)]
        var rng = SeededGenerator(seed: 7)
        for (name, cin, cout, h, w) in vgg + tiny + mid where only.map({ name.contains($0) }) ?? true {
            let x = Blob(shape: [1, cin, h, w], data: (0..<cin * h * w).map { _ in Float.random(in: 0...1, using: &rng) })
            let scale = Float((2.0 / Double(cin * 9)).squareRoot())
            let weight = (0..<cout * cin * 9).map { _ in Float.random(in: -scale...scale, using: &rng) }, bias = [Float](repeating: 0, count: cout)
            let flops = 3.0 * 2 * Double(cout * cin * 9) * Double(h * w)   // forward + dW + dX, counted as direct convolution
            var reference: (y: [Float], dx: [Float], dw: [Float])?
            for algorithm in [Convolution.Algorithm.im2col, .auto] where !(skipIm2col && algorithm == .im2col) {
                var conv = Convolution(kernel: (3, 3), pad: (1, 1), numFilter: cout)
                conv.algorithm = algorithm
                let resolved = conv.resolvedAlgorithm(inputChannels: cin)
                if algorithm == .auto && resolved == .im2col { continue }
                let label = resolved == .im2col ? "im2col" : "\(resolved)"
                var times: [Double] = []
                var result: (y: [Float], dx: [Float], dw: [Float]) = ([], [], [])
                // One warm-up, then at least `runs` timed runs, repeated until 0.2 s of them (at most 50):
                // a sub-millisecond layer is otherwise timed only three times on a noisy machine.
                var i = 0
                while i <= runs || (times.reduce(0, +) < 0.2 && times.count < 50) {
                    var gw = [Float](repeating: 0, count: weight.count), gb = [Float](repeating: 0, count: cout)
                    let t0 = now()
                    let y = conv.forward(x, weight: weight, bias: bias)
                    let dx = gw.withUnsafeMutableBufferPointer { gwp in
                        gb.withUnsafeMutableBufferPointer { gbp in
                            conv.backward(y, input: x, weight: weight, gradWeight: gwp.baseAddress, gradBias: gbp.baseAddress, inputGrad: true)!
                        }
                    }
                    if i > 0 { times.append(now() - t0) }
                    result = (y.data, dx.data, gw)
                    i += 1
                }
                // Largest difference from im2col relative to the largest im2col magnitude, over y, dX and dW.
                var error = 0.0
                if let ref = reference {
                    for (a, b) in [(result.y, ref.y), (result.dx, ref.dx), (result.dw, ref.dw)] {
                        let scale = Double(b.reduce(0) { max($0, abs($1)) })
                        let worst = Double(zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) })
                        error = max(error, worst / max(scale, 1e-30))
                    }
                } else {
                    reference = result
                }
                let t = times.min()!
                lines.append(#"{"kind": "conv", "layer": "\#(name)", "algorithm": "\#(label)", "shape": [\#(cin), \#(cout), \#(h), \#(w)], "seconds": \#(t), "timed_runs": \#(times.count), "gflops": \#(flops / t / 1e9), "fraction_of_sgemm": \#(best > 0 ? "\(flops / t / 1e9 / best)" : "null"), "max_rel_error_vs_im2col": \#(error), "gemm": "\#(Threads.gemm.rawValue)"}"#)
            }
        }
        return lines.joined(separator: "\n")
    }
}
