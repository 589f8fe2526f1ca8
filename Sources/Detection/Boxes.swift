// Boxes as [x1, y1, x2, y2] in pixels with the reference's +1 width convention (w = x2 − x1 + 1).

public struct Box: Sendable, Equatable {
    public var x1, y1, x2, y2: Float
    public init(_ x1: Float, _ y1: Float, _ x2: Float, _ y2: Float) {
        self.x1 = x1; self.y1 = y1; self.x2 = x2; self.y2 = y2
    }
    public var width: Float { x2 - x1 + 1 }
    public var height: Float { y2 - y1 + 1 }
    public var area: Float { width * height }
    /// [x1, y1, x2, y2], the row layout of the reference's arrays.
    public var corners: [Float] { [x1, y1, x2, y2] }
}
