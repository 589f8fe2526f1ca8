// Detection datasets: images with boxes, labels and difficult flags, from the HDF5 image store
// (`paramkit.dataset`) or a Pascal-VOC directory, and the reference's image preprocessing.

import Engine
import Foundation
import ParamKit

/// One image and its objects. Boxes are in the image's own pixels, 0-based (VOC XML − 1).
public struct DetectionImage: Sendable {
    public var id: String
    public var height: Int
    public var width: Int
    /// height × width × 3 bytes, RGB, row-major.
    public var pixels: [UInt8]
    public var boxes: [Box]
    /// Class index per box, 1…K (0 is background and never appears here).
    public var labels: [Int]
    public var difficult: [Bool]

    public init(id: String, height: Int, width: Int, pixels: [UInt8], boxes: [Box], labels: [Int], difficult: [Bool]) {
        self.id = id; self.height = height; self.width = width; self.pixels = pixels
        self.boxes = boxes; self.labels = labels; self.difficult = difficult
    }
}

/// Anything that yields detection images by index.
public protocol DetectionDataset: AnyObject {
    var path: String { get }
    /// Class names; index 0 is "__background__".
    var classNames: [String] { get }
    var count: Int { get }
    /// A content id of the whole set (images and annotations), so artifacts made from it can name it.
    var digest: String { get }
    func image(_ index: Int) throws -> DetectionImage
}

/// The reference's preprocessing (rcnn/io/image.py): scale the short side to `shortSide` unless the
/// long side would pass `maxLongSide`, bilinear resize, optional horizontal flip, subtract the pixel
/// means, NCHW float32 in RGB channel order.
public struct Preprocess: Sendable, Equatable {
    public var shortSide: Int
    public var maxLongSide: Int
    /// Per channel, R, G, B (the reference's BGR PIXEL_MEANS [103.939, 116.779, 123.68] reversed).
    public var pixelMeans: [Float]

    public init(shortSide: Int = 600, maxLongSide: Int = 1000, pixelMeans: [Float] = [123.68, 116.779, 103.939]) {
        self.shortSide = shortSide
        self.maxLongSide = maxLongSide
        self.pixelMeans = pixelMeans
    }

    /// The scale factor for an image of this size, decided as the reference does: in float64, with
    /// np.round's half-to-even rounding of the scaled long side.
    public func scale(height: Int, width: Int) -> Float {
        let short = Double(min(height, width)), long = Double(max(height, width))
        var s = Double(shortSide) / short
        if (s * long).rounded(.toNearestOrEven) > Double(maxLongSide) { s = Double(maxLongSide) / long }
        return Float(s)
    }
}
