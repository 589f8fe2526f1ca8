// A network of the user's own widths, from a file: a family template (vgg or resnet) and its
// numbers, in YAML (or JSON), described by schemas/network.schema.json. `network infer` writes one
// from a checkpoint's names and shapes.
//
//   family: vgg                       family: resnet
//   channels: [16, 32, 64, 64, 64]    stem: 64
//   fc: 256                           filters: [256, 512, 1024, 2048]
//   classes: 4                        units: [3, 4, 23, 3]
//   anchors: 9                        rpn: 512
//                                     classes: 21

import Foundation
import Yams

public struct NetworkFile: Sendable, Equatable {
    public var name: String
    public var family: NetworkFamily
    /// vgg: the conv width of each of the 5 blocks; fc6/fc7's width.
    public var channels: [Int] = []
    public var fc: Int = 0
    /// resnet: conv0's width, each stage's output width, units per stage, rpn_conv_3x3's width.
    public var stem: Int = 0
    public var filters: [Int] = []
    public var units: [Int] = []
    public var rpn: Int = 0
    public var classes: Int
    public var anchors: Int

    static let vggKeys: Set<String> = ["family", "name", "channels", "fc", "classes", "anchors"]
    static let resnetKeys: Set<String> = ["family", "name", "stem", "filters", "units", "rpn", "classes", "anchors"]

    /// Whether a `--network` value names a file rather than a built-in network.
    public static func isPath(_ value: String) -> Bool {
        [".yaml", ".yml", ".json"].contains { value.lowercased().hasSuffix($0) } || value.contains("/")
    }

    public static func load(path: String) throws -> NetworkFile {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw UsageError("\(path): cannot read the network file") }
        let loaded: Any?
        do { loaded = try YAMLValue.load(yaml: text) } catch { throw UsageError("\(path): not valid YAML: \(error)") }
        guard let map = loaded as? [String: Any] else {
            throw UsageError("\(path): not a network file (expected a YAML mapping with family: vgg or resnet)")
        }
        func fail(_ key: String, _ what: String) -> UsageError { UsageError("\(path): \(key): \(what)") }
        guard let familyName = map["family"] as? String, let family = NetworkFamily(rawValue: familyName), family != .inception else {
            throw fail("family", "must be vgg or resnet (Inception-v3 is built in: the networks inception-v3 and tiny-inception)")
        }
        let allowed = family == .vgg ? vggKeys : resnetKeys
        if let extra = map.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw fail(extra, "not a key of a \(family.rawValue) network (keys: \(allowed.sorted().joined(separator: ", ")))")
        }
        func int(_ key: String, default d: Int? = nil, range: ClosedRange<Int> = 1...65536) throws -> Int {
            guard let raw = map[key] else {
                if let d { return d }
                throw fail(key, "missing")
            }
            guard let v = raw as? Int, range.contains(v) else { throw fail(key, "must be an integer in \(range.lowerBound)…\(range.upperBound)") }
            return v
        }
        func list(_ key: String, count: Int? = nil, range: ClosedRange<Int> = 1...65536) throws -> [Int] {
            guard let raw = map[key] else { throw fail(key, "missing") }
            guard let v = raw as? [Int], !v.isEmpty, v.allSatisfy({ range.contains($0) }) else {
                throw fail(key, "must be a list of integers in \(range.lowerBound)…\(range.upperBound)")
            }
            if let count, v.count != count { throw fail(key, "must have \(count) entries, has \(v.count)") }
            return v
        }
        let name = map["name"] as? String ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        var file = NetworkFile(name: name, family: family, classes: try int("classes", default: 21, range: 2...4096),
                               anchors: try int("anchors", default: 9, range: 1...1024))
        switch family {
        case .vgg:
            file.channels = try list("channels", count: 5)
            file.fc = try int("fc")
        case .resnet:
            file.stem = try int("stem")
            file.filters = try list("filters", count: 4)
            file.units = try list("units", count: 4, range: 1...256)
            file.rpn = try int("rpn")
            if let f = file.filters.first(where: { $0 % 4 != 0 }) { throw fail("filters", "\(f) is not a multiple of 4 (a unit's bottleneck is filters/4)") }
        case .inception: break   // refused above
        }
        return file
    }

    public var definition: NetworkDefinition {
        switch family {
        case .vgg:
            return NetworkDefinition.vgg(name: name, channels: channels, fc: fc, classes: classes, anchors: anchors)
        case .resnet:
            return NetworkDefinition.resnet(name: name, stem: stem, filters: filters, units: units, rpn: rpn, classes: classes, anchors: anchors)
        case .inception:
            // No file holds this family (`load` refuses it): the fork's full-width network.
            return NetworkDefinition.inception(name: name, layout: InceptionLayout.v3 { $1 }, rpn: 512, classes: classes, anchors: anchors)
        }
    }

    public var yaml: String {
        func l(_ v: [Int]) -> String { "[" + v.map(String.init).joined(separator: ", ") + "]" }
        var lines = ["# \(name): a \(family.rawValue) network (paramkit network show \(name).yaml)", "family: \(family.rawValue)", "name: \(name)"]
        switch family {
        case .vgg: lines += ["channels: \(l(channels))", "fc: \(fc)"]
        case .resnet: lines += ["stem: \(stem)", "filters: \(l(filters))", "units: \(l(units))", "rpn: \(rpn)"]
        case .inception: break
        }
        return (lines + ["classes: \(classes)", "anchors: \(anchors)"]).joined(separator: "\n") + "\n"
    }

    /// The file that describes a checkpoint: its family from the names, every width from the shapes;
    /// classes, anchors (and VGG's fc) from the heads when present, else the reference's (21, 9, 4096).
    /// Fails naming the first tensor the inferred network does not have with that shape.
    public static func infer(_ tensors: [TensorInfo], name: String) throws -> (file: NetworkFile, assumed: [String]) {
        var shapes: [String: [Int]] = [:]
        for t in tensors { shapes[t.name] = t.shape }
        let family = NetworkFamily.guess(tensors.map(\.name))
        var assumed: [String] = []
        func width(_ n: String, axis: Int = 0) throws -> Int {
            guard let s = shapes[n], s.count > axis else { throw UsageError("no \(n): not a \(family.rawValue) checkpoint ParamKit knows") }
            return s[axis]
        }
        let classes = shapes["cls_score_weight"]?[0]
        let anchors = shapes["rpn_cls_score_weight"].map { $0[0] / 2 }
        if classes == nil { assumed.append("classes 21 (no cls_score_weight)") }
        if anchors == nil { assumed.append("anchors 9 (no rpn_cls_score_weight)") }
        if family == .inception {
            // Inception's widths are the fork's (or its tiny twin's): name the built-in that fits.
            let mine = Dictionary(tensors.filter { !$0.name.hasSuffix("_test") }.map { ($0.key, $0.shape) }, uniquingKeysWith: { a, _ in a })
            for (builtin, width) in [("inception-v3", 1)] + (1...16).map({ ("tiny-inception", $0) }) {
                let def = try NetworkDefinition.named(builtin, classes: classes, anchors: anchors, width: width)
                let known = Dictionary(uniqueKeysWithValues: def.params.map { ($0.info.key, $0.shape) })
                if mine.allSatisfy({ known[$0.key] == $0.value }) {
                    let spelled = builtin + (builtin == "tiny-inception" && width > 1 ? " --width \(width)" : "")
                    throw UsageError("an Inception-v3 checkpoint: it is the built-in network \(spelled); network files describe vgg and resnet networks")
                }
            }
            throw UsageError("an Inception checkpoint whose widths are not inception-v3's or tiny-inception's; network files describe vgg and resnet networks")
        }
        var file = NetworkFile(name: name, family: family, classes: classes ?? 21, anchors: anchors ?? 9)
        switch family {
        case .vgg:
            file.channels = try (1...5).map { try width("conv\($0)_1_weight") }
            if let fc6 = shapes["fc6_weight"] { file.fc = fc6[0] } else { file.fc = 4096; assumed.append("fc 4096 (no fc6_weight)") }
        case .resnet:
            file.stem = try width("conv0_weight")
            file.filters = try (1...3).map { try width("stage\($0)_unit1_conv3_weight") }
            if let f = shapes["stage4_unit1_conv3_weight"] {
                file.filters.append(f[0])
            } else {
                // An RPN checkpoint has no R-CNN head: stage 4 doubles stage 3, as every ResNet does.
                file.filters.append(2 * file.filters[2])
                assumed.append("stage 4 filters \(file.filters[3]) (no stage 4)")
            }
            file.units = (1...4).map { s in max(1, tensors.filter { $0.name.hasPrefix("stage\(s)_unit") && $0.name.hasSuffix("_conv1_weight") }.count) }
            if let r = shapes["rpn_conv_3x3_weight"] { file.rpn = r[0] } else { file.rpn = 512; assumed.append("rpn 512 (no rpn_conv_3x3_weight)") }
        case .inception: break
        }
        let def = file.definition
        let known = Dictionary(uniqueKeysWithValues: def.params.map { ($0.info.key, $0.shape) })
        for t in tensors where !t.name.hasSuffix("_test") {
            guard let want = known[t.key] else {
                throw UsageError("\(t.key) \(Shape.text(t.shape)) fits no \(family.rawValue) layout ParamKit knows (VGG16's 13 convs, the reference's ResNet)")
            }
            guard want == t.shape else {
                throw UsageError("\(t.key) is \(Shape.text(t.shape)); the inferred \(family.rawValue) network has \(Shape.text(want)) there")
            }
        }
        return (file, assumed)
    }
}
