// Box geometry against rcnn/processing/bbox_transform.py (ref_bbox_overlaps, ref_bbox_transform).
//
// Tolerances: overlaps repeat the Cython code's operations exactly, so they must be bit-identical.
// Targets and decoded boxes go through log/exp; numpy may use its own SIMD log/exp while Swift calls
// glibc, and both are correctly rounded only to within ~1 ulp, so 1e-12 relative (plus 1e-12
// absolute for values near 0) allows those last-bit differences and nothing else.

import Testing
@testable import Detection

struct BoxCodingTests {
    @Test("IoU with +1 areas equals the Cython bbox_overlaps bit for bit", .enabled(if: Golden.hasReferenceGroups, Golden.referenceNote), arguments: try Golden.groups(prefix: "ref_bbox_overlaps"))
    func overlapsMatchReference(group: String) throws {
        let c = try RefCase(group)
        let got = bboxOverlaps(try c.doubleRows("boxes"), try c.doubleRows("query_boxes"))
        #expect(got == (try c.doubleRows("overlaps")))
    }

    @Test("targets, decoding and clipping match bbox_transform.py", .enabled(if: Golden.hasReferenceGroups, Golden.referenceNote), arguments: try Golden.groups(prefix: "ref_bbox_transform"))
    func transformPredClipMatchReference(group: String) throws {
        let c = try RefCase(group)
        let targets = bboxTransform(try c.doubleRows("ex_rois"), try c.doubleRows("gt_rois"))
        expectClose(targets.flatMap { $0 }, try c.doubles("targets"), rtol: 1e-12, atol: 1e-12, "\(group) targets")

        let pred = bboxPred(try c.doubleRows("boxes"), try c.doubleRows("deltas"))
        expectClose(pred.flatMap { $0 }, try c.doubles("pred_boxes"), rtol: 1e-12, atol: 1e-12, "\(group) pred_boxes")

        let shape = try c.attr("im_shape")
        let clipped = clipBoxes(pred, imHeight: shape[0], imWidth: shape[1])
        expectClose(clipped.flatMap { $0 }, try c.doubles("clipped_boxes"), rtol: 1e-12, atol: 1e-12, "\(group) clipped_boxes")
    }

    @Test func decodingTheTargetsGivesBackTheGtBox() {
        let ex: [[Double]] = [[10, 20, 50, 40], [0, 0, 15, 15], [3.5, 7.25, 90, 12]]
        let gt: [[Double]] = [[12, 18, 60, 45], [-4, 2, 30, 9], [3.5, 7.25, 90, 12]]
        let back = bboxPred(ex, bboxTransform(ex, gt))
        expectClose(back.flatMap { $0 }, gt.flatMap { $0 }, rtol: 1e-12, atol: 1e-12, "round trip")
    }

    @Test func touchingBoxesOverlapByOnePixelColumn() {
        // With +1 areas, [0,0,9,9] and [9,0,18,9] share the column x = 9: IoU = 10 / (100 + 100 − 10).
        let o = bboxOverlaps([[0, 0, 9, 9]], [[9, 0, 18, 9], [10, 0, 19, 9]])
        #expect(o[0][0] == 10.0 / 190.0)
        #expect(o[0][1] == 0)
    }

    @Test func clippingKeepsCoordinatesInsideTheImage() {
        let c = clipBoxes([[-5, -1, 400, 300, 2, 3, 4, 5]], imHeight: 240, imWidth: 320)
        #expect(c == [[0, 0, 319, 239, 2, 3, 4, 5]])
    }
}
