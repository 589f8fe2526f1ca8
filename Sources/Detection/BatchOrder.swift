// The order in which the reference's data iterators visit a training set in one epoch, and the
// zero-padded stacking of a batch's images (rcnn/core/loader.py: AnchorLoader for the RPN, ROIIter
// for the R-CNN; mxnet-rcnn.md §7 "Batch order").
//
// With ASPECT_GROUPING the entries are split into landscape (width ≥ height) and portrait groups,
// each permuted, so that a batch never mixes the two:
// - AnchorLoader: landscape group then portrait group; the rows of `batchSize` are meant to be
//   shuffled afterwards, but the shuffle only happens when the count is not a multiple of the batch
//   size (`inds[:-extra]` is empty for extra = 0), which for one image per batch is never.
// - ROIIter: each group is padded with its own first entries (before permuting) by
//   batchSize − count % batchSize (a whole extra batch when it divides), permuted, the two
//   concatenated, and the rows of `batchSize` shuffled.
// Either way an epoch is ⌊count / batchSize⌋ batches (`cur + batch_size <= size`) taken from the
// front of that order, so padding entries may or may not be visited.
// Without grouping the entries are simply permuted.

import Engine

public enum BatchOrder {
    /// Batches of entry indices for one AnchorLoader epoch.
    public static func anchorLoader<G: RandomNumberGenerator>(landscape: [Bool], batchSize: Int, aspectGrouping: Bool,
                                                             using g: inout G) -> [[Int]] {
        let n = landscape.count, bs = max(batchSize, 1)
        var order: [Int]
        if aspectGrouping {
            order = groups(landscape).flatMap { $0.shuffled(using: &g) }
            let extra = n % bs
            if extra != 0 {
                var rows = chunks(Array(order[..<(n - extra)]), bs)
                rows.shuffle(using: &g)
                order = rows.flatMap { $0 } + order[(n - extra)...]
            }
        } else {
            order = Array(0..<n).shuffled(using: &g)
        }
        return Array(chunks(order, bs).prefix(n / bs))
    }

    /// Batches of entry indices for one ROIIter epoch.
    public static func roiIter<G: RandomNumberGenerator>(landscape: [Bool], batchSize: Int, aspectGrouping: Bool,
                                                        using g: inout G) -> [[Int]] {
        let n = landscape.count, bs = max(batchSize, 1)
        var order: [Int]
        if aspectGrouping {
            order = groups(landscape).flatMap { group -> [Int] in
                let pad = bs - group.count % bs
                return (group + group.prefix(pad)).shuffled(using: &g)
            }
            var rows = chunks(order, bs)
            rows.shuffle(using: &g)
            order = rows.flatMap { $0 }
        } else {
            order = Array(0..<n).shuffled(using: &g)
        }
        return Array(chunks(order, bs).prefix(n / bs))
    }

    static func groups(_ landscape: [Bool]) -> [[Int]] {
        [landscape.indices.filter { landscape[$0] }, landscape.indices.filter { !landscape[$0] }]
    }

    static func chunks(_ a: [Int], _ size: Int) -> [[Int]] {
        stride(from: 0, to: a.count, by: size).map { Array(a[$0..<min($0 + size, a.count)]) }
    }

    /// Images (each [1, C, h, w]) as one [N, C, H, W] batch, each zero-padded at the bottom and right
    /// to the largest H and W (the reference's tensor_vstack of the batch's images).
    public static func stack(_ images: [Blob]) -> Blob {
        precondition(!images.isEmpty && images.allSatisfy { $0.shape.count == 4 && $0.shape[0] == 1 && $0.shape[1] == images[0].shape[1] },
                     "stack: images must be [1, C, h, w] with the same C")
        if images.count == 1 { return images[0] }
        let c = images[0].shape[1]
        let h = images.map { $0.shape[2] }.max()!, w = images.map { $0.shape[3] }.max()!
        var out = Blob(zeros: [images.count, c, h, w])
        for (i, im) in images.enumerated() {
            let (ih, iw) = (im.shape[2], im.shape[3])
            for ch in 0..<c {
                for y in 0..<ih {
                    let src = (ch * ih + y) * iw, dst = ((i * c + ch) * h + y) * w
                    out.data.replaceSubrange(dst..<(dst + iw), with: im.data[src..<(src + iw)])
                }
            }
        }
        return out
    }
}
