// Convolution (cross-correlation, weight OIHW, optional bias) as im2col + sgemm, with backward to
// the weights, the bias and (when asked) the data. Columns are built a tile of output rows at a
// time (about 8 MB) and rebuilt in backward instead of kept. 3×3 convolutions with stride 1 and
// padding 1 between layers of 4 or more channels use Winograd F(4×4, 3×3) instead (Winograd.swift),
// or at exactly 4 channels a direct kernel (Direct3x3.swift).

import COpenBLAS
import ParamKit

public struct Convolution: Sendable {
    public var kernel: (h: Int, w: Int)
    public var stride: (h: Int, w: Int)
    public var pad: (h: Int, w: Int)
    public var numFilter: Int
    /// Column-buffer budget in floats (2M = 8 MB) that sets the rows per tile.
    var tileElements = 2 << 20
    /// How the product is computed; `.auto` picks Winograd where it applies and pays.
    public var algorithm: Algorithm = .auto
    /// Winograd chunk budget in floats per transformed buffer (3M = 12 MB).
    var winogradChunkFloats = 3 << 20

    public enum Algorithm: Sendable, Equatable {
        /// For 3×3 / stride 1 / pad 1: direct with 4 input and output channels, Winograd F(4×4, 3×3) with
        /// ≥ 4 (below 4 the transforms cost more than the products they save); else im2col.
        case auto
        case im2col
        /// Winograd F(m×m, 3×3), m = 2 or 4; only for 3×3 / stride 1 / pad 1 (others fall back to im2col).
        case winograd(tile: Int)
        /// Direct 3×3 / stride 1 / pad 1 with 4, 8 or 16 input and output channels (others fall back to im2col).
        case direct
        /// im2col over many images at once: one GEMM whose columns are every image's output pixels
        /// (`.auto` uses it for ≥ 8 images of ≤ 256 output pixels, e.g. ROI-pooled maps).
        case batched
    }

    /// `.auto` batches the images of an input with at least this many images …
    static let batchedMinImages = 8
    /// … and at most this many output pixels each.
    static let batchedMaxPixels = 256

    /// Whether an input of `n` images with `spatial` output pixels each runs as one batched GEMM.
    func useBatched(images n: Int, spatial: Int) -> Bool {
        switch algorithm {
        case .batched: return true
        case .auto: return n >= Convolution.batchedMinImages && spatial <= Convolution.batchedMaxPixels
        default: return false
        }
    }

    /// `.auto` convolves directly up to this many channels: at 4 (tiny-vgg conv1_2) direct beats
    /// Winograd 1.4×, at 8 and 16 Winograd wins (measured with `ParamKitBench conv-gflops --only tiny`).
    static let directMaxChannels = 4

    public init(kernel: (Int, Int), stride: (Int, Int) = (1, 1), pad: (Int, Int) = (0, 0), numFilter: Int) {
        self.kernel = (kernel.0, kernel.1)
        self.stride = (stride.0, stride.1)
        self.pad = (pad.0, pad.1)
        self.numFilter = numFilter
    }

    public func outputShape(_ x: [Int]) -> [Int] {
        [x[0], numFilter, (x[2] + 2 * pad.h - kernel.h) / stride.h + 1, (x[3] + 2 * pad.w - kernel.w) / stride.w + 1]
    }

    /// What `.auto` (or an inapplicable `.winograd` / `.direct`) resolves to for an input with `channels` channels.
    public func resolvedAlgorithm(inputChannels channels: Int) -> Algorithm {
        if useDirect(channels: channels) { return .direct }
        return winograd(channels: channels).map { .winograd(tile: $0.m) } ?? .im2col
    }

    var is3x3Same: Bool { kernel == (3, 3) && stride == (1, 1) && pad == (1, 1) }

    func useDirect(channels: Int) -> Bool {
        guard is3x3Same, Direct3x3.supports(outChannels: numFilter, inChannels: channels) else { return false }
        switch algorithm {
        case .direct: return true
        case .auto: return max(channels, numFilter) <= Convolution.directMaxChannels
        case .im2col, .winograd, .batched: return false
        }
    }

    /// The same-size 3×3 method for an input with `channels` channels, or nil for im2col.
    func sameSize(channels: Int) -> SameSize? {
        if useDirect(channels: channels) { return .direct }
        return winograd(channels: channels).map { .winograd($0) }
    }

    /// The Winograd plan for an input with `channels` channels, or nil for im2col.
    func winograd(channels: Int) -> Winograd? {
        guard is3x3Same, !useDirect(channels: channels) else { return nil }
        switch algorithm {
        case .im2col, .direct, .batched: return nil
        case .winograd(let m): return Winograd(m: m == 2 ? 2 : 4, budget: winogradChunkFloats)
        case .auto: return channels >= 4 && numFilter >= 4 ? Winograd(m: 4, budget: winogradChunkFloats) : nil
        }
    }

    /// 1×1, stride 1, no padding: the input already is the column matrix.
    var isPointwise: Bool { kernel == (1, 1) && stride == (1, 1) && pad == (0, 0) }

    func ones(_ n: Int) -> [Float] { [Float](repeating: 1, count: n) }

    /// Output rows per im2col tile: the column buffer stays near 8 MB however large the image, so
    /// im2col, sgemm and col2im work in cache instead of streaming a gigabyte-sized matrix.
    func tileRows(kdim: Int, outW: Int, outH: Int) -> Int {
        max(1, min(outH, tileElements / max(kdim * outW, 1)))
    }

    public func forward(_ x: Blob, weight: [Float], bias: [Float]?) -> Blob {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let out = outputShape(x.shape)
        let (ho, wo) = (out[2], out[3])
        let kdim = c * kernel.h * kernel.w, spatial = ho * wo
        precondition(weight.count == numFilter * kdim, "convolution weight has \(weight.count) values, expected \(numFilter * kdim)")
        var y = Blob(uninitialized: out)   // every element is written: bias fill, or GEMM with beta 0
        if useBatched(images: n, spatial: spatial) {
            batchedForward(x, weight: weight, bias: bias, into: &y)
            return y
        }
        if let fast = sameSize(channels: c) {
            let filter = weight.withUnsafeBufferPointer { fast.forwardFilter($0.baseAddress!, outChannels: numFilter, inChannels: c) }
            x.data.withUnsafeBufferPointer { xp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    filter.withUnsafeBufferPointer { fp in
                        (bias ?? []).withUnsafeBufferPointer { bp in
                            for i in 0..<n {
                                fast.convolve(xp.baseAddress! + i * c * h * w, channels: c, height: h, width: w, filter: fp.baseAddress!,
                                              outChannels: numFilter, bias: bias == nil ? nil : bp.baseAddress, into: yp.baseAddress! + i * numFilter * spatial)
                            }
                        }
                    }
                }
            }
            return y
        }
        let rows = tileRows(kdim: kdim, outW: wo, outH: ho)
        var col = [Float](repeating: 0, count: isPointwise ? 0 : kdim * rows * wo)
        x.data.withUnsafeBufferPointer { xp in
            weight.withUnsafeBufferPointer { wp in
                y.data.withUnsafeMutableBufferPointer { yp in
                    for i in 0..<n {
                        let xi = xp.baseAddress! + i * c * h * w
                        let yi = yp.baseAddress! + i * numFilter * spatial
                        if let bias {
                            for o in 0..<numFilter { (yi + o * spatial).update(repeating: bias[o], count: spatial) }
                        }
                        let beta: Float = bias == nil ? 0 : 1
                        if isPointwise {
                            // Y[O, HW] = W[O, C] · X[C, HW] (+ bias already in Y)
                            sgemm(m: numFilter, n: spatial, k: kdim, a: wp.baseAddress!, lda: kdim, b: xi, ldb: spatial, beta: beta, c: yi, ldc: spatial)
                            continue
                        }
                        col.withUnsafeMutableBufferPointer { cp in
                            for r0 in Swift.stride(from: 0, to: ho, by: rows) {
                                let r1 = min(ho, r0 + rows), cols = (r1 - r0) * wo
                                im2col(xi, channels: c, height: h, width: w, rows: r0..<r1, outW: wo, into: cp.baseAddress!)
                                // Y[O, tile] = W[O, CKK] · col[CKK, tile]
                                sgemm(m: numFilter, n: cols, k: kdim, a: wp.baseAddress!, lda: kdim, b: cp.baseAddress!, ldb: cols,
                                      beta: beta, c: yi + r0 * wo, ldc: spatial)
                            }
                        }
                    }
                }
            }
        }
        return y
    }

    /// Accumulates dW (and dB) into `gradWeight`/`gradBias` when given; returns dX when `inputGrad`.
    public func backward(_ dy: Blob, input x: Blob, weight: [Float], gradWeight: UnsafeMutablePointer<Float>?,
                         gradBias: UnsafeMutablePointer<Float>?, inputGrad: Bool) -> Blob? {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (ho, wo) = (dy.shape[2], dy.shape[3])
        let kdim = c * kernel.h * kernel.w, spatial = ho * wo
        if useBatched(images: n, spatial: spatial) {
            return batchedBackward(dy, input: x, weight: weight, gradWeight: gradWeight, gradBias: gradBias, inputGrad: inputGrad)
        }
        if let fast = sameSize(channels: c) {
            return sameSizeBackward(fast, dy, input: x, weight: weight, gradWeight: gradWeight, gradBias: gradBias, inputGrad: inputGrad)
        }
        var dx: Blob? = inputGrad ? Blob(zeros: x.shape) : nil
        let rows = tileRows(kdim: kdim, outW: wo, outH: ho)
        var col = [Float](repeating: 0, count: isPointwise || gradWeight == nil ? 0 : kdim * rows * wo)
        var dcol = [Float](repeating: 0, count: inputGrad && !isPointwise ? kdim * rows * wo : 0)
        dy.data.withUnsafeBufferPointer { dyp in
            x.data.withUnsafeBufferPointer { xp in
                weight.withUnsafeBufferPointer { wp in
                    for i in 0..<n {
                        let dyi = dyp.baseAddress! + i * numFilter * spatial
                        let xi = xp.baseAddress! + i * c * h * w
                        if let gradBias { accumulateBiasGradient(dyi, spatial: spatial, into: gradBias) }
                        if isPointwise {
                            // dW[O, C] += dY[O, HW] · X[C, HW]ᵀ ;  dX[C, HW] = Wᵀ[C, O] · dY[O, HW]
                            if let gradWeight {
                                sgemm(transB: true, m: numFilter, n: kdim, k: spatial, a: dyi, lda: spatial, b: xi, ldb: spatial, beta: 1, c: gradWeight, ldc: kdim)
                            }
                            if inputGrad {
                                dx!.data.withUnsafeMutableBufferPointer { dxp in
                                    sgemm(transA: true, m: kdim, n: spatial, k: numFilter, a: wp.baseAddress!, lda: kdim, b: dyi, ldb: spatial, c: dxp.baseAddress! + i * c * h * w, ldc: spatial)
                                }
                            }
                            continue
                        }
                        for r0 in Swift.stride(from: 0, to: ho, by: rows) {
                            let r1 = min(ho, r0 + rows), cols = (r1 - r0) * wo
                            if let gradWeight {
                                col.withUnsafeMutableBufferPointer { cp in
                                    im2col(xi, channels: c, height: h, width: w, rows: r0..<r1, outW: wo, into: cp.baseAddress!)
                                    // dW[O, CKK] += dY[O, tile] · colᵀ[tile, CKK]
                                    sgemm(transB: true, m: numFilter, n: kdim, k: cols, a: dyi + r0 * wo, lda: spatial, b: cp.baseAddress!, ldb: cols,
                                          beta: 1, c: gradWeight, ldc: kdim)
                                }
                            }
                            if inputGrad {
                                dcol.withUnsafeMutableBufferPointer { dcp in
                                    // dcol[CKK, tile] = Wᵀ[CKK, O] · dY[O, tile], then scattered back onto dX
                                    sgemm(transA: true, m: kdim, n: cols, k: numFilter, a: wp.baseAddress!, lda: kdim, b: dyi + r0 * wo, ldb: spatial,
                                          c: dcp.baseAddress!, ldc: cols)
                                    dx!.data.withUnsafeMutableBufferPointer { dxp in
                                        col2im(dcp.baseAddress!, channels: c, height: h, width: w, rows: r0..<r1, outW: wo, into: dxp.baseAddress! + i * c * h * w)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    /// Backward for Winograd or the direct kernel: dB, dW from the method's own weight gradient, dX as
    /// the same-size convolution of dY with the flipped, transposed filter.
    func sameSizeBackward(_ fast: SameSize, _ dy: Blob, input x: Blob, weight: [Float], gradWeight: UnsafeMutablePointer<Float>?,
                          gradBias: UnsafeMutablePointer<Float>?, inputGrad: Bool) -> Blob? {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let spatial = h * w
        var dx: Blob? = inputGrad ? Blob(uninitialized: x.shape) : nil
        let filter = inputGrad ? weight.withUnsafeBufferPointer { fast.dataGradientFilter($0.baseAddress!, outChannels: numFilter, inChannels: c) } : []
        dy.data.withUnsafeBufferPointer { dyp in
            x.data.withUnsafeBufferPointer { xp in
                for i in 0..<n {
                    let dyi = dyp.baseAddress! + i * numFilter * spatial
                    if let gradBias { accumulateBiasGradient(dyi, spatial: spatial, into: gradBias) }
                    if let gradWeight {
                        fast.accumulateWeightGradient(input: xp.baseAddress! + i * c * spatial, channels: c, height: h, width: w,
                                                      outputGrad: dyi, outChannels: numFilter, into: gradWeight)
                    }
                    if inputGrad {
                        filter.withUnsafeBufferPointer { fp in
                            dx!.data.withUnsafeMutableBufferPointer { dxp in
                                fast.convolve(dyi, channels: numFilter, height: h, width: w, filter: fp.baseAddress!, outChannels: c, bias: nil,
                                              into: dxp.baseAddress! + i * c * spatial)
                            }
                        }
                    }
                }
            }
        }
        return dx
    }

    /// dB[O] += dY[O, HW] · 1, the output channels shared between the threads.
    func accumulateBiasGradient(_ dy: UnsafePointer<Float>, spatial: Int, into gradBias: UnsafeMutablePointer<Float>) {
        ones(spatial).withUnsafeBufferPointer { one in
            let shared = SendableBox((dy, one.baseAddress!, gradBias))
            parallelFor(numFilter, minimumPerThread: max(1, (1 << 16) / max(spatial, 1))) { r in
                let (dy, one, gradBias) = shared.value
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(r.count), Int32(spatial), 1, dy + r.lowerBound * spatial, Int32(spatial),
                            one, 1, 1, gradBias + r.lowerBound, 1)
            }
        }
    }

    /// col[(c·KH + kh)·KW + kw, (oh − rows.lower)·Wo + ow] = x[c, oh·s − p + kh, ow·s − p + kw] (0 outside),
    /// for the output rows `rows`.
    /// `ld` is the distance between the column matrix's rows (default: the tile's width).
    func im2col(_ x: UnsafePointer<Float>, channels: Int, height: Int, width: Int, rows: Range<Int>, outW: Int,
                into col: UnsafeMutablePointer<Float>, ld: Int? = nil) {
        let ld = ld ?? rows.count * outW
        let (kh, kw, sh, sw, ph, pw) = (kernel.h, kernel.w, stride.h, stride.w, pad.h, pad.w)
        let shared = SendableBox((x, col))
        parallelFor(channels) { range in
            let (x, col) = shared.value
            for c in range {
                for i in 0..<kh {
                    for j in 0..<kw {
                        var dst = col + ((c * kh + i) * kw + j) * ld
                        for oh in rows {
                            let ih = oh * sh - ph + i
                            if ih < 0 || ih >= height {
                                dst.update(repeating: 0, count: outW); dst += outW; continue
                            }
                            let row = x + (c * height + ih) * width
                            if sw == 1 {
                                // Contiguous: zeros left of the image, a copy, zeros right of it.
                                let start = j - pw
                                let lo = min(outW, max(0, -start)), hi = max(lo, min(outW, width - start))
                                if lo > 0 { dst.update(repeating: 0, count: lo) }
                                if hi > lo { (dst + lo).update(from: row + start + lo, count: hi - lo) }
                                if hi < outW { (dst + hi).update(repeating: 0, count: outW - hi) }
                            } else {
                                for ow in 0..<outW {
                                    let iw = ow * sw - pw + j
                                    dst[ow] = iw >= 0 && iw < width ? row[iw] : 0
                                }
                            }
                            dst += outW
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of im2col: every column entry is added back onto the input position it came from.
    func col2im(_ col: UnsafePointer<Float>, channels: Int, height: Int, width: Int, rows: Range<Int>, outW: Int,
                into x: UnsafeMutablePointer<Float>, ld: Int? = nil) {
        let ld = ld ?? rows.count * outW
        let (kh, kw, sh, sw, ph, pw) = (kernel.h, kernel.w, stride.h, stride.w, pad.h, pad.w)
        let shared = SendableBox((x, col))
        parallelFor(channels) { range in
            let (x, col) = shared.value
            for c in range {
                for i in 0..<kh {
                    for j in 0..<kw {
                        var src = col + ((c * kh + i) * kw + j) * ld
                        for oh in rows {
                            let ih = oh * sh - ph + i
                            if ih >= 0 && ih < height {
                                let row = x + (c * height + ih) * width
                                if sw == 1 {
                                    // Contiguous: one vectorisable add over the part inside the image.
                                    let start = j - pw
                                    let lo = min(outW, max(0, -start)), hi = max(lo, min(outW, width - start))
                                    let d = row + start
                                    for ow in lo..<hi { d[ow] += src[ow] }
                                } else {
                                    for ow in 0..<outW {
                                        let iw = ow * sw - pw + j
                                        if iw >= 0 && iw < width { row[iw] += src[ow] }
                                    }
                                }
                            }
                            src += outW
                        }
                    }
                }
            }
        }
    }
}

/// The two ways of a 3×3 / stride 1 / pad 1 convolution other than im2col, behind one interface: a
/// filter prepared once per call (Winograd's transformed bank, or the weights themselves), the
/// convolution of one image, and the weight gradient of one image.
enum SameSize {
    case winograd(Winograd)
    case direct

    func forwardFilter(_ w: UnsafePointer<Float>, outChannels k: Int, inChannels c: Int) -> [Float] {
        switch self {
        case let .winograd(wino): wino.transformWeights(w, outChannels: k, inChannels: c, flipped: false)
        case .direct: Array(UnsafeBufferPointer(start: w, count: k * c * 9))
        }
    }

    /// The filter of the data gradient: w'[c][k] = w[k][c] rotated by 180°, prepared.
    func dataGradientFilter(_ w: UnsafePointer<Float>, outChannels k: Int, inChannels c: Int) -> [Float] {
        switch self {
        case let .winograd(wino): wino.transformWeights(w, outChannels: k, inChannels: c, flipped: true)
        case .direct: Direct3x3.flipped(w, outChannels: k, inChannels: c)
        }
    }

    func convolve(_ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int, filter: UnsafePointer<Float>,
                  outChannels k: Int, bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>) {
        switch self {
        case let .winograd(wino): wino.convolve(x, channels: c, height: h, width: w, u: filter, outChannels: k, bias: bias, into: y)
        case .direct: Direct3x3.convolve(x, channels: c, height: h, width: w, weight: filter, outChannels: k, bias: bias, into: y)
        }
    }

    func accumulateWeightGradient(input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                                  outputGrad dy: UnsafePointer<Float>, outChannels k: Int, into dw: UnsafeMutablePointer<Float>) {
        switch self {
        case let .winograd(wino):
            wino.accumulateWeightGradient(input: x, channels: c, height: h, width: w, outputGrad: dy, outChannels: k, into: dw)
        case .direct:
            Direct3x3.accumulateWeightGradient(input: x, channels: c, height: h, width: w, outputGrad: dy, outChannels: k, into: dw)
        }
    }
}
