// The reference's image preprocessing (rcnn/io/image.py get_image / resize / transform): flip
// when asked, resize by the scale rule with OpenCV's INTER_LINEAR, subtract the RGB pixel means,
// NCHW float32. Ground-truth boxes follow the same flip and scale.

import Engine
import Foundation
import ParamKit

extension Preprocess {
    /// The resized size for an image, as `cv2.resize(im, None, fx=s, fy=s)` computes it:
    /// round(w·s) × round(h·s) (ties to even, as OpenCV's saturate_cast).
    public func scaledSize(height: Int, width: Int) -> (height: Int, width: Int, scale: Float) {
        let s = scale(height: height, width: width)
        let h = max(1, Int((Double(height) * Double(s)).rounded(.toNearestOrEven)))
        let w = max(1, Int((Double(width) * Double(s)).rounded(.toNearestOrEven)))
        return (h, w, s)
    }

    /// The network input for an image: [1, 3, H', W'] float32 in R, G, B order with the pixel means
    /// subtracted, H' × W' from `scaledSize`. `flip` mirrors the image horizontally first.
    public func blob(_ image: DetectionImage, flip: Bool = false) -> (data: Blob, scale: Float, height: Int, width: Int) {
        let (oh, ow, s) = scaledSize(height: image.height, width: image.width)
        let resized = Self.resizeLinear(image.pixels, height: image.height, width: image.width, toHeight: oh, toWidth: ow,
                                        scale: Double(s), flip: flip)
        let plane = oh * ow
        var data = [Float](repeating: 0, count: 3 * plane)
        let means = (0..<3).map { $0 < pixelMeans.count ? pixelMeans[$0] : 0 }
        data.withUnsafeMutableBufferPointer { out in
            resized.withUnsafeBufferPointer { src in
                for p in 0..<plane {
                    out[p] = Float(src[3 * p]) - means[0]
                    out[plane + p] = Float(src[3 * p + 1]) - means[1]
                    out[2 * plane + p] = Float(src[3 * p + 2]) - means[2]
                }
            }
        }
        return (Blob(shape: [1, 3, oh, ow], data: data), s, oh, ow)
    }

    /// The image's boxes in the network input's pixels: mirrored when `flip`
    /// (x1' = W − x2 − 1, x2' = W − x1 − 1), then multiplied by `scale`.
    public func boxes(_ image: DetectionImage, flip: Bool = false, scale: Float) -> [Box] {
        let w = Float(image.width)
        return image.boxes.map { b in
            let (x1, x2) = flip ? (w - b.x2 - 1, w - b.x1 - 1) : (b.x1, b.x2)
            return Box(x1 * scale, b.y1 * scale, x2 * scale, b.y2 * scale)
        }
    }

    /// Bilinear resize of an RGB image as OpenCV's INTER_LINEAR with a scale factor: destination
    /// pixel d samples source coordinate (d + 0.5)/scale − 0.5, clamped to the border, and the result
    /// is rounded to a byte (OpenCV's fixed-point weights can differ from this by 1). `flip` mirrors
    /// the source horizontally before resizing.
    public static func resizeLinear(_ pixels: [UInt8], height: Int, width: Int, toHeight oh: Int, toWidth ow: Int,
                                    scale: Double, flip: Bool = false) -> [UInt8] {
        precondition(pixels.count == height * width * 3 && height > 0 && width > 0, "image bytes do not match its size")
        func taps(_ count: Int, _ source: Int) -> (lo: [Int], hi: [Int], weight: [Float]) {
            var lo = [Int](repeating: 0, count: count), hi = lo, weight = [Float](repeating: 0, count: count)
            for d in 0..<count {
                let f = (Double(d) + 0.5) / scale - 0.5
                var i = Int(f.rounded(.down))
                var a = f - Double(i)
                if i < 0 { i = 0; a = 0 }
                if i >= source - 1 { i = source - 1; a = 0 }
                lo[d] = i; hi[d] = min(i + 1, source - 1); weight[d] = Float(a)
            }
            return (lo, hi, weight)
        }
        var (xl, xh, xw) = taps(ow, width)
        let (yl, yh, yw) = taps(oh, height)
        if flip {
            xl = xl.map { width - 1 - $0 }
            xh = xh.map { width - 1 - $0 }
        }
        var out = [UInt8](repeating: 0, count: oh * ow * 3)
        out.withUnsafeMutableBufferPointer { dst in
            pixels.withUnsafeBufferPointer { src in
                let shared = SendableBox((dst, src))
                parallelFor(oh, minimumPerThread: 32) { rows in
                    let (dst, src) = shared.value
                    for y in rows {
                        let r0 = yl[y] * width * 3, r1 = yh[y] * width * 3, b = yw[y]
                        for x in 0..<ow {
                            let c0 = xl[x] * 3, c1 = xh[x] * 3, a = xw[x]
                            for c in 0..<3 {
                                let top = Float(src[r0 + c0 + c]) * (1 - a) + Float(src[r0 + c1 + c]) * a
                                let bottom = Float(src[r1 + c0 + c]) * (1 - a) + Float(src[r1 + c1 + c]) * a
                                let v = top * (1 - b) + bottom * b
                                dst[(y * ow + x) * 3 + c] = UInt8(max(0, min(255, v.rounded())))
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
