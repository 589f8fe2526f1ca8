// A tensor: dtype, shape and contiguous little-endian C-order bytes in one owned, aligned buffer.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Owns a tensor's bytes. A class so that copies of a `Tensor` share one buffer.
public final class TensorStorage: @unchecked Sendable {
    public let bytes: UnsafeMutableRawBufferPointer
    /// Large buffers are their own anonymous mappings (see init); small ones come from malloc.
    private let mapped: Int

    /// Buffers from this size up are mapped on their own and backed by transparent huge pages where
    /// the kernel allows (`madvise` mode): filling a fresh 400 MB buffer then takes 2 MB page faults
    /// instead of 4 KB ones, which is most of the cost of loading a checkpoint.
    static let hugePageThreshold = 8 << 20
    static let hugePage = 2 << 20

    public init(byteCount: Int) {
        if byteCount >= Self.hugePageThreshold {
            let length = (byteCount + Self.hugePage - 1) / Self.hugePage * Self.hugePage + Self.hugePage
            if let m = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), m != MAP_FAILED {
                // Align the start to 2 MB inside the mapping so whole huge pages fit.
                let aligned = UnsafeMutableRawPointer(bitPattern: (Int(bitPattern: m) + Self.hugePage - 1) & ~(Self.hugePage - 1))!
                madvise(aligned, length - (aligned - m), MADV_HUGEPAGE)
                bytes = UnsafeMutableRawBufferPointer(start: aligned, count: byteCount)
                mappedBase = m
                mapped = length
                owner = nil
                return
            }
        }
        // 64-byte alignment keeps SIMD loads aligned; a zero-size tensor still gets a valid pointer.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
        bytes = UnsafeMutableRawBufferPointer(start: raw, count: byteCount)
        mappedBase = nil
        mapped = 0
        owner = nil
    }

    private let mappedBase: UnsafeMutableRawPointer?
    /// For a view: what keeps the viewed memory alive (an input file's mapping).
    private let owner: AnyObject?

    /// A read-only view of bytes owned by `owner` (a tensor's data inside a mapped input file).
    public init(viewing bytes: UnsafeRawBufferPointer, owner: AnyObject) {
        self.bytes = UnsafeMutableRawBufferPointer(mutating: bytes)
        self.owner = owner
        mappedBase = nil
        mapped = 0
    }

    deinit {
        if let file = owner as? MappedFile { file.release(UnsafeRawBufferPointer(bytes)); return }
        if owner != nil { return }
        if let mappedBase { munmap(mappedBase, mapped) } else { bytes.baseAddress?.deallocate() }
    }
}

public struct Tensor: @unchecked Sendable {
    public let dtype: DType
    public let shape: [Int]
    public let storage: TensorStorage

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { storage.bytes.count }

    /// A tensor with uninitialised bytes for `fill` to write. The shape must be valid (see `Shape`).
    public init(dtype: DType, shape: [Int], fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        let count = Shape.byteCount(shape, dtype: dtype)!
        self.dtype = dtype
        self.shape = shape
        storage = TensorStorage(byteCount: count)
        try fill(storage.bytes)
    }

    public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        precondition(Shape.byteCount(shape, dtype: dtype) == bytes.count, "byte count does not match shape")
        self.init(dtype: dtype, shape: shape) { dst in
            bytes.withUnsafeBytes { dst.copyMemory(from: $0) }
        }
    }

    /// A tensor over bytes that something else owns (see `CheckpointReader.view`).
    init(dtype: DType, shape: [Int], viewing bytes: UnsafeRawBufferPointer, owner: AnyObject) {
        self.dtype = dtype
        self.shape = shape
        storage = TensorStorage(viewing: bytes, owner: owner)
    }

    public init(_ values: [Float], shape: [Int]) {
        precondition(shape.reduce(1, *) == values.count, "value count does not match shape")
        self.init(dtype: .float32, shape: shape) { dst in
            values.withUnsafeBytes { dst.copyMemory(from: $0) }
        }
    }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(storage.bytes))
    }

    /// The bytes as an array (for tests and small tensors).
    public var byteArray: [UInt8] { Array(storage.bytes) }

    /// Every element widened to Double (bool as 0/1, halves and bfloat16 decoded).
    public func doubleValues() -> [Double] {
        var out = [Double](repeating: 0, count: elementCount)
        out.withUnsafeMutableBufferPointer { dst in
            ElementAccess.widen(dtype, UnsafeRawBufferPointer(storage.bytes), range: 0..<elementCount,
                                into: dst.baseAddress!)
        }
        return out
    }

    /// The content digest: XXH64 over "dtype:d0,d1,…:" followed by the raw bytes.
    public var digest: String { Digest.tensor(dtype: dtype, shape: shape, bytes: UnsafeRawBufferPointer(storage.bytes)) }

    /// Bitwise equality of dtype, shape and bytes.
    public func bitwiseEqual(_ other: Tensor) -> Bool {
        dtype == other.dtype && shape == other.shape && byteCount == other.byteCount
            && memcmp(storage.bytes.baseAddress!, other.storage.bytes.baseAddress!, byteCount) == 0
    }
}

/// Shape arithmetic with overflow checks, so a hostile file can never make us allocate a wrapped size.
public enum Shape {
    /// Element count, or nil when a dimension is negative or the product overflows.
    public static func elementCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = p
        }
        return n
    }

    public static func byteCount(_ shape: [Int], dtype: DType) -> Int? {
        guard let n = elementCount(shape) else { return nil }
        let (b, overflow) = n.multipliedReportingOverflow(by: dtype.size)
        return overflow ? nil : b
    }

    public static func text(_ shape: [Int]) -> String {
        "(" + shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? ",)" : ")")
    }
}

/// Element decoding shared by stats and diff: widen any dtype to Double.
enum ElementAccess {
    static func halfToFloat(_ h: UInt16) -> Float {
        Float(Float16(bitPattern: h))
    }

    static func bfloat16ToFloat(_ b: UInt16) -> Float {
        Float(bitPattern: UInt32(b) << 16)
    }

    static func widen(_ dtype: DType, _ raw: UnsafeRawBufferPointer, range: Range<Int>,
                      into out: UnsafeMutablePointer<Double>) {
        let p = raw.baseAddress!
        var j = 0
        switch dtype {
        case .float32:
            for i in range { out[j] = Double(p.loadUnaligned(fromByteOffset: i * 4, as: Float.self)); j += 1 }
        case .float64:
            for i in range { out[j] = p.loadUnaligned(fromByteOffset: i * 8, as: Double.self); j += 1 }
        case .float16:
            for i in range { out[j] = Double(halfToFloat(p.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))); j += 1 }
        case .bfloat16:
            for i in range { out[j] = Double(bfloat16ToFloat(p.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))); j += 1 }
        case .int8:
            for i in range { out[j] = Double(p.load(fromByteOffset: i, as: Int8.self)); j += 1 }
        case .uint8, .bool:
            for i in range { out[j] = Double(p.load(fromByteOffset: i, as: UInt8.self)); j += 1 }
        case .int32:
            for i in range { out[j] = Double(p.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)); j += 1 }
        case .int64:
            for i in range { out[j] = Double(p.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)); j += 1 }
        }
    }
}
