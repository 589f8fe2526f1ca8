// JPEG decoding and encoding with libjpeg(-turbo), through the C helpers in CJPEG that keep
// libjpeg's longjmp-based error handling on the C side. Decoding uses libjpeg's defaults (islow
// IDCT, fancy upsampling), as OpenCV's imread does, so pixels match the reference's loader.

import CJPEG
import Foundation
import ParamKit

public enum JPEG {
    /// Images larger than this many pixels are refused before anything is allocated.
    public static let maxPixels = 1 << 26

    /// Width and height from the header, without decoding the image.
    public static func size(_ data: [UInt8], file: String) throws -> (height: Int, width: Int) {
        var w: Int32 = 0, h: Int32 = 0, warnings: Int32 = 0, truncated: Int32 = 0
        var message = [CChar](repeating: 0, count: Int(CJPEG_MESSAGE_MAX))
        let rc = data.withUnsafeBufferPointer { src in
            cjpeg_decode_rgb(src.baseAddress, UInt(src.count), nil, 0, UInt(maxPixels), &w, &h, &warnings, &truncated, &message)
        }
        try check(rc, message, width: w, height: h, file: file)
        return (Int(h), Int(w))
    }

    /// Decodes to RGB, row-major, height × width × 3. Grayscale images are expanded to three
    /// channels. Truncated data is an error; other corrupt-data warnings are tolerated, as OpenCV does.
    public static func decode(_ data: [UInt8], file: String) throws -> (height: Int, width: Int, pixels: [UInt8]) {
        let (height, width) = try size(data, file: file)
        guard height > 0, width > 0 else { throw FormatError(file: file, "JPEG image has no pixels (\(width)×\(height))") }
        var pixels = [UInt8](repeating: 0, count: height * width * 3)
        var w: Int32 = 0, h: Int32 = 0, warnings: Int32 = 0, truncated: Int32 = 0
        var message = [CChar](repeating: 0, count: Int(CJPEG_MESSAGE_MAX))
        let rc = data.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { out in
                cjpeg_decode_rgb(src.baseAddress, UInt(src.count), out.baseAddress, UInt(out.count), UInt(maxPixels),
                                 &w, &h, &warnings, &truncated, &message)
            }
        }
        try check(rc, message, width: w, height: h, file: file)
        if truncated != 0 {
            throw FormatError(file: file, "JPEG data is truncated (\(text(message)))")
        }
        return (height, width, pixels)
    }

    /// Reads and decodes a JPEG file.
    public static func decode(file path: String) throws -> (height: Int, width: Int, pixels: [UInt8]) {
        try decode(read(path), file: path)
    }

    /// Encodes height × width × 3 RGB bytes as a baseline JPEG of the given quality (1–100).
    public static func encode(_ pixels: [UInt8], height: Int, width: Int, quality: Int = 95) throws -> [UInt8] {
        guard height > 0, width > 0, height <= 65500, width <= 65500, pixels.count == height * width * 3 else {
            throw UsageError("cannot encode a JPEG of \(width)×\(height) from \(pixels.count) bytes")
        }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        var message = [CChar](repeating: 0, count: Int(CJPEG_MESSAGE_MAX))
        let rc = pixels.withUnsafeBufferPointer {
            cjpeg_encode_rgb($0.baseAddress, Int32(width), Int32(height), Int32(min(max(quality, 1), 100)), &out, &size, &message)
        }
        guard rc == Int32(CJPEG_OK), let out else { throw UsageError("JPEG encoding failed: \(text(message))") }
        defer { free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(size)))
    }

    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw FormatError(file: path, "cannot read the file") }
        return [UInt8](data)
    }

    private static func text(_ message: [CChar]) -> String {
        String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func check(_ rc: Int32, _ message: [CChar], width: Int32, height: Int32, file: String) throws {
        switch rc {
        case Int32(CJPEG_OK): return
        case Int32(CJPEG_TOO_LARGE):
            throw FormatError(file: file, "JPEG image of \(width)×\(height) pixels is larger than the limit of \(maxPixels)")
        case Int32(CJPEG_BAD_BUFFER):
            throw FormatError(file: file, "JPEG image does not decode to \(width)×\(height) RGB")
        default:
            throw FormatError(file: file, "not a decodable JPEG: \(text(message))")
        }
    }
}
