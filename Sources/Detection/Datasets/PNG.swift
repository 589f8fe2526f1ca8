// PNG decoding and encoding with libpng's simplified API (CPNG): any PNG (grey, palette, alpha,
// 16-bit) decodes to 8-bit RGB (alpha composed over black); RGB encodes losslessly.

import CPNG
import Foundation
import ParamKit

public enum PNG {
    public static func isPNG(_ data: [UInt8]) -> Bool { data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) }

    /// Decodes to RGB, row-major, height × width × 3.
    public static func decode(_ data: [UInt8], file: String) throws -> (height: Int, width: Int, pixels: [UInt8]) {
        var w: Int32 = 0, h: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        guard data.withUnsafeBufferPointer({ cpng_size($0.baseAddress, $0.count, &w, &h, &message, message.count) }) == 0 else {
            throw FormatError(file: file, "not a decodable PNG: \(cText(message))")
        }
        guard w > 0, h > 0, Int(w) * Int(h) <= JPEG.maxPixels else {
            throw FormatError(file: file, "PNG image of \(w)×\(h) pixels is empty or larger than the limit of \(JPEG.maxPixels)")
        }
        var pixels = [UInt8](repeating: 0, count: Int(w) * Int(h) * 3)
        let rc = data.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { cpng_decode_rgb(src.baseAddress, src.count, $0.baseAddress, $0.count, &message, message.count) }
        }
        guard rc == 0 else { throw FormatError(file: file, "not a decodable PNG: \(cText(message))") }
        return (Int(h), Int(w), pixels)
    }

    /// Encodes height × width × 3 RGB bytes.
    public static func encode(_ pixels: [UInt8], height: Int, width: Int) throws -> [UInt8] {
        guard height > 0, width > 0, pixels.count == height * width * 3 else {
            throw UsageError("cannot encode a PNG of \(width)×\(height) from \(pixels.count) bytes")
        }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let rc = pixels.withUnsafeBufferPointer { cpng_encode_rgb($0.baseAddress, Int32(width), Int32(height), &out, &size, &message, message.count) }
        guard rc == 0, let out else { throw UsageError("PNG encoding failed: \(cText(message))") }
        defer { free(out) }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }

    /// A JPEG or PNG file (told apart by its first bytes) decoded to RGB.
    public static func decodeImage(file path: String) throws -> (height: Int, width: Int, pixels: [UInt8]) {
        let data = try JPEG.read(path)
        if isPNG(data) { return try decode(data, file: path) }
        if data.starts(with: [0xFF, 0xD8]) { return try JPEG.decode(data, file: path) }
        throw FormatError(file: path, "neither a JPEG nor a PNG image")
    }
}

/// Rectangles drawn into an RGB image (height × width × 3, row-major): what `paramkit detect` writes.
public enum Drawing {
    /// A distinct colour per class index (class 1 first), as RGB.
    public static func colour(_ index: Int) -> (UInt8, UInt8, UInt8) {
        let table: [(UInt8, UInt8, UInt8)] = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
                                               (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128)]
        return table[(max(index, 1) - 1) % table.count]
    }

    /// The outline of a box (inclusive pixel coordinates, clipped to the image), `thickness` pixels wide, inward.
    public static func rectangle(_ pixels: inout [UInt8], height: Int, width: Int, box: Box, colour: (UInt8, UInt8, UInt8),
                                 thickness: Int = 2) {
        let x1 = max(0, min(width - 1, Int(box.x1.rounded()))), y1 = max(0, min(height - 1, Int(box.y1.rounded())))
        let x2 = max(0, min(width - 1, Int(box.x2.rounded()))), y2 = max(0, min(height - 1, Int(box.y2.rounded())))
        guard x2 >= x1, y2 >= y1 else { return }
        func put(_ x: Int, _ y: Int) {
            let i = (y * width + x) * 3
            pixels[i] = colour.0; pixels[i + 1] = colour.1; pixels[i + 2] = colour.2
        }
        for t in 0..<thickness {
            let (top, bottom, left, right) = (y1 + t, y2 - t, x1 + t, x2 - t)
            guard top <= bottom, left <= right else { break }
            for x in left...right { put(x, top); put(x, bottom) }
            for y in top...bottom { put(left, y); put(right, y) }
        }
    }
}

/// A NUL-terminated message a C decoder wrote into a buffer.
private func cText(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
