// Every engine op against MXNet 1.9.1's own outputs and gradients in golden/ops.h5. Cases are read
// generically — by the `op` attribute and the op's parameters — so a golden file made with other
// seeds, shapes or parameters ($PARAMKIT_GOLDEN_OPS) is checked the same way.
//
// Tolerances: conv and FC ran on oneDNN kernels whose float32 summation order differs from
// OpenBLAS's, so they agree to ~1e-6 relative (Winograd's transforms add ~1e-5 of the largest
// magnitude, and every 3×3 / stride 1 / pad 1 case is run through im2col, F(2,3) and F(4,3));
// |a − b| ≤ 1e-4 + 1e-4·|b| leaves a margin while still catching any indexing or formula error
// (those show up at O(0.1)). Pooling, ReLU,
// ROIPooling forward/argmax, smooth-L1 and SGD have no reassociation and must match exactly
// or to 1 ulp-level (1e-6).

import Foundation
import Testing
@testable import Engine
import ParamKit

enum Golden {
    static let path: String = {
        if let p = ProcessInfo.processInfo.environment["PARAMKIT_GOLDEN_OPS"], !p.isEmpty { return p }
        if let f = ProcessInfo.processInfo.environment["PARAMKIT_FIXTURES"], !f.isEmpty { return f + "/golden/ops.h5" }
        // ../shared/fixtures beside the checkout when it is there, else tools/make_fixtures.py's output
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shared = root.deletingLastPathComponent().appendingPathComponent("shared/fixtures/golden/ops.h5").path
        return FileManager.default.fileExists(atPath: shared) ? shared : root.appendingPathComponent(".build/fixtures/golden/ops.h5").path
    }()

    static func file() throws -> HDF5File { try HDF5File(path: path) }

    /// Groups whose `op` attribute is one of `ops`.
    static func cases(_ ops: Set<String>) throws -> [String] {
        let f = try file()
        return try f.children().filter { try ops.contains(f.string("op", of: $0) ?? "") }
    }
}

struct Case {
    let f: HDF5File
    let group: String

    func blob(_ name: String) throws -> Blob {
        let (shape, values) = try f.dataset("\(group)/\(name)", as: Float.self)
        return Blob(shape: shape, data: values)
    }
    func has(_ name: String) throws -> Bool { try f.children(of: group).contains(name) }
    func int(_ name: String) throws -> Int { Int(try f.numbers(name, of: group)![0]) }
    func ints(_ name: String) throws -> [Int] { try f.numbers(name, of: group)!.map { Int($0) } }
    func double(_ name: String) throws -> Double { try f.numbers(name, of: group)![0] }
    func string(_ name: String) throws -> String { try f.string(name, of: group) ?? "" }
}

func expectClose(_ a: [Float], _ b: [Float], atol: Float = 1e-4, rtol: Float = 1e-4, _ what: String) {
    #expect(a.count == b.count, "\(what): \(a.count) values, expected \(b.count)")
    guard a.count == b.count else { return }
    var worst: Float = 0, at = -1
    for i in 0..<a.count {
        let excess = abs(a[i] - b[i]) - (atol + rtol * abs(b[i]))
        if excess > worst || (a[i].isNaN != b[i].isNaN) { worst = max(worst, excess); at = i }
    }
    #expect(at < 0, "\(what): element \(at) is \(at >= 0 ? a[at] : 0), MXNet gives \(at >= 0 ? b[at] : 0)")
}

struct GoldenOpTests {
    @Test func goldenFileHasCasesForEveryEngineOp() throws {
        let f = try Golden.file()
        let ops = Set(try f.children().compactMap { try f.string("op", of: $0) })
        for op in ["Convolution", "FullyConnected", "Pooling", "Activation", "ROIPooling", "SoftmaxOutput", "smooth_l1",
                   "MakeLoss", "sgd_mom_update", "mx.optimizer.SGD", "mx.lr_scheduler.MultiFactorScheduler"] {
            #expect(ops.contains(op), "no \(op) case in \(Golden.path)")
        }
    }

    @Test("Convolution matches MXNet", arguments: try Golden.cases(["Convolution"]))
    func convolution(group: String) throws {
        let c = Case(f: try Golden.file(), group: group)
        let k = try c.ints("kernel"), s = try c.ints("stride"), p = try c.ints("pad")
        #expect(try c.ints("dilate").allSatisfy { $0 == 1 } && (try c.int("num_group")) == 1)
        let base = Convolution(kernel: (k[0], k[1]), stride: (s[0], s[1]), pad: (p[0], p[1]), numFilter: try c.int("num_filter"))
        let x = try c.blob("data"), w = try c.blob("weight")
        let noBias = try c.int("no_bias") == 1
        let bias = noBias ? nil : try c.blob("bias").data
        // Every algorithm that applies to this case: im2col always, Winograd F(2,3) and F(4,3) for
        // 3×3 / stride 1 / pad 1 whatever the channel count, direct when the channels are 4, 8 or 16.
        var algorithms: [Convolution.Algorithm] = [.im2col]
        for forcing in [Convolution.Algorithm.winograd(tile: 2), .winograd(tile: 4), .direct] {
            var forced = base
            forced.algorithm = forcing
            if forced.resolvedAlgorithm(inputChannels: x.shape[1]) == forcing { algorithms.append(forcing) }
        }
        for algorithm in algorithms {
            var conv = base
            conv.algorithm = algorithm
            let what = "\(group) [\(algorithm)]"
            let y = conv.forward(x, weight: w.data, bias: bias)
            let ref = try c.blob("output")
            #expect(y.shape == ref.shape)
            expectClose(y.data, ref.data, "\(what) output")
            var gw = [Float](repeating: 0, count: w.count), gb = [Float](repeating: 0, count: bias?.count ?? 0)
            let dx = gw.withUnsafeMutableBufferPointer { gwp in
                gb.withUnsafeMutableBufferPointer { gbp in
                    conv.backward(try! c.blob("head_grad"), input: x, weight: w.data, gradWeight: gwp.baseAddress,
                                  gradBias: noBias ? nil : gbp.baseAddress, inputGrad: true)!
                }
            }
            expectClose(dx.data, try c.blob("grad_data").data, "\(what) grad_data")
            expectClose(gw, try c.blob("grad_weight").data, "\(what) grad_weight")
            if !noBias { expectClose(gb, try c.blob("grad_bias").data, "\(what) grad_bias") }
        }
    }

    @Test("FullyConnected matches MXNet", arguments: try Golden.cases(["FullyConnected"]))
    func fullyConnected(group: String) throws {
        let c = Case(f: try Golden.file(), group: group)
        #expect(try c.int("flatten") == 1)
        let fc = FullyConnected(numHidden: try c.int("num_hidden"))
        let x = try c.blob("data"), w = try c.blob("weight"), b = try c.blob("bias")
        expectClose(fc.forward(x, weight: w.data, bias: b.data).data, try c.blob("output").data, "\(group) output")
        var gw = [Float](repeating: 0, count: w.count), gb = [Float](repeating: 0, count: b.count)
        let dx = gw.withUnsafeMutableBufferPointer { gwp in
            gb.withUnsafeMutableBufferPointer { gbp in
                fc.backward(try! c.blob("head_grad"), input: x, weight: w.data, gradWeight: gwp.baseAddress, gradBias: gbp.baseAddress, inputGrad: true)!
            }
        }
        #expect(dx.shape == x.shape)
        expectClose(dx.data, try c.blob("grad_data").data, "\(group) grad_data")
        expectClose(gw, try c.blob("grad_weight").data, "\(group) grad_weight")
        expectClose(gb, try c.blob("grad_bias").data, "\(group) grad_bias")
    }

    @Test("max Pooling matches MXNet exactly", arguments: try Golden.cases(["Pooling"]))
    func pooling(group: String) throws {
        let c = Case(f: try Golden.file(), group: group)
        #expect(try c.string("pool_type") == "max" && c.ints("kernel") == [2, 2] && c.ints("stride") == [2, 2])
        #expect(try c.string("pooling_convention") == "valid")
        let x = try c.blob("data")
        let (y, arg) = MaxPool2x2().forward(x)
        #expect(y == (try c.blob("output")))
        #expect(MaxPool2x2().backward(try c.blob("head_grad"), argmax: arg, inputShape: x.shape).data == (try c.blob("grad_data")).data)
    }

    @Test("ReLU matches MXNet exactly, gradient 0 at 0", arguments: try Golden.cases(["Activation"]))
    func relu(group: String) throws {
        let c = Case(f: try Golden.file(), group: group)
        #expect(try c.string("act_type") == "relu")
        let y = ReLU.forward(try c.blob("data"))
        #expect(y == (try c.blob("output")))
        #expect(ReLU.backward(try c.blob("head_grad"), output: y).data == (try c.blob("grad_data")).data)
    }

    @Test("ROIPooling matches MXNet (forward and argmax exactly)", arguments: try Golden.cases(["ROIPooling"]))
    func roiPooling(group: String) throws {
        let c = Case(f: try Golden.file(), group: group)
        let p = try c.ints("pooled_size")
        let layer = ROIPooling(pooled: (p[0], p[1]), spatialScale: Float(try c.double("spatial_scale")))
        let data = try c.blob("data")
        let (y, arg) = layer.forward(data, rois: try c.blob("rois"))
        #expect(y == (try c.blob("output")))
        let refArg = try c.f.dataset("\(group)/maxidx", as: Int32.self).values
        #expect(arg == refArg)
        expectClose(layer.backward(try c.blob("head_grad"), argmax: arg, dataShape: data.shape).data,
                    try c.blob("grad_data").data, atol: 1e-6, rtol: 1e-6, "\(group) grad_data")
    }

    @Test("SoftmaxOutput matches MXNet", arguments: try Golden.cases(["SoftmaxOutput"]))
    func softmaxOutput(group: String) throws {
        let c = Case(f: try Golden.file(), group: group)
        let data = try c.blob("data"), label = try c.blob("label").data
        let prob = SoftmaxOutput.forward(data)
        expectClose(prob.data, try c.blob("output").data, atol: 1e-6, rtol: 1e-5, "\(group) output")
        let scale = Float(try c.double("grad_scale"))
        let grad: Blob
        if try c.int("multi_output") == 1 {
            #expect(try c.string("normalization") == "valid" && c.int("use_ignore") == 1)
            grad = SoftmaxOutput.backwardValid(prob: prob, label: label, ignore: Float(try c.double("ignore_label")), gradScale: scale)
        } else {
            #expect(try c.string("normalization") == "batch")
            grad = SoftmaxOutput.backwardBatch(prob: prob, label: label, gradScale: scale)
        }
        expectClose(grad.data, try c.blob("grad_data").data, atol: 1e-6, rtol: 1e-5, "\(group) grad_data")
    }

    @Test("smooth_l1 matches MXNet", arguments: try Golden.cases(["smooth_l1"]))
    func smoothL1(group: String) throws {
        let c = Case(f: try Golden.file(), group: group)
        let sigma = Float(try c.double("scalar"))
        let x = try c.blob("data").data, hg = try c.blob("head_grad").data
        #expect(x.map { SmoothL1.value($0, sigma: sigma) } == (try c.blob("output")).data)
        expectClose(zip(x, hg).map { SmoothL1.derivative($0, sigma: sigma) * $1 }, try c.blob("grad_data").data,
                    atol: 1e-7, rtol: 1e-6, "\(group) grad_data")
    }

    @Test("weighted smooth-L1 through MakeLoss matches MXNet", arguments: try Golden.cases(["MakeLoss"]))
    func makeLoss(group: String) throws {
        let c = Case(f: try Golden.file(), group: group)
        let (loss, grad) = SmoothL1.weightedLoss(pred: try c.blob("pred"), target: try c.blob("target"), weight: try c.blob("bbox_weight"),
                                                 sigma: Float(try c.double("scalar")), gradScale: Float(try c.double("grad_scale")))
        expectClose(loss.data, try c.blob("output").data, atol: 1e-7, rtol: 1e-6, "\(group) output")
        expectClose(grad.data, try c.blob("grad_pred").data, atol: 1e-9, rtol: 1e-6, "\(group) grad_pred")
    }

    @Test("sgd_mom_update steps match MXNet", arguments: try Golden.cases(["sgd_mom_update"]))
    func sgdMomUpdate(group: String) throws {
        let c = Case(f: try Golden.file(), group: group)
        var w = try c.blob("weight_init").data, mom = try c.blob("mom_init").data
        let grads = try c.blob("grads"), weights = try c.blob("weights"), moms = try c.blob("moms")
        let n = w.count
        for step in 0..<(try c.int("steps")) {
            SGD.update(weight: &w, grad: Array(grads.data[step * n..<(step + 1) * n]), mom: &mom, lr: Float(try c.double("lr")),
                       wd: Float(try c.double("wd")), momentum: Float(try c.double("momentum")),
                       rescale: Float(try c.double("rescale_grad")), clip: Float(try c.double("clip_gradient")))
            expectClose(w, Array(weights.data[step * n..<(step + 1) * n]), atol: 1e-7, rtol: 1e-6, "\(group) weight step \(step)")
            expectClose(mom, Array(moms.data[step * n..<(step + 1) * n]), atol: 1e-7, rtol: 1e-6, "\(group) mom step \(step)")
        }
    }

    @Test("SGD optimizer (schedule, wd by name) matches the MXNet Module path", arguments: try Golden.cases(["mx.optimizer.SGD"]))
    func sgdOptimizer(group: String) throws {
        let c = Case(f: try Golden.file(), group: group)
        let children = try c.f.children(of: group)
        let names = children.filter { $0.hasSuffix("_init") }.map { String($0.dropLast("_init".count)) }.sorted()
        let specs = try names.map { ParamSpec(name: $0, role: .arg, shape: try c.blob($0 + "_init").shape, group: "rcnn", initialisation: .zeros) }
        let params = ParameterSet(specs)
        for n in names { params[n].value = try c.blob(n + "_init").data }
        var sgd = SGD(schedule: MultiFactorSchedule(baseLR: try c.double("learning_rate"), steps: try c.ints("lr_steps"), factor: try c.double("lr_factor")),
                      momentum: Float(try c.double("momentum")), wd: Float(try c.double("wd")),
                      clipGradient: Float(try c.double("clip_gradient")), rescaleGrad: Float(try c.double("rescale_grad")))
        let lrs = try c.f.dataset("\(group)/lrs", as: Double.self).values
        for step in 0..<(try c.int("steps")) {
            for n in names {
                let g = try c.blob(n + "_grads"), k = params[n].value.count
                params[n].grad = Array(g.data[step * k..<(step + 1) * k])
            }
            #expect(abs(sgd.schedule.lr(step + 1) - lrs[step]) < 1e-12)
            sgd.step(params)
            for n in names {
                let k = params[n].value.count
                expectClose(params[n].value, Array(try c.blob(n + "_weights").data[step * k..<(step + 1) * k]), atol: 1e-7, rtol: 1e-6, "\(n) step \(step)")
                expectClose(params[n].momentum, Array(try c.blob(n + "_moms").data[step * k..<(step + 1) * k]), atol: 1e-7, rtol: 1e-6, "\(n) mom step \(step)")
            }
        }
        for n in names {
            #expect(abs(Double(SGD.decays(n) ? sgd.wd : 0) - (try c.double("wd_" + n))) < 1e-9, "wd of \(n)")
        }
    }

    @Test("MultiFactorScheduler matches MXNet", arguments: try Golden.cases(["mx.lr_scheduler.MultiFactorScheduler"]))
    func multiFactor(group: String) throws {
        let c = Case(f: try Golden.file(), group: group)
        let s = MultiFactorSchedule(baseLR: try c.double("base_lr"), steps: try c.ints("step"), factor: try c.double("factor"))
        let n = try c.f.dataset("\(group)/num_update", as: Int64.self).values
        let lr = try c.f.dataset("\(group)/lr", as: Double.self).values
        for (u, l) in zip(n, lr) { #expect(abs(s.lr(Int(u)) - l) <= 1e-15 * l, "num_update \(u)") }
    }
}
