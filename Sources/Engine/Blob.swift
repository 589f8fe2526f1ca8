// Float32 NCHW blobs.

import Foundation

/// A float32 array with a shape (NCHW for images). A value type: copies are copy-on-write.
public struct Blob: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "blob data does not match shape \(shape)")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// A blob whose every element the caller will overwrite (no zero fill).
    public init(uninitialized shape: [Int]) {
        self.shape = shape
        data = [Float](unsafeUninitializedCapacity: shape.reduce(1, *)) { _, n in n = shape.reduce(1, *) }
    }

    public var count: Int { data.count }
    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }
}
