// Element types a checkpoint tensor can hold, with their sizes and each format's name for them.

public enum DType: String, CaseIterable, Sendable, Codable {
    case float32, float64, float16, bfloat16, int8, uint8, int32, int64, bool

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float64, .float16, .bfloat16: return true
        default: return false
        }
    }

    /// MXNet's mshadow type flag (note: int32 is 4 but int8 is 5, unlike numpy's order).
    public var mxnetFlag: Int32 {
        switch self {
        case .float32: return 0
        case .float64: return 1
        case .float16: return 2
        case .uint8: return 3
        case .int32: return 4
        case .int8: return 5
        case .int64: return 6
        case .bool: return 7
        case .bfloat16: return 12
        }
    }

    public init?(mxnetFlag: Int32) {
        guard let t = DType.allCases.first(where: { $0.mxnetFlag == mxnetFlag }) else { return nil }
        self = t
    }

    /// The safetensors header's dtype string.
    public var safetensorsName: String {
        switch self {
        case .float32: return "F32"
        case .float64: return "F64"
        case .float16: return "F16"
        case .bfloat16: return "BF16"
        case .int8: return "I8"
        case .uint8: return "U8"
        case .int32: return "I32"
        case .int64: return "I64"
        case .bool: return "BOOL"
        }
    }

    public init?(safetensorsName: String) {
        guard let t = DType.allCases.first(where: { $0.safetensorsName == safetensorsName }) else { return nil }
        self = t
    }
}
