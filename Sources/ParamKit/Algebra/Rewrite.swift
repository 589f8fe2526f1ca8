// Tensor-by-tensor rewrites of one checkpoint: rename by ordered regex rules, cast between float
// dtypes (reporting the error), and bbox de-normalisation. Each builds a plan (what --dry-run
// shows) and streams it to the output with per-tensor lineage.

import Foundation

public struct RewritePlan {
    public struct Item {
        public var info: TensorInfo
        public var source: Int
        public var transforms: [String]
        /// Makes the output tensor from the source tensor; nil copies it unchanged.
        public var make: ((Tensor) throws -> Tensor)?
    }
    public var operation: String
    public var items: [Item]
    public var settings: [(String, JSON)] = []
}

public enum Rewrite {
    /// Streams a plan into `output`, checking stored digests of what it reads. Returns the root digest written.
    public static func write(_ plan: RewritePlan, reader: CheckpointReader, output: String, format: Formats.Output,
                             progress: ((Int, Int) -> Void)? = nil) throws -> String {
        try OutputGuard.refuseOverwrite(output: output, inputs: [reader.path])
        let digests = DigestCache([reader])
        let w = try Formats.writer(path: output, format: format, entries: plan.items.map(\.info), metadata: reader.metadata)
        let label = URL(fileURLWithPath: reader.path).deletingPathExtension().lastPathComponent
        var provenance = Provenance(operation: plan.operation)
        provenance.settings = plan.settings
        for (n, item) in plan.items.enumerated() {
            progress?(n, plan.items.count)
            let source = try reader.view(item.source)
            if let make = item.make {
                try digests.record(0, item.source, source.digest)
                try w.write(try make(source))
            } else {
                try digests.record(0, item.source, try w.write(source))   // a copy: the written digest is the source's
            }
            provenance.lineage.append((item.info.key, .init(source: label, key: reader.entries[item.source].key, transforms: item.transforms)))
        }
        provenance.inputs = [.init(label: label, path: reader.path, digest: try digests.rootDigest(0))]
        return try w.commit(provenance: provenance.json.compact)
    }

    /// Every tensor copied as it is (convert).
    public static func copy(_ reader: CheckpointReader) -> RewritePlan {
        RewritePlan(operation: "convert", items: reader.entries.indices.map { .init(info: reader.entries[$0], source: $0, transforms: ["copied"]) })
    }

    // MARK: rename

    public struct RenameRule {
        public var pattern: String
        public var replacement: String
        let regex: NSRegularExpression

        /// Parses `REGEX=>REPLACEMENT` (`$1` refers to a group).
        public init(_ text: String) throws {
            guard let r = text.range(of: "=>") else { throw UsageError("rename rule '\(text)' must look like 'REGEX=>REPLACEMENT'") }
            pattern = String(text[..<r.lowerBound])
            replacement = String(text[r.upperBound...])
            do { regex = try NSRegularExpression(pattern: pattern) } catch { throw UsageError("invalid regular expression '\(pattern)'") }
        }
    }

    /// Applies the rules in order to every name; a name no rule matches stays as it is.
    public static func rename(_ reader: CheckpointReader, rules: [RenameRule]) throws -> RewritePlan {
        var items: [RewritePlan.Item] = []
        var seen: [String: String] = [:]
        for (i, info) in reader.entries.enumerated() {
            var name = info.name
            for rule in rules {
                let range = NSRange(name.startIndex..<name.endIndex, in: name)
                if rule.regex.firstMatch(in: name, range: range) != nil {
                    name = rule.regex.stringByReplacingMatches(in: name, range: range, withTemplate: rule.replacement)
                }
            }
            var out = info
            out.name = name
            out.storedDigest = nil
            guard !name.isEmpty || info.name.isEmpty else { throw UsageError("rules rename \(info.key) to an empty name") }
            if let other = seen[out.key] { throw UsageError("rules rename both \(other) and \(info.key) to \(out.key)") }
            seen[out.key] = info.key
            items.append(.init(info: out, source: i, transforms: name == info.name ? ["copied"] : ["renamed from \(info.name)"]))
        }
        return RewritePlan(operation: "rename", items: items, settings: [("rules", .array(rules.map { .string("\($0.pattern)=>\($0.replacement)") }))])
    }

    // MARK: cast

    public enum BFloat16Rounding: String, Sendable, CaseIterable {
        /// Keep the upper 16 bits, as MXNet's astype does (mshadow FloatToBF16).
        case truncate
        /// Round to nearest, ties to even.
        case nearest
    }

    /// Largest |cast − original| per cast tensor, filled in while writing.
    public final class CastErrors {
        public var maxAbs: [String: Double] = [:]
        public init() {}
    }

    /// Casts every floating-point tensor to `dtype`; integer and bool tensors are copied unchanged.
    public static func cast(_ reader: CheckpointReader, to dtype: DType, rounding: BFloat16Rounding,
                            errors: CastErrors) throws -> RewritePlan {
        guard [.float32, .float16, .bfloat16, .float64].contains(dtype) else { throw UsageError("cast supports float32, float64, float16 and bfloat16") }
        var items: [RewritePlan.Item] = []
        for (i, info) in reader.entries.enumerated() {
            guard info.dtype.isFloatingPoint, info.dtype != dtype else {
                items.append(.init(info: info, source: i, transforms: ["copied"]))
                continue
            }
            var out = info
            out.dtype = dtype
            out.storedDigest = nil
            let key = info.key
            let how = dtype == .bfloat16 ? " (\(rounding.rawValue))" : ""
            items.append(.init(info: out, source: i, transforms: ["cast \(info.dtype.rawValue)→\(dtype.rawValue)\(how)"]) { t in
                let (c, err) = castTensor(t, to: dtype, rounding: rounding)
                errors.maxAbs[key] = err
                return c
            })
        }
        return RewritePlan(operation: "cast", items: items,
                           settings: [("dtype", .string(dtype.rawValue)), ("bfloat16_rounding", .string(rounding.rawValue))])
    }

    static func bfloat16Bits(_ x: Float, _ rounding: BFloat16Rounding) -> UInt16 {
        let b = x.bitPattern
        if x.isNaN { return UInt16(b >> 16) | 0x0040 }   // stay a (quiet) NaN whatever the payload
        if rounding == .truncate { return UInt16(b >> 16) }
        let lsb = (b >> 16) & 1
        return UInt16((b &+ 0x7FFF &+ lsb) >> 16)
    }

    /// Casts through float32; returns the tensor and the largest absolute error over finite values.
    public static func castTensor(_ t: Tensor, to dtype: DType, rounding: BFloat16Rounding) -> (Tensor, Double) {
        let values = t.doubleValues()
        var maxErr = 0.0
        let out = Tensor(dtype: dtype, shape: t.shape) { dst in
            for (i, v) in values.enumerated() {
                let f = Float(v)
                let back: Double
                switch dtype {
                case .float32:
                    dst.storeBytes(of: f, toByteOffset: i * 4, as: Float.self); back = Double(f)
                case .float64:
                    dst.storeBytes(of: v, toByteOffset: i * 8, as: Double.self); back = v
                case .float16:
                    let h = Float16(f)
                    dst.storeBytes(of: h.bitPattern, toByteOffset: i * 2, as: UInt16.self); back = Double(Float(h))
                default:
                    let bits = bfloat16Bits(f, rounding)
                    dst.storeBytes(of: bits, toByteOffset: i * 2, as: UInt16.self); back = Double(ElementAccess.bfloat16ToFloat(bits))
                }
                if v.isFinite { maxErr = max(maxErr, back.isFinite ? abs(back - v) : .infinity) }
            }
        }
        return (out, maxErr)
    }

    // MARK: bbox de-normalisation

    /// Adds `bbox_pred_weight_test` / `bbox_pred_bias_test` as the reference's R-CNN callback does:
    /// W_test[r,:] = W[r,:]·stds[r] and b_test[r] = b[r]·stds[r] + means[r] for r in 0..<4C.
    /// `means`/`stds` have 4 values (tiled over the classes) or 4C.
    public static func bboxDenorm(_ reader: CheckpointReader, means: [Double], stds: [Double]) throws -> RewritePlan {
        guard let wi = reader.entries.firstIndex(where: { $0.key == "arg:bbox_pred_weight" }),
              let bi = reader.entries.firstIndex(where: { $0.key == "arg:bbox_pred_bias" }) else {
            throw UsageError("\(reader.path): no arg:bbox_pred_weight / arg:bbox_pred_bias to de-normalise")
        }
        let w = reader.entries[wi], b = reader.entries[bi]
        guard w.dtype == .float32, b.dtype == .float32, w.shape.count == 2, b.shape == [w.shape[0]], w.shape[0] % 4 == 0 else {
            throw UsageError("bbox_pred must be float32 with weight (4C, D) and bias (4C,); found \(Shape.text(w.shape)) and \(Shape.text(b.shape))")
        }
        let rows = w.shape[0]
        func expand(_ v: [Double], _ what: String) throws -> [Double] {
            if v.count == rows { return v }
            if v.count == 4 { return (0..<rows).map { v[$0 % 4] } }
            throw UsageError("\(what) needs 4 values or \(rows) (4 per class), got \(v.count)", setting: what)
        }
        let m = try expand(means, "means"), s = try expand(stds, "stds")
        var items = reader.entries.enumerated().filter { !["arg:bbox_pred_weight_test", "arg:bbox_pred_bias_test"].contains($0.element.key) }
            .map { RewritePlan.Item(info: $0.element, source: $0.offset, transforms: ["copied"]) }
        var wt = w; wt.name = "bbox_pred_weight_test"; wt.storedDigest = nil
        var bt = b; bt.name = "bbox_pred_bias_test"; bt.storedDigest = nil
        items.append(.init(info: wt, source: wi, transforms: ["bbox-denorm: rows × stds"]) { t in
            Tensor(bboxDenorm(weight: Array(UnsafeRawBufferPointer(t.storage.bytes).bindMemory(to: Float.self)), means: m, stds: s), shape: t.shape)
        })
        items.append(.init(info: bt, source: bi, transforms: ["bbox-denorm: × stds + means"]) { t in
            Tensor(bboxDenorm(bias: Array(UnsafeRawBufferPointer(t.storage.bytes).bindMemory(to: Float.self)), means: m, stds: s), shape: t.shape)
        })
        return RewritePlan(operation: "bbox-denorm", items: items,
                           settings: [("means", .array(m.map { .double($0) })), ("stds", .array(s.map { .double($0) }))])
    }

    /// The test-time bbox_pred weight (4C, D), row-major: row r scaled by stds[r] (4C values). The one
    /// formula, used by this rewrite and by `train rcnn` when it saves a checkpoint.
    public static func bboxDenorm(weight: [Float], means: [Double], stds: [Double]) -> [Float] {
        let rows = stds.count, cols = rows == 0 ? 0 : weight.count / rows
        var out = weight
        for r in 0..<rows { for c in 0..<cols { out[r * cols + c] = weight[r * cols + c] * Float(stds[r]) } }
        return out
    }

    /// The test-time bbox_pred bias (4C,): b[r]·stds[r] + means[r].
    public static func bboxDenorm(bias: [Float], means: [Double], stds: [Double]) -> [Float] {
        bias.indices.map { bias[$0] * Float(stds[$0]) + Float(means[$0]) }
    }
}
