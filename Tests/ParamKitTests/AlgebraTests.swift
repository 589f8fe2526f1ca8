// Checkpoint algebra: combine and recipes, freeze resolution and its warnings, audit, network
// definitions, init, rename, cast, bbox de-normalisation and lineage.

import Foundation
import Testing
@testable import ParamKit

struct AlgebraTests {
    static let rpn = Fixtures.path("tiny_vgg_rpn-0001.params")
    static let rcnn = Fixtures.path("tiny_vgg_rcnn-0001.params")

    func combine(_ recipe: Recipe, _ paths: [String], to output: String) throws -> (MergePlan, String) {
        let readers = try paths.map { try Formats.open(path: $0) }
        var plan = try Merge.plan(recipe, readers: readers)
        let digests = DigestCache(readers)
        let f = try Formats.Output(path: output, explicit: nil)
        let digest = try Merge.write(&plan, digests: digests, output: output, format: f, operation: "combine")
        return (plan, digest)
    }

    @Test func combineFirstInputWinsAndReproducesMXNetFile() throws {
        let out = temporaryDirectory() + "/combined.params"
        let (plan, digest) = try combine(.combineModel(labels: ["rpn2", "rcnn1"]), [Self.rpn, Self.rcnn], to: out)
        let expected = Fixtures.path("combined_expected-0000.params")
        #expect(digest == (try Formats.load(path: expected)).rootDigest)
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: URL(fileURLWithPath: expected)))
        #expect(plan.conflicts.count == 26)
        #expect(plan.conflicts.allSatisfy { $0.winner == 0 && $0.equal == false })
        #expect(plan.items.filter { $0.input == 1 }.map(\.info.name).sorted() ==
                ["bbox_pred_bias", "bbox_pred_weight", "cls_score_bias", "cls_score_weight", "fc6_bias", "fc6_weight", "fc7_bias", "fc7_weight"])
    }

    @Test func strictCombineWritesNothingWhenConflictsDiffer() throws {
        let dir = temporaryDirectory()
        let readers = try [Self.rpn, Self.rcnn].map { try Formats.open(path: $0) }
        var plan = try Merge.plan(.combineModel(labels: ["a", "b"]), readers: readers)
        #expect(throws: PolicyViolation.self) {
            _ = try Merge.write(&plan, digests: DigestCache(readers), output: dir + "/x.h5", format: .hdf5, operation: "combine", strict: true)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
        // The dry-run path compares the same conflicts without writing.
        var dry = try Merge.plan(.combineModel(labels: ["a", "b"]), readers: readers)
        try Merge.compareConflicts(&dry, digests: DigestCache(readers))
        #expect(dry.conflicts.map(\.equal) == plan.conflicts.map(\.equal))
    }

    @Test func combineReportsEqualConflictsAsEqual() throws {
        let dir = temporaryDirectory()
        let (plan, _) = try combine(.combineModel(labels: ["a", "b"]), [Self.rpn, Self.rpn], to: dir + "/same.h5")
        #expect(plan.conflicts.isEmpty == false && plan.conflicts.allSatisfy { $0.equal == true })
    }

    @Test func recipeWithUndeclaredConflictFailsNamingTensorAndInputs() throws {
        let recipe = Recipe(inputs: ["rpn2", "rcnn1"], rules: [.take(from: "rpn2", .all), .take(from: "rcnn1", .all)])
        let readers = try [Self.rpn, Self.rcnn].map { try Formats.open(path: $0) }
        let error = try #require(throws: UsageError.self) { _ = try Merge.plan(recipe, readers: readers) }
        #expect(error.message.contains("arg:conv1_1_weight") && error.message.contains("'rpn2'") && error.message.contains("'rcnn1'"))
    }

    @Test func recipeRulesTakeDropRenameAndPrefer() throws {
        let recipe = Recipe(
            inputs: ["rpn", "rcnn"],
            rules: [.take(from: "rpn", try Selector(.prefix, ["conv1_1", "rpn_"])),
                    .take(from: "rcnn", try Selector(.exact, ["conv1_1_weight"])),
                    .take(from: "rcnn", try Selector(.glob, ["fc?_*"])),
                    .drop(try Selector(.regex, ["_bias$"])),
                    .rename(pattern: "^fc(\\d)_", to: "head$1_")],
            preferences: [Recipe.Preference(selector: try Selector(.exact, ["conv1_1_weight"]), winner: "rcnn")])
        let readers = try [Self.rpn, Self.rcnn].map { try Formats.open(path: $0) }
        let plan = try Merge.plan(recipe, readers: readers)
        #expect(plan.items.map(\.info.name) == ["conv1_1_weight", "rpn_conv_3x3_weight", "rpn_cls_score_weight",
                                                "rpn_bbox_pred_weight", "head6_weight", "head7_weight"])
        #expect(plan.items[0].input == 1)   // the declared winner
        #expect(plan.conflicts.map(\.key) == ["arg:conv1_1_weight"])
        #expect(plan.items[4].transforms == ["copied", "renamed from fc6_weight"])
        // A rename that merges two names is refused.
        let merging = Recipe(inputs: ["rpn"], rules: [.take(from: "rpn", .all), .rename(pattern: "_(weight|bias)$", to: "")])
        #expect(throws: UsageError.self) { _ = try Merge.plan(merging, readers: [readers[0]]) }
    }

    @Test func recipeFileLoadsAndRejectsBadRules() throws {
        let dir = temporaryDirectory()
        let good = dir + "/r.yaml"
        try """
        inputs: [a, b]
        rules:
          - take: {from: a, prefix: [conv]}
          - drop: {regex: "_bias$", role: arg}
          - rename: {regex: "^conv", to: "c"}
        conflicts: {policy: first-wins, prefer: [{glob: "x*", winner: b}]}
        """.write(toFile: good, atomically: true, encoding: .utf8)
        let r = try Recipe.load(path: good)
        #expect(r.inputs == ["a", "b"] && r.rules.count == 3 && r.policy == .firstWins && r.preferences.count == 1)
        let bad = dir + "/bad.yaml"
        try "inputs: [a]\nrules:\n  - take: {from: a, prefix: x, glob: y}\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let e = try #require(throws: UsageError.self) { _ = try Recipe.load(path: bad) }
        #expect(e.message.contains("rule 1"))
        for example in try FileManager.default.contentsOfDirectory(atPath: Self.examples).filter({ $0.hasPrefix("combine-") && $0.hasSuffix(".yaml") }) {
            _ = try Recipe.load(path: Self.examples + "/" + example)
        }
    }

    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples").path

    // MARK: freeze

    func names(_ path: String) throws -> [TensorInfo] { try Formats.open(path: path).entries }

    @Test func fixedParamsPresetsMatchTheReference() throws {
        let vgg = try names(Self.rpn)
        let fixed = try Freeze.resolve(FreezeSpec.parse("FIXED_PARAMS", family: nil, names: vgg.map(\.name)), against: vgg)
        #expect(fixed.frozen.map(\.name) == ["conv1_1_weight", "conv1_1_bias", "conv1_2_weight", "conv1_2_bias",
                                            "conv2_1_weight", "conv2_1_bias", "conv2_2_weight", "conv2_2_bias"])
        let shared = try Freeze.resolve(FreezeSpec.parse("FIXED_PARAMS_SHARED", family: nil, names: vgg.map(\.name)), against: vgg)
        #expect(shared.frozen.count == 26)
        #expect(shared.trainable.map(\.name).allSatisfy { $0.hasPrefix("rpn_") })   // rpn_conv_3x3 has conv_3, not conv3
        #expect(shared.warnings.isEmpty)
        #expect(shared.frozenCount.elements + shared.trainableCount.elements == vgg.reduce(0) { $0 + $1.elementCount })
    }

    @Test func resnetPresetWarnsThatGammaAndBetaFreezeEveryBatchNorm() throws {
        let resnet = try names(Fixtures.path("tiny_resnet-0000.params"))
        let r = try Freeze.resolve(FreezeSpec.parse("FIXED_PARAMS", family: nil, names: resnet.map(\.name)), against: resnet)
        #expect(r.spec.origin.contains("resnet"))
        #expect(r.frozen.contains { $0.name == "bn1_gamma" })      // the head's BatchNorm too, as in MXNet
        #expect(r.warnings.contains { $0.contains("'gamma'") && $0.contains("bn1") })
        #expect(r.warnings.contains { $0.contains("aux state") })
        #expect(r.aux.count == 12)
    }

    @Test func inceptionPresetsReachAsFarAsTheForksSubstringsDo() throws {
        let def = try NetworkDefinition.named("inception-v3")
        let infos = def.params.map(\.info)
        let fixed = try Freeze.resolve(FreezeSpec.parse("FIXED_PARAMS", family: nil, names: infos.map(\.name)), against: infos)
        #expect(fixed.spec.origin.contains("inception"))
        // 'conv_batchnorm' is the stem's first BatchNorm, and every *_conv_batchnorm_* in the modules too.
        #expect(fixed.frozen.contains { $0.name == "mixed_10_tower_1_mixed_conv_batchnorm_gamma" })
        #expect(!fixed.frozen.contains { $0.name.hasSuffix("_conv2d_weight") })
        #expect(fixed.warnings.contains { $0.contains("'conv_batchnorm'") && $0.contains("outside") })
        let shared = try Freeze.resolve(FreezeSpec.parse("FIXED_PARAMS_SHARED", family: .inception, names: []), against: infos)
        // 'conv2' inside every 'conv2d': every convolution, the R-CNN head's mixed_8–10 included.
        #expect(shared.frozen.filter { $0.name.hasSuffix("_conv2d_weight") }.count == 94)
        #expect(Set(shared.trainable.map(\.name)) == Set(def.params.filter { $0.role == .arg && !$0.name.contains("conv2d") && !$0.name.contains("batchnorm") }.map(\.name)))
        #expect(shared.warnings.contains { $0.contains("'conv2' matches 94 tensor(s) only inside a longer word ('conv2d')") })
        #expect(shared.warnings.contains { $0.contains("'conv1' matches no tensor") })
    }

    @Test func inferNamesTheBuiltInInceptionAndRefusesAnInceptionFile() throws {
        let tiny = try NetworkDefinition.named("tiny-inception", width: 2).params.map(\.info)
        #expect(throws: UsageError.self) { try NetworkFile.infer(tiny, name: "x") }
        do { _ = try NetworkFile.infer(tiny, name: "x") } catch { #expect("\(error)".contains("tiny-inception --width 2")) }
        let dir = temporaryDirectory()
        try "family: inception\n".write(toFile: dir + "/net.yaml", atomically: true, encoding: .utf8)
        do { _ = try NetworkFile.load(path: dir + "/net.yaml"); Issue.record("an inception network file loaded") } catch {
            #expect("\(error)".contains("family: must be vgg or resnet"))
        }
    }

    @Test func freezeWarnsOnEmptyEntriesAndOutOfFamilyMatches() throws {
        let entries = ["conv2d_weight", "conv2_1_weight", "fc6_weight"].map { TensorInfo(name: $0, role: .arg, dtype: .float32, shape: [1]) }
        let r = try Freeze.resolve(FreezeSpec(entries: ["conv2", "conv9"]), against: entries)
        #expect(r.frozen.map(\.name) == ["conv2d_weight", "conv2_1_weight"])
        #expect(r.warnings.contains { $0.contains("'conv9' matches no tensor") })
        #expect(r.warnings.contains { $0.contains("'conv2'") && $0.contains("conv2d") })
        let prefix = try Freeze.resolve(FreezeSpec(entries: ["conv2_"], mode: .prefix), against: entries)
        #expect(prefix.frozen.map(\.name) == ["conv2_1_weight"])
        let glob = try Freeze.resolve(FreezeSpec(entries: ["*_weight"], mode: .glob), against: entries)
        #expect(glob.frozen.count == 3)
        let regex = try Freeze.resolve(FreezeSpec(entries: ["^conv\\d_"], mode: .regex), against: entries)
        #expect(regex.frozen.map(\.name) == ["conv2_1_weight"])
    }

    @Test func auditCatchesOneChangedElementInAFrozenTensor() throws {
        let dir = temporaryDirectory()
        var c = try Formats.load(path: Self.rpn)
        try Formats.save(c, to: dir + "/before.h5")
        // A stage that trains only the RPN head, but (by mistake) nudges one conv3 weight.
        for k in c.tensors.indices where c.tensors[k].info.name.hasPrefix("rpn_") || c.tensors[k].info.name == "conv3_2_weight" {
            var v = c.tensors[k].tensor.doubleValues().map(Float.init)
            if c.tensors[k].info.name == "conv3_2_weight" { v[17] = v[17].nextUp } else { v = v.map { $0 + 1 } }
            c.tensors[k].tensor = Tensor(v, shape: c.tensors[k].info.shape)
        }
        try Formats.save(c, to: dir + "/after.h5")
        let bad = try Audit.run(before: dir + "/before.h5", after: dir + "/after.h5", spec: "FIXED_PARAMS_SHARED", mode: .substring, family: nil)
        #expect(bad.violations.map(\.key) == ["arg:conv3_2_weight"])
        #expect(bad.violations[0].problem.contains("1 of"))
        #expect(bad.unchangedTrainable.isEmpty)
        let fine = try Audit.run(before: dir + "/before.h5", after: dir + "/after.h5", spec: "FIXED_PARAMS", mode: .substring, family: nil)
        #expect(fine.violations.isEmpty)
        #expect(fine.unchangedTrainable.count == 17)   // conv3_1 … conv5_3 except the nudged one
    }

    // MARK: networks and init

    @Test func tinyVGGDefinitionHasTheFixtureShapes() throws {
        let net = try NetworkDefinition.named("tiny-vgg")
        var fixtures: [String: [Int]] = [:]
        for path in [Self.rpn, Self.rcnn] { for e in try names(path) { fixtures[e.name] = e.shape } }
        #expect(net.params.count == fixtures.count)
        for p in net.params { #expect(fixtures[p.name] == p.shape, "\(p.name)") }
        let wide = try NetworkDefinition.named("tiny-vgg", classes: 7, anchors: 3, width: 2)
        #expect(wide.params.first { $0.name == "rpn_cls_score_weight" }!.shape == [6, 32, 1, 1])
        #expect(wide.params.first { $0.name == "bbox_pred_weight" }!.shape == [28, 64])
    }

    @Test func vgg16DefinitionHasTheReferenceSizes() throws {
        let net = try NetworkDefinition.named("vgg16")
        #expect(net.params.count == 40)
        #expect(net.params.reduce(0) { $0 + $1.info.elementCount } == 137_078_239)
        #expect(net.params.first { $0.name == "fc6_weight" }!.shape == [4096, 25088])
    }

    func pretrainedTinyVGG(width: Int, dropping: Set<String> = []) throws -> String {
        let net = try NetworkDefinition.named("tiny-vgg", width: width)
        var c = Checkpoint()
        for (i, p) in net.params.enumerated() where p.group != "rpn" && !dropping.contains(p.name) {
            c.append(p.name, Tensor(sampleFloats(p.info.elementCount, seed: UInt64(i)), shape: p.shape))
        }
        c.append("fc8_weight", Tensor(sampleFloats(10, seed: 99), shape: [10]))
        let path = temporaryDirectory() + "/imagenet.h5"
        try Formats.save(c, to: path)
        return path
    }

    @Test func initIsReproducibleAndDrawsTheStatedDistributions() throws {
        let pretrained = try Formats.open(path: try pretrainedTinyVGG(width: 4))
        let net = try NetworkDefinition.named("tiny-vgg", width: 4)
        let plan = try Init.plan(network: net, pretrained: pretrained, heads: ["rpn", "rcnn"])
        #expect(plan.unused.map(\.name) == ["fc8_weight"])
        #expect(plan.rows.first { $0.spec.name == "cls_score_weight" }!.action == .random(std: 0.01))
        let dir = temporaryDirectory()
        let a = try Init.write(plan, pretrained: pretrained, seed: 7, output: dir + "/a.h5", format: .hdf5)
        let b = try Init.write(plan, pretrained: pretrained, seed: 7, output: dir + "/b.h5", format: .hdf5)
        let c = try Init.write(plan, pretrained: pretrained, seed: 8, output: dir + "/c.h5", format: .hdf5)
        #expect(a == b && a != c)
        let out = try Formats.load(path: dir + "/a.h5")
        // N(0, σ) samples: the mean is within 5 standard errors of 0 and the sample std within 3% of σ
        // (its relative standard error is 1/√(2n), under 0.4% for these sizes).
        for (name, std) in [("rpn_conv_3x3_weight", 0.01), ("rpn_cls_score_weight", 0.01), ("bbox_pred_weight", 0.001)] {
            let s = TensorStats.of(out["arg:" + name]!)
            let n = Double(s.count)
            #expect(abs(s.mean!) < 5 * std / n.squareRoot(), "\(name) mean \(s.mean!)")
            #expect(abs(s.std! / std - 1) < 0.03, "\(name) std \(s.std!)")
        }
        #expect(TensorStats.of(out["arg:rpn_conv_3x3_bias"]!).zeroCount == 64)
        let source = try Formats.load(path: pretrained.path)
        #expect(out["arg:fc6_weight"]!.bitwiseEqual(source["arg:fc6_weight"]!))
    }

    @Test func initRefusesMissingAndMismatchedTensorsUnlessToldOtherwise() throws {
        let pretrained = try Formats.open(path: try pretrainedTinyVGG(width: 1, dropping: ["fc7_bias"]))
        let wide = try NetworkDefinition.named("tiny-vgg", width: 1)
        let plan = try Init.plan(network: wide, pretrained: pretrained, heads: ["rcnn"])
        #expect(plan.problems.map(\.spec.name) == ["fc7_bias"])
        #expect(throws: UsageError.self) { _ = try Init.write(plan, pretrained: pretrained, seed: 0, output: temporaryDirectory() + "/x.h5", format: .hdf5) }
        let lenient = try Init.plan(network: wide, pretrained: pretrained, heads: ["rcnn"], missing: .initialise)
        #expect(lenient.problems.isEmpty)
        let doubled = try NetworkDefinition.named("tiny-vgg", width: 2)
        let mismatch = try Init.plan(network: doubled, pretrained: pretrained, heads: [])
        #expect(mismatch.problems.count == 26)
        #expect(!mismatch.rows.contains { $0.spec.group != "backbone" })
    }

    // MARK: rewrites

    @Test func renameAppliesRulesInOrderAndRejectsCollisions() throws {
        let r = try Formats.open(path: Self.rpn)
        let plan = try Rewrite.rename(r, rules: [try .init("^conv(\\d)_(\\d)=>block$1.$2"), try .init("^block1=>stem")])
        #expect(plan.items[0].info.name == "stem.1_weight")
        #expect(plan.items[4].info.name == "block2.1_weight")
        #expect(throws: UsageError.self) { _ = try Rewrite.rename(r, rules: [try .init("_(weight|bias)$=>")]) }
        #expect(throws: UsageError.self) { _ = try Rewrite.RenameRule("no arrow") }
    }

    @Test func castReportsErrorAndMatchesMXNetBFloat16Truncation() throws {
        let t = Tensor([0.1, 65504, -2, 1e-3], shape: [4])
        let (trunc, err) = Rewrite.castTensor(t, to: .bfloat16, rounding: .truncate)
        let bits = trunc.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        #expect(bits[0] == 0x3DCC && bits[1] == 0x477F)   // what mshadow's FloatToBF16 gives
        #expect(abs(err - 224) < 1e-9)                      // 65504 → 65280
        let (near, _) = Rewrite.castTensor(t, to: .bfloat16, rounding: .nearest)
        let nbits = near.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
        #expect(nbits[0] == 0x3DCD && nbits[1] == 0x4780)
        let (half, herr) = Rewrite.castTensor(t, to: .float16, rounding: .nearest)
        #expect(half.doubleValues()[1] == 65504 && herr < 1e-4)
    }

    @Test func bboxDenormFollowsTheReferenceFormula() throws {
        var c = Checkpoint()
        let w: [Float] = (0..<16).map { Float($0) }            // 2 classes × 4 rows, 2 columns
        c.append("bbox_pred_weight", Tensor(w, shape: [8, 2]))
        c.append("bbox_pred_bias", Tensor([1, 1, 1, 1, 2, 2, 2, 2], shape: [8]))
        let path = temporaryDirectory() + "/r.h5"
        try Formats.save(c, to: path)
        let r = try Formats.open(path: path)
        let means: [Double] = [0, 0, 0, 0, 0.5, -0.5, 0.25, 0]
        let stds: [Double] = [0, 0, 0, 0, 0.1, 0.1, 0.2, 0.2]
        let plan = try Rewrite.bboxDenorm(r, means: means, stds: stds)
        let out = temporaryDirectory() + "/d.h5"
        _ = try Rewrite.write(plan, reader: r, output: out, format: .hdf5)
        let d = try Formats.load(path: out)
        let wt = d["arg:bbox_pred_weight_test"]!.doubleValues(), bt = d["arg:bbox_pred_bias_test"]!.doubleValues()
        for row in 0..<8 {
            for col in 0..<2 { #expect(wt[row * 2 + col] == Double(w[row * 2 + col] * Float(stds[row]))) }
            #expect(bt[row] == Double(Float(row < 4 ? 1 : 2) * Float(stds[row]) + Float(means[row])))
        }
        #expect(wt[0..<8].allSatisfy { $0 == 0 })   // background rows are zeroed by std 0
        #expect(throws: UsageError.self) { _ = try Rewrite.bboxDenorm(r, means: [0, 0, 0], stds: [1, 1, 1]) }
    }

    @Test func lineageNamesSourceKeyAndTransforms() throws {
        let dir = temporaryDirectory()
        _ = try combine(.combineModel(labels: ["rpn2", "rcnn1"]), [Self.rpn, Self.rcnn], to: dir + "/c.h5")
        let l = try Lineage.read(path: dir + "/c.h5", tensor: "fc6_weight")
        #expect(l.rows.count == 1 && l.rows[0].source == "rcnn1" && l.rows[0].sourceKey == "arg:fc6_weight")
        #expect(l.rows[0].sourceDigest == (try Formats.load(path: Self.rcnn)).rootDigest)
        #expect(l.operation == "combine" && l.inputs.map(\.label) == ["rpn2", "rcnn1"])
    }
}
