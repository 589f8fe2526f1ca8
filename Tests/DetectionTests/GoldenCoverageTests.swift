// The golden-data tests are parameterised over the cases found in ops.h5; this one makes sure each
// kind is actually there, so that none of them can pass by having nothing to check.

import Testing

struct GoldenCoverageTests {
    @Test(.enabled(if: Golden.hasReferenceGroups, Golden.referenceNote)) func goldenFileHasEveryReferenceGroup() throws {
        for prefix in ["ref_generate_anchors", "ref_bbox_transform", "ref_bbox_overlaps", "ref_nms", "ref_assign_anchor",
                       "ref_sample_rois", "ref_bbox_regression", "ref_voc_ap"] {
            #expect(try !Golden.groups(prefix: prefix).isEmpty, "no \(prefix)* group in \(Golden.path)")
        }
    }

    @Test func goldenFileHasProposalCases() throws {
        #expect(try !Golden.cases(op: ["_contrib_Proposal"]).isEmpty, "no Proposal case in \(Golden.path)")
    }
}
