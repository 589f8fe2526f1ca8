// addBBoxRegressionTargets against rcnn/processing/bbox_regression.py (ref_bbox_regression*): the
// concatenated images are split by image_offsets, classes come from num_classes.
//
// Tolerances: means/stds follow numpy's float32 partial sums, so they agree to rounding of the final
// Double operations (bit-identical on the shipped golden file). 1e-9 relative leaves room for that
// yet is ~1000× tighter than the error of summing in Double instead (1.4e-6 on these means). The
// normalised targets are float32 values divided by stds as small as ~0.06, so one float32 ulp of
// difference before normalisation could become ~1e-6: 1e-5 (relative, with a floor of 1e-5 absolute
// near 0) still catches any wrong class, gt assignment or statistic.

import Foundation
import Testing
@testable import Detection

struct BBoxRegressionTests {
    @Test("targets, means and stds match the reference", .enabled(if: Golden.hasReferenceGroups, Golden.referenceNote), arguments: try Golden.groups(prefix: "ref_bbox_regression"))
    func matchesReference(group: String) throws {
        let c = try RefCase(group)
        let boxes = try c.floatRows("boxes"), overlaps = try c.floats("max_overlaps"), classes = try c.ints("max_classes")
        let offsets = try c.ints("image_offsets")
        var roidb = zip(offsets, offsets.dropFirst()).map { lo, hi in
            RegressionRoidbEntry(boxes: Array(boxes[lo..<hi]), maxOverlaps: Array(overlaps[lo..<hi]), maxClasses: Array(classes[lo..<hi]))
        }
        let (means, stds) = addBBoxRegressionTargets(&roidb, numClasses: try c.attrInt("num_classes"))
        expectClose(means.flatMap { $0 }, try c.doubles("means"), rtol: 1e-9, "\(group) means")
        expectClose(stds.flatMap { $0 }, try c.doubles("stds"), rtol: 1e-9, "\(group) stds")
        let got = roidb.flatMap { $0.bboxTargets.flatMap { $0 } }
        expectClose(got, try c.floats("bbox_targets"), rtol: 1e-5, atol: 1e-5, "\(group) bbox_targets")
    }

    @Test func gtRowsGetZeroTargetsAndTheirClassOthersRegressToTheirBestGt() {
        let boxes: [[Float]] = [[0, 0, 9, 9], [20, 20, 39, 39], [1, 0, 10, 9], [22, 20, 41, 41], [50, 50, 60, 60]]
        let t = computeBBoxRegressionTargets(boxes: boxes, maxOverlaps: [1, 1, 0.8, 0.7, 0.2], maxClasses: [3, 1, 3, 1, 0])
        #expect(t[0] == [3, 0, 0, 0, 0] && t[1] == [1, 0, 0, 0, 0])
        // Row 2 is gt 0 shifted right by one pixel: dx = −1/10, no scale change.
        #expect(t[2] == [3, -0.1, 0, 0, 0])
        #expect(t[3][0] == 1 && t[3][1] == Float(-2.0 / 20.0) && t[3][4] == Float(log(20.0 / 22.0)))
        #expect(t[4] == [0, 0, 0, 0, 0])
    }

    @Test func statisticsAreComputedPerClassAndAbsentClassesAreZero() {
        var roidb = [RegressionRoidbEntry(boxes: [[0, 0, 9, 9], [1, 0, 10, 9], [0, 0, 9, 9]],
                                          maxOverlaps: [1, 0.8, 1], maxClasses: [1, 1, 1])]
        let (means, stds) = addBBoxRegressionTargets(&roidb, numClasses: 3)
        // Class 1 has three targets: dx ∈ {0, −0.1, 0} (rows 0 and 2 are the same gt box; both pick
        // the first). The targets are float32, hence 1e-7 rather than Double accuracy.
        #expect(abs(means[1][0] - (-0.1 / 3)) < 1e-7)
        #expect(abs(stds[1][0] - (0.01 / 3 - 0.01 / 9).squareRoot()) < 1e-7)
        #expect(means[0] == [0, 0, 0, 0] && stds[0] == [0, 0, 0, 0])
        #expect(means[2] == [0, 0, 0, 0] && stds[2] == [0, 0, 0, 0])
    }

    @Test func classWithoutSpreadGetsUnitStdInsteadOfNaN() {
        // Class 2's only targets are its ground-truth row (all zero; no proposal overlaps it by 0.5):
        // the reference would divide 0 by 0. Class 1's dy is 0 on every row: the same per coordinate.
        var roidb = [RegressionRoidbEntry(boxes: [[0, 0, 9, 9], [1, 0, 10, 9], [50, 50, 69, 59], [80, 80, 99, 99]],
                                          maxOverlaps: [1, 0.8, 1, 0.1], maxClasses: [1, 1, 2, 2])]
        let (means, stds) = addBBoxRegressionTargets(&roidb, numClasses: 3)
        #expect(stds[2] == [1, 1, 1, 1] && means[2] == [0, 0, 0, 0])
        #expect(stds[1][1] == 1 && stds[1][0] > 0 && stds[1][0] != 1)
        #expect(roidb[0].bboxTargets.allSatisfy { $0.allSatisfy(\.isFinite) })
        #expect(roidb[0].bboxTargets[2] == [2, 0, 0, 0, 0])
    }
}
