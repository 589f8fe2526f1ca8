// Freeze specs: which tensors a training stage must leave untouched. Resolves MXNet's FIXED_PARAMS /
// FIXED_PARAMS_SHARED presets and user lists against a checkpoint or a network, with MXNet's
// substring rule by default, and warns about the ways such lists go wrong.

import Foundation

public struct FreezeSpec: Sendable {
    public var entries: [String]
    public var mode: MatchMode
    /// How the spec was written ("FIXED_PARAMS_SHARED (vgg16)", "user list").
    public var origin: String

    public init(entries: [String], mode: MatchMode = .substring, origin: String = "user list") {
        self.entries = entries
        self.mode = mode
        self.origin = origin
    }

    /// The reference config's lists (rcnn/config.py): base VGG, the ResNet override, and the fork's
    /// Inception-v3 override (matched by substring, they reach further than their names say: see
    /// `Freeze.resolve`'s warnings).
    public static func preset(_ name: String, family: NetworkFamily) -> FreezeSpec? {
        let lists: [String: [String]]
        switch family {
        case .vgg:
            lists = ["FIXED_PARAMS": ["conv1", "conv2"],
                     "FIXED_PARAMS_SHARED": ["conv1", "conv2", "conv3", "conv4", "conv5"]]
        case .resnet:
            lists = ["FIXED_PARAMS": ["conv0", "stage1", "gamma", "beta"],
                     "FIXED_PARAMS_SHARED": ["conv0", "stage1", "stage2", "stage3", "gamma", "beta"]]
        case .inception:
            lists = ["FIXED_PARAMS": ["conv_batchnorm", "conv_2_batchnorm", "conv_3_batchnorm", "conv_4_batchnorm"],
                     "FIXED_PARAMS_SHARED": ["conv2", "conv1", "conv3", "conv4", "conv5", "beta", "batchnorm"]]
        }
        return lists[name].map { FreezeSpec(entries: $0, mode: .substring, origin: "\(name) (\(family.rawValue))") }
    }

    /// Parses `FIXED_PARAMS`, `FIXED_PARAMS_SHARED`, a comma-separated list, or `@FILE` (one entry per
    /// line, `#` comments). The family picks the preset; when nil it is guessed from the names.
    public static func parse(_ text: String, mode: MatchMode = .substring, family: NetworkFamily?, names: [String]) throws -> FreezeSpec {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "FIXED_PARAMS" || trimmed == "FIXED_PARAMS_SHARED" {
            return preset(trimmed, family: family ?? NetworkFamily.guess(names))!
        }
        var entries: [String]
        var origin = "user list"
        if trimmed.hasPrefix("@") {
            let path = String(trimmed.dropFirst())
            guard let content = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw UsageError("\(path): cannot read the freeze list")
            }
            entries = content.split(separator: "\n").map { line in
                String(line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").trimmingCharacters(in: .whitespaces)
            }.filter { !$0.isEmpty }
            origin = "list from \(path)"
        } else {
            entries = trimmed.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        guard !entries.isEmpty || trimmed.isEmpty else { throw UsageError("freeze spec '\(text)' has no entries") }
        return FreezeSpec(entries: entries, mode: mode, origin: origin)
    }
}

public enum NetworkFamily: String, Sendable, CaseIterable {
    case vgg, resnet, inception

    /// Inception checkpoints have `*_conv2d_weight` or `mixed*` names, ResNet-style ones
    /// `stage<k>_unit`, `conv0` or `bn_data` names; everything else is treated as VGG.
    public static func guess(_ names: [String]) -> NetworkFamily {
        if names.contains(where: { $0.hasSuffix("_conv2d_weight") || $0.hasPrefix("mixed") }) { return .inception }
        return names.contains { $0.hasPrefix("stage") || $0.hasPrefix("conv0") || $0.hasPrefix("bn_data") } ? .resnet : .vgg
    }
}

public struct FreezeReport: Sendable {
    public struct Count: Sendable { public var tensors = 0, elements = 0, bytes = 0 }
    public var spec: FreezeSpec
    public var frozen: [TensorInfo]
    public var trainable: [TensorInfo]
    /// Aux states (BatchNorm statistics): outside MXNet's fixed_param_names, listed separately.
    public var aux: [TensorInfo]
    /// Per spec entry, the tensors it matched.
    public var matches: [[String]]
    public var warnings: [String]

    static func count(_ list: [TensorInfo]) -> Count {
        list.reduce(into: Count()) { c, i in c.tensors += 1; c.elements += i.elementCount; c.bytes += i.byteCount }
    }
    public var frozenCount: Count { Self.count(frozen) }
    public var trainableCount: Count { Self.count(trainable) }
}

public enum Freeze {
    /// Resolves a spec against tensor names the way MXNet's MutableModule does: every learnable
    /// argument whose name matches an entry is fixed. Aux states are not arguments and never match.
    public static func resolve(_ spec: FreezeSpec, against entries: [TensorInfo]) throws -> FreezeReport {
        let selectors = try spec.entries.map { try Selector(spec.mode, [$0]) }
        var frozen: [TensorInfo] = [], trainable: [TensorInfo] = [], aux: [TensorInfo] = []
        var matches = [[String]](repeating: [], count: spec.entries.count)
        for info in entries {
            if info.role == .aux { aux.append(info); continue }
            var hit = false
            for (k, s) in selectors.enumerated() where s.matchingPattern(info.name) != nil {
                matches[k].append(info.name)
                hit = true
            }
            if hit { frozen.append(info) } else { trainable.append(info) }
        }
        var warnings: [String] = []
        for (k, entry) in spec.entries.enumerated() {
            if matches[k].isEmpty {
                warnings.append("entry '\(entry)' matches no tensor")
                continue
            }
            // A substring or prefix entry names a layer family (conv1 → conv1_1, conv1_2); a match that
            // does not begin with the entry followed by a separator is somewhere it was not meant to be.
            guard spec.mode == .substring || spec.mode == .prefix else { continue }
            // A substring that only ever occurs as the start of a longer word: 'conv2' in every
            // Inception 'conv2d' (so the reference's FIXED_PARAMS_SHARED freezes every convolution).
            let inside = spec.mode == .substring ? matches[k].compactMap { name in Freeze.longerWord(in: name, entry).map { (name, $0) } } : []
            if let example = inside.first {
                let words = Array(Set(inside.map(\.1))).sorted().prefix(3).map { "'\($0)'" }.joined(separator: ", ")
                warnings.append("entry '\(entry)' matches \(inside.count) tensor(s) only inside a longer word (\(words)), e.g. \(example.0)")
            }
            let outside = matches[k].filter { !inFamily($0, entry) }
            if !outside.isEmpty {
                let layers = Array(Set(outside.map(LayerName.prefix))).sorted()
                let shown = layers.prefix(6).joined(separator: ", ") + (layers.count > 6 ? ", … (\(layers.count) layers)" : "")
                warnings.append("entry '\(entry)' matches \(outside.count) tensor(s) outside a '\(entry)' layer family: \(shown)")
            }
        }
        if !aux.isEmpty {
            let layers = Set(aux.map { LayerName.prefix(of: $0.name) })
            warnings.append("\(aux.count) aux state(s) in \(layers.count) layer(s) (BatchNorm statistics) are not covered by freezing: "
                            + "they stay fixed only where those layers run with use_global_stats or no gradient passes them (MXNet updates them in the backward pass)")
        }
        return FreezeReport(spec: spec, frozen: frozen, trainable: trainable, aux: aux, matches: matches, warnings: warnings)
    }

    /// The word (between `_`, `.` or `/`) that every occurrence of `entry` in `name` begins and
    /// that is longer than `entry` ("conv2d" for conv2 in mixed_conv_conv2d_weight); nil when some
    /// occurrence ends at a separator or the name's end, or begins inside a word.
    static func longerWord(in name: String, _ entry: String) -> String? {
        guard !entry.isEmpty, let last = entry.last, last.isLetter || last.isNumber else { return nil }
        let separators: Set<Character> = ["_", ".", "/"]
        let chars = Array(name), e = Array(entry)
        var word: String?
        var i = 0
        while i + e.count <= chars.count {
            if Array(chars[i..<i + e.count]) == e {
                let startsWord = i == 0 || separators.contains(chars[i - 1])
                let end = i + e.count
                guard startsWord, end < chars.count, !separators.contains(chars[end]) else { return nil }
                var j = end
                while j < chars.count && !separators.contains(chars[j]) { j += 1 }
                word = String(chars[i..<j])
            }
            i += 1
        }
        return word
    }

    static func inFamily(_ name: String, _ entry: String) -> Bool {
        guard name.hasPrefix(entry) else { return false }
        let rest = name.dropFirst(entry.count)
        guard let next = rest.first else { return true }
        return next == "_" || next == "." || next == "/"
    }
}

/// audit: proves that a stage left every frozen tensor bit-identical.
public struct AuditReport: Sendable {
    public struct Violation: Sendable {
        public var key: String
        public var problem: String
    }
    public var freeze: FreezeReport
    public var violations: [Violation]
    /// Trainable tensors whose bytes did not change (maybe fine, maybe a stage that did not train).
    public var unchangedTrainable: [String]
    public var checked: Int
}

public enum Audit {
    public static func run(before: String, after: String, spec: String, mode: MatchMode, family: NetworkFamily?,
                           options: ReadOptions = ReadOptions()) throws -> AuditReport {
        let a = try Formats.open(path: before, options: options)
        let b = try Formats.open(path: after, options: options)
        let freezeSpec = try FreezeSpec.parse(spec, mode: mode, family: family, names: a.entries.map(\.name))
        let report = try Freeze.resolve(freezeSpec, against: a.entries)
        var indexB: [String: Int] = [:]
        for (i, info) in b.entries.enumerated() { indexB[info.key] = i }
        var violations: [AuditReport.Violation] = []
        var unchanged: [String] = []
        var checked = 0
        let frozenKeys = Set(report.frozen.map(\.key))
        for (i, info) in a.entries.enumerated() where info.role == .arg {
            let isFrozen = frozenKeys.contains(info.key)
            guard let j = indexB[info.key] else {
                if isFrozen { violations.append(.init(key: info.key, problem: "missing after the stage")) }
                continue
            }
            let other = b.entries[j]
            guard other.dtype == info.dtype, other.shape == info.shape else {
                if isFrozen { violations.append(.init(key: info.key, problem: "dtype/shape changed")) }
                continue
            }
            let ta = try a.view(i), tb = try b.view(j)
            checked += 1
            let same = ta.bitwiseEqual(tb)
            if isFrozen && !same {
                let d = Diff.compare(ta, tb, atol: 0, rtol: 0)
                violations.append(.init(key: info.key, problem: "changed: \(d.outside) of \(d.count) elements differ, max abs \(d.maxAbs)"))
            } else if !isFrozen && same {
                unchanged.append(info.key)
            }
        }
        return AuditReport(freeze: report, violations: violations, unchangedTrainable: unchanged, checked: checked)
    }
}
