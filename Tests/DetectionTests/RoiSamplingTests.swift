// sampleRois against rcnn/io/rcnn.py sample_rois (ref_sample_rois* groups, parameters from the
// groups' attributes). Outputs are copies and float32 targets, so comparisons are exact.
// Groups with `numpy_seed` made numpy's random picks, which we do not reproduce: for those the
// deterministic half is checked on the reference's own picks (keep_indexes), and our seeded sampling
// is checked for the same block sizes and for consistency with the input rows.

import Testing
@testable import Detection

private struct RoiCase {
    let c: RefCase
    let rois: [[Float]], labels: [Int], overlaps: [Float], targets: [[Float]]
    let fgPerImage: Int, perImage: Int, numClasses: Int
    let fgThresh: Float, bgHi: Float, bgLo: Float

    init(_ group: String) throws {
        c = try RefCase(group)
        rois = try c.floatRows("rois"); labels = try c.ints("labels"); overlaps = try c.floats("overlaps")
        targets = try c.floatRows("bbox_targets")
        fgPerImage = try c.attrInt("fg_rois_per_image"); perImage = try c.attrInt("rois_per_image")
        numClasses = try c.attrInt("num_classes")
        fgThresh = Float(try c.attr("FG_THRESH")[0]); bgHi = Float(try c.attr("BG_THRESH_HI")[0])
        bgLo = Float(try c.attr("BG_THRESH_LO")[0])
    }

    var fgCandidates: Int { overlaps.lazy.filter { $0 >= fgThresh }.count }

    func run<S: Subsampler>(_ sampler: S) -> RoiSample {
        var s = sampler
        return sampleRois(rois: rois, fgRoisPerImage: fgPerImage, roisPerImage: perImage, numClasses: numClasses,
                          labels: labels, overlaps: overlaps, bboxTargets: targets,
                          fgThresh: fgThresh, bgThreshHi: bgHi, bgThreshLo: bgLo, sampler: &s)
    }

    func expectMatchesReference(_ r: RoiSample) throws {
        #expect(r.rois == (try c.floatRows("out_rois")))
        #expect(r.labels == (try c.ints("out_labels")))
        #expect(r.bboxTargets.flatMap { $0 } == (try c.floats("out_bbox_targets")))
        #expect(r.bboxWeights.flatMap { $0 } == (try c.floats("out_bbox_weights")))
    }
}

private func isRandom(_ group: String) throws -> Bool { try RefCase(group).f.numbers("numpy_seed", of: group) != nil }

struct RoiSamplingTests {
    @Test("without random picks the output equals the reference", .enabled(if: Golden.hasReferenceGroups, Golden.referenceNote), arguments: try Golden.groups(prefix: "ref_sample_rois").filter { try !isRandom($0) })
    func deterministicCaseMatches(group: String) throws {
        let rc = try RoiCase(group)
        for r in [rc.run(FirstInOrderSubsampler()), rc.run(SeededSubsampler(seed: 3))] {
            #expect(r.keep == (try rc.c.ints("keep_indexes")))
            try rc.expectMatchesReference(r)
        }
    }

    @Test("the reference's picks give the reference's outputs", .enabled(if: Golden.hasReferenceGroups, Golden.referenceNote), arguments: try Golden.groups(prefix: "ref_sample_rois").filter { try isRandom($0) })
    func gatherOfReferencePicksMatches(group: String) throws {
        let rc = try RoiCase(group)
        let r = gatherRoiSample(keep: try rc.c.ints("keep_indexes"), foregroundCount: min(rc.fgPerImage, rc.fgCandidates),
                                rois: rc.rois, labels: rc.labels, bboxTargets: rc.targets, numClasses: rc.numClasses)
        try rc.expectMatchesReference(r)
    }

    @Test("seeded sampling has the reference's fg / bg / padding blocks and consistent rows",
          .enabled(if: Golden.hasReferenceGroups, Golden.referenceNote), arguments: try Golden.groups(prefix: "ref_sample_rois").filter { try isRandom($0) })
    func seededSamplingInvariants(group: String) throws {
        let rc = try RoiCase(group)
        let refKeep = try rc.c.ints("keep_indexes")
        let fgCount = min(rc.fgPerImage, rc.fgCandidates)
        let bgCandidates = rc.overlaps.lazy.filter { $0 < rc.bgHi && $0 >= rc.bgLo }.count
        let bgCount = min(rc.perImage - fgCount, bgCandidates)
        // The reference's picks have these block sizes …
        #expect(refKeep.count == rc.perImage)
        #expect(refKeep.prefix(fgCount).allSatisfy { rc.overlaps[$0] >= rc.fgThresh })
        #expect(refKeep.dropFirst(fgCount).allSatisfy { rc.overlaps[$0] < rc.fgThresh })
        for seed: UInt64 in [0, 777, 12345] {
            let r = rc.run(SeededSubsampler(seed: seed))
            // … and so do ours.
            #expect(r.keep.count == rc.perImage && r.foregroundCount == fgCount)
            let fg = r.keep.prefix(fgCount), bg = r.keep[fgCount..<(fgCount + bgCount)], pad = r.keep.dropFirst(fgCount + bgCount)
            #expect(fg.allSatisfy { rc.overlaps[$0] >= rc.fgThresh } && Set(fg).count == fg.count)
            #expect(bg.allSatisfy { rc.overlaps[$0] < rc.bgHi && rc.overlaps[$0] >= rc.bgLo } && Set(bg).count == bg.count)
            #expect(pad.allSatisfy { rc.overlaps[$0] < rc.fgThresh })
            // Rows are copies of the picked input rows; labels only in the fg block.
            for (row, i) in r.keep.enumerated() {
                #expect(r.rois[row] == rc.rois[i])
                #expect(r.labels[row] == (row < fgCount ? rc.labels[i] : 0))
                let cls = Int(rc.targets[i][0])
                var t = [Float](repeating: 0, count: 4 * rc.numClasses), w = t
                if cls > 0 { for k in 0..<4 { t[4 * cls + k] = rc.targets[i][1 + k]; w[4 * cls + k] = 1 } }
                #expect(r.bboxTargets[row] == t && r.bboxWeights[row] == w)
            }
        }
    }

    @Test func paddingRepeatsBackgroundRoisUpToTheBatchSize() {
        let rois: [[Float]] = (0..<5).map { i in [Float(i), 0, Float(i) + 10, 10] }
        let overlaps: [Float] = [0.9, 0.6, 0.3, 0.1, 0.0]
        let targets: [[Float]] = [[2, 0.1, 0.2, 0.3, 0.4], [1, -0.1, 0, 0, 0.5], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
        var s = FirstInOrderSubsampler()
        let r = sampleRois(rois: rois, fgRoisPerImage: 2, roisPerImage: 8, numClasses: 3, labels: [2, 1, 1, 2, 0],
                           overlaps: overlaps, bboxTargets: targets, sampler: &s)
        // fg 0, 1; bg 2, 3, 4; then the rois below 0.5 again, in index order with this sampler.
        #expect(r.keep == [0, 1, 2, 3, 4, 2, 3, 4])
        #expect(r.labels == [2, 1, 0, 0, 0, 0, 0, 0])
        #expect(r.bboxTargets[0] == [0, 0, 0, 0, 0, 0, 0, 0, 0.1, 0.2, 0.3, 0.4])
        #expect(r.bboxWeights[1] == [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0])
        #expect(r.bboxWeights[2].allSatisfy { $0 == 0 })
    }

    @Test func excessForegroundIsCappedAndTheRestGoesToBackground() {
        let overlaps: [Float] = [0.9, 0.8, 0.7, 0.2, 0.1, 0.45]
        let rois = overlaps.map { [$0, 0, 1, 1] }
        let targets = overlaps.map { _ in [Float](repeating: 0, count: 5) }
        var s = SeededSubsampler(seed: 5)
        let r = sampleRois(rois: rois, fgRoisPerImage: 2, roisPerImage: 4, numClasses: 2, labels: [1, 1, 1, 0, 0, 0],
                           overlaps: overlaps, bboxTargets: targets, sampler: &s)
        #expect(r.foregroundCount == 2 && r.keep.count == 4)
        #expect(r.keep.prefix(2).allSatisfy { overlaps[$0] >= 0.5 })
        #expect(r.keep.dropFirst(2).allSatisfy { overlaps[$0] < 0.5 })
    }
}
