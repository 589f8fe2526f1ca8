// MXNet's Pooling: max or avg over kernel windows with stride and pad, the 'valid' (floor) or
// 'full' (ceil) output-size convention, global pooling, and for avg MXNet's count_include_pad rule
// (the divisor counts the window's padded cells, but not cells past the padding). Max pooling
// takes the first largest value in row-major window order; its backward sends the gradient there.
// 2×2 stride-2 max pooling runs the dedicated kernel in Layers/Pooling.

import ParamKit

public struct PoolingOp: Op {
    public enum Kind: String, Sendable { case max, avg }
    public enum Convention: String, Sendable { case valid, full }

    public var type: Kind
    public var kernel: (h: Int, w: Int)
    public var stride: (h: Int, w: Int)
    public var pad: (h: Int, w: Int)
    public var convention: Convention
    public var global: Bool
    public var countIncludePad: Bool

    public init(_ type: Kind, kernel: (Int, Int), stride: (Int, Int) = (1, 1), pad: (Int, Int) = (0, 0),
                convention: Convention = .valid, global: Bool = false, countIncludePad: Bool = true) {
        self.type = type
        self.kernel = (kernel.0, kernel.1)
        self.stride = (stride.0, stride.1)
        self.pad = (pad.0, pad.1)
        self.convention = convention
        self.global = global
        self.countIncludePad = countIncludePad
    }

    public var kind: String { "Pooling" }

    public var attributes: [String: String] {
        ["pool_type": type.rawValue, "kernel": MXNetAttribute.pair(kernel), "stride": MXNetAttribute.pair(stride),
         "pad": MXNetAttribute.pair(pad), "pooling_convention": convention.rawValue, "global_pool": MXNetAttribute.bool(global),
         "count_include_pad": MXNetAttribute.bool(countIncludePad)]
    }

    /// Kernel, stride and pad as applied to an input of h×w (global pooling covers it all).
    func window(_ h: Int, _ w: Int) -> (k: (Int, Int), s: (Int, Int), p: (Int, Int)) {
        global ? ((h, w), (1, 1), (0, 0)) : ((kernel.h, kernel.w), (stride.h, stride.w), (pad.h, pad.w))
    }

    static func size(_ x: Int, _ k: Int, _ s: Int, _ p: Int, _ c: Convention) -> Int {
        let span = x + 2 * p - k
        return (c == .valid ? span / s : (span + s - 1) / s) + 1
    }

    public func outputShape(_ inputs: [[Int]]) throws(GraphError) -> [Int] {
        let x = inputs[0]
        guard x.count == 4 else { throw GraphError.shape("Pooling needs a 4-d input (N, C, H, W), got \(x)") }
        let (k, s, p) = window(x[2], x[3])
        guard x[2] + 2 * p.0 >= k.0, x[3] + 2 * p.1 >= k.1 else {
            throw GraphError.shape("a \(k.0)×\(k.1) pooling window does not fit an input of \(x[2])×\(x[3]) with pad \(p.0),\(p.1)")
        }
        return [x[0], x[1], PoolingOp.size(x[2], k.0, s.0, p.0, convention), PoolingOp.size(x[3], k.1, s.1, p.1, convention)]
    }

    var isMax2x2: Bool {
        type == .max && !global && kernel == (2, 2) && stride == (2, 2) && pad == (0, 0)
    }

    public func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState) {
        let input = x[0]
        let out = (try? outputShape([input.shape])) ?? input.shape
        if isMax2x2 && out == MaxPool2x2().outputShape(input.shape) {
            let (y, arg) = MaxPool2x2().forward(input)
            return (y, .indices(arg, input: input.shape))
        }
        return type == .max ? maxForward(input, out) : (avgForward(input, out), .none)
    }

    /// Each output cell's window, clipped to the input, and avg's divisor.
    @inline(__always)
    func bounds(_ oh: Int, _ ow: Int, _ h: Int, _ w: Int, _ k: (Int, Int), _ s: (Int, Int), _ p: (Int, Int))
        -> (h0: Int, h1: Int, w0: Int, w1: Int, divisor: Int) {
        var h0 = oh * s.0 - p.0, w0 = ow * s.1 - p.1
        var h1 = min(h0 + k.0, h + p.0), w1 = min(w0 + k.1, w + p.1)
        let padded = (h1 - h0) * (w1 - w0)
        h0 = max(h0, 0); w0 = max(w0, 0); h1 = min(h1, h); w1 = min(w1, w)
        return (h0, h1, w0, w1, countIncludePad ? padded : (h1 - h0) * (w1 - w0))
    }

    func maxForward(_ x: Blob, _ out: [Int]) -> (Blob, OpState) {
        let (h, w, ho, wo) = (x.shape[2], x.shape[3], out[2], out[3])
        let (k, s, p) = window(h, w)
        var y = Blob(uninitialized: out)
        var arg = [Int32](repeating: -1, count: y.count)
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                arg.withUnsafeMutableBufferPointer { ap in
                    let shared = SendableBox((xp.baseAddress!, yp.baseAddress!, ap.baseAddress!))
                    parallelFor(out[0] * out[1]) { planes in
                        let (xp, yp, ap) = shared.value
                        for plane in planes {
                            let src = xp + plane * h * w, o = plane * ho * wo
                            for oh in 0..<ho {
                                for ow in 0..<wo {
                                    let b = bounds(oh, ow, h, w, k, s, p)
                                    var best = -Float.greatestFiniteMagnitude, at = -1
                                    for r in b.h0..<max(b.h1, b.h0) {
                                        for c in b.w0..<max(b.w1, b.w0) where src[r * w + c] > best || at < 0 {
                                            best = src[r * w + c]; at = r * w + c
                                        }
                                    }
                                    yp[o + oh * wo + ow] = best
                                    ap[o + oh * wo + ow] = Int32(at)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (y, .indices(arg, input: x.shape))
    }

    func avgForward(_ x: Blob, _ out: [Int]) -> Blob {
        let (h, w, ho, wo) = (x.shape[2], x.shape[3], out[2], out[3])
        let (k, s, p) = window(h, w)
        var y = Blob(uninitialized: out)
        x.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                let shared = SendableBox((xp.baseAddress!, yp.baseAddress!))
                parallelFor(out[0] * out[1]) { planes in
                    let (xp, yp) = shared.value
                    for plane in planes {
                        let src = xp + plane * h * w, o = plane * ho * wo
                        for oh in 0..<ho {
                            for ow in 0..<wo {
                                let b = bounds(oh, ow, h, w, k, s, p)
                                var sum: Float = 0
                                for r in b.h0..<max(b.h1, b.h0) { for c in b.w0..<max(b.w1, b.w0) { sum += src[r * w + c] } }
                                yp[o + oh * wo + ow] = b.divisor > 0 ? sum / Float(b.divisor) : 0
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    public func backwardReads(input i: Int) -> Bool { type == .avg }

    public func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                         wantInput: [Bool], context: inout OpContext) -> [Blob?] {
        let dy = dy!
        if case .indices(let arg, let shape) = state { return [scatterMax(dy, arg, shape)] }
        let x = inputs[0]
        let (h, w, ho, wo) = (x.shape[2], x.shape[3], dy.shape[2], dy.shape[3])
        let (k, s, p) = window(h, w)
        var dx = Blob(zeros: x.shape)
        dx.data.withUnsafeMutableBufferPointer { dp in
            dy.data.withUnsafeBufferPointer { gp in
                let shared = SendableBox((dp.baseAddress!, gp.baseAddress!))
                parallelFor(dy.shape[0] * dy.shape[1]) { planes in
                    let (dp, gp) = shared.value
                    for plane in planes {
                        let dst = dp + plane * h * w, o = plane * ho * wo
                        for oh in 0..<ho {
                            for ow in 0..<wo {
                                let b = bounds(oh, ow, h, w, k, s, p)
                                guard b.divisor > 0 else { continue }
                                let g = gp[o + oh * wo + ow] / Float(b.divisor)
                                for r in b.h0..<max(b.h1, b.h0) { for c in b.w0..<max(b.w1, b.w0) { dst[r * w + c] += g } }
                            }
                        }
                    }
                }
            }
        }
        return [dx]
    }

    func scatterMax(_ dy: Blob, _ arg: [Int32], _ inputShape: [Int]) -> Blob {
        var dx = Blob(zeros: inputShape)
        let plane = inputShape[2] * inputShape[3], outPlane = dy.shape[2] * dy.shape[3]
        dx.data.withUnsafeMutableBufferPointer { dxp in
            dy.data.withUnsafeBufferPointer { gp in
                arg.withUnsafeBufferPointer { ap in
                    let shared = SendableBox((dxp.baseAddress!, gp.baseAddress!, ap.baseAddress!))
                    parallelFor(dy.shape[0] * dy.shape[1]) { planes in
                        let (dxp, gp, ap) = shared.value
                        for p in planes {
                            for j in 0..<outPlane where ap[p * outPlane + j] >= 0 {
                                dxp[p * plane + Int(ap[p * outPlane + j])] += gp[p * outPlane + j]
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    public func probe(_ probe: inout ForwardProbe, node: String, inputName: String, inputs: OpValues, output: inout Blob, state: inout OpState) {
        guard type == .max, case .indices(var arg, let shape) = state else { return }
        let x = inputs[0]
        probe.pool(node, input: x, referenceInput: inputName, output: &output, argmax: &arg,
                   planeSize: x.shape[2] * x.shape[3], outPlaneSize: output.shape[2] * output.shape[3]) { ref in
            var values = OpValues([ref], owned: [false])
            var context = OpContext(training: false)
            guard case .indices(let a, _) = self.forward(&values, params: [], context: &context).1 else { return [] }
            return a
        }
        state = .indices(arg, input: shape)
    }
}
