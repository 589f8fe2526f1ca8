// assignAnchor against rcnn/io/rpn.py assign_anchor (ref_assign_anchor* groups), read generically
// from each group's feat_shape / scales / ratios / feat_stride / allowed_border / im_info.
//
// Labels and weights are exact. bbox_target is computed in Double and stored as Float like the
// reference, so it is bit-identical on the shipped golden file; but log() may differ from numpy's by
// an ulp and flip a float32 rounding on other data: 1e-6 relative covers that and nothing else.
// The seeded `label` / `bbox_weight` depend on numpy's MT19937 stream, which we deliberately do not
// reproduce, so for them only the sampling invariants are checked.

import Testing
@testable import Detection

private struct AnchorCase {
    let c: RefCase
    let height: Int, width: Int, channels: Int

    init(_ group: String) throws {
        c = try RefCase(group)
        let feat = try c.attr("feat_shape").map { Int($0) }
        (channels, height, width) = (feat[1], feat[2], feat[3])
    }

    func run<S: Subsampler>(_ sampler: S) throws -> AnchorTargets {
        var s = sampler
        let info = try c.doubles("im_info")
        return assignAnchor(featureHeight: height, featureWidth: width, gtBoxes: try c.floatRows("gt_boxes"),
                            imInfo: (info[0], info[1], info[2]), featStride: try c.attrInt("feat_stride"),
                            scales: try c.attr("scales"), ratios: try c.attr("ratios"),
                            allowedBorder: try c.attr("allowed_border")[0], sampler: &s)
    }
}

private func count(_ labels: [Float], _ v: Float) -> Int { labels.lazy.filter { $0 == v }.count }

struct AnchorTargetsTests {
    @Test("unsampled case matches the reference exactly", .enabled(if: Golden.hasReferenceGroups, Golden.referenceNote), arguments: try Golden.groups(prefix: "ref_assign_anchor").filter {
        !(try RefCase($0).f.children(of: $0).contains("label_presample"))
    })
    func deterministicCaseMatches(group: String) throws {
        let a = try AnchorCase(group)
        let ref = try a.c.floats("label")
        let (fg, bg) = (try a.c.attrInt("num_fg"), try a.c.attrInt("num_bg"))
        #expect(count(ref, 1) == fg && count(ref, 0) == bg)
        // No cap is reached, so every sampler gives the same result.
        for t in [try a.run(FirstInOrderSubsampler()), try a.run(NoSubsampling()), try a.run(SeededSubsampler(seed: 1))] {
            #expect(t.numAnchors * 2 == a.channels)
            #expect(t.label == ref)
            #expect(t.bboxWeight == (try a.c.floats("bbox_weight")))
            expectClose(t.bboxTarget, try a.c.floats("bbox_target"), rtol: 1e-6, "\(group) bbox_target")
        }
    }

    @Test("before sampling, labels and weights match the reference exactly", .enabled(if: Golden.hasReferenceGroups, Golden.referenceNote), arguments: try Golden.groups(prefix: "ref_assign_anchor").filter {
        try RefCase($0).f.children(of: $0).contains("label_presample")
    })
    func presampleMatches(group: String) throws {
        let a = try AnchorCase(group)
        let t = try a.run(NoSubsampling())
        #expect(t.label == (try a.c.floats("label_presample")))
        #expect(t.bboxWeight == (try a.c.floats("bbox_weight_presample")))
        #expect(t.foregroundCount == (try a.c.attrInt("num_fg_presample")))
        #expect(t.backgroundCount == (try a.c.attrInt("num_bg_presample")))
        expectClose(t.bboxTarget, try a.c.floats("bbox_target"), rtol: 1e-6, "\(group) bbox_target")
    }

    @Test("the debug path disables the first excess anchors like the reference", .enabled(if: Golden.hasReferenceGroups, Golden.referenceNote), arguments: try Golden.groups(prefix: "ref_assign_anchor").filter {
        try RefCase($0).f.children(of: $0).contains("label_debug_path")
    })
    func debugPathMatches(group: String) throws {
        let a = try AnchorCase(group)
        let t = try a.run(FirstInOrderSubsampler())
        #expect(t.label == (try a.c.floats("label_debug_path")))
        // Targets do not depend on sampling.
        expectClose(t.bboxTarget, try a.c.floats("bbox_target"), rtol: 1e-6, "\(group) bbox_target")
    }

    @Test("seeded sampling keeps the reference's counts and only presample labels", .enabled(if: Golden.hasReferenceGroups, Golden.referenceNote), arguments: try Golden.groups(prefix: "ref_assign_anchor").filter {
        try RefCase($0).f.children(of: $0).contains("label_presample")
    })
    func seededSamplingInvariants(group: String) throws {
        let a = try AnchorCase(group)
        let ref = try a.c.floats("label"), presample = try a.c.floats("label_presample")
        // The reference's own sampled labels: a subset of presample, as these invariants assume.
        #expect(zip(ref, presample).allSatisfy { $0 == -1 || $0 == $1 })
        for seed: UInt64 in [0, 4242, 99] {
            let t = try a.run(SeededSubsampler(seed: seed))
            #expect(count(t.label, 1) == count(ref, 1), "fg count, seed \(seed)")
            #expect(count(t.label, 0) == count(ref, 0), "bg count, seed \(seed)")
            #expect(zip(t.label, presample).allSatisfy { $0 == -1 || $0 == $1 }, "labels not a subset of presample")
            // Weights: exactly on the fg anchors that survived.
            let plane = a.height * a.width
            var expected = [Float](repeating: 0, count: t.bboxWeight.count)
            for (i, l) in t.label.enumerated() where l == 1 {
                let k = i / plane, cell = i % plane
                for j in 0..<4 { expected[(4 * k + j) * plane + cell] = 1 }
            }
            #expect(t.bboxWeight == expected)
        }
    }

    @Test(.enabled(if: Golden.hasReferenceGroups, Golden.referenceNote)) func seededSamplingIsReproducible() throws {
        let group = try #require(try Golden.groups(prefix: "ref_assign_anchor_sampled").first)
        let a = try AnchorCase(group)
        #expect(try a.run(SeededSubsampler(seed: 7)).label == a.run(SeededSubsampler(seed: 7)).label)
        #expect(try a.run(SeededSubsampler(seed: 7)).label != a.run(SeededSubsampler(seed: 8)).label)
    }

    @Test func withoutGtEveryInsideAnchorIsBackground() {
        var s = NoSubsampling()
        let t = assignAnchor(featureHeight: 4, featureWidth: 5, gtBoxes: [], imInfo: (64, 80, 1), scales: [1], ratios: [1], sampler: &s)
        // One 16×16 anchor per cell, all inside the 64×80 image.
        #expect(t.label == [Float](repeating: 0, count: 20))
        #expect(t.bboxTarget.allSatisfy { $0 == 0 } && t.bboxWeight.allSatisfy { $0 == 0 })
    }

    @Test func anchorsCrossingTheBorderAreIgnored() {
        var s = NoSubsampling()
        // 32×32 anchors centred at 7.5 + 16·i: only those with x1 ≥ 0 and x2 < 64 are inside.
        let t = assignAnchor(featureHeight: 1, featureWidth: 4, gtBoxes: [[16, 0, 40, 20, 1]], imInfo: (40, 64, 1),
                             scales: [2], ratios: [1], sampler: &s)
        // x ranges: [−8, 23], [8, 39], [24, 55], [40, 71]; y [−8, 23] for all, so none is inside.
        #expect(t.label == [-1, -1, -1, -1])
        var s2 = NoSubsampling()
        let t2 = assignAnchor(featureHeight: 2, featureWidth: 4, gtBoxes: [[10, 16, 34, 40, 1]], imInfo: (64, 64, 1),
                              scales: [2], ratios: [1], sampler: &s2)
        // Row 1 (y [8, 39]) anchors 1 and 2 are inside: IoU 600/1049 ≈ 0.57 (the gt's best, so fg)
        // and 264/1385 ≈ 0.19 (< 0.3, so bg).
        #expect(t2.label == [-1, -1, -1, -1, -1, 1, 0, -1])
    }
}
