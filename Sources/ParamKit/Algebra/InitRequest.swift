// `init` as one call, for `paramkit init` and the pipeline's init stage alike: which network, which
// pretrained file, which heads and seed, and where to write; the result holds the plan and the digest.

import Foundation

extension Init {
    public struct Request: Sendable {
        public var network: String
        public var classes: Int?
        public var anchors: Int?
        public var width: Int
        /// The pretrained checkpoint; nil draws every tensor (training from scratch).
        public var pretrained: String?
        public var heads: [String]
        public var seed: UInt64
        public var missing: InitPolicy
        public var mismatch: InitPolicy
        /// Where to write; nil plans only (a dry run).
        public var output: (path: String, format: Formats.Output)?
        public var readOptions: ReadOptions

        public init(network: String, classes: Int? = nil, anchors: Int? = nil, width: Int = 1, pretrained: String?,
                    heads: [String], seed: UInt64, missing: InitPolicy = .error, mismatch: InitPolicy = .error,
                    output: (path: String, format: Formats.Output)?, readOptions: ReadOptions = ReadOptions()) {
            self.network = network
            self.classes = classes
            self.anchors = anchors
            self.width = width
            self.pretrained = pretrained
            self.heads = heads
            self.seed = seed
            self.missing = missing
            self.mismatch = mismatch
            self.output = output
            self.readOptions = readOptions
        }
    }

    public struct Outcome: Sendable {
        public var network: NetworkDefinition
        public var plan: InitPlan
        /// The written checkpoint's digest; nil when nothing was written (no output, or the plan
        /// has problems: the caller reports them from `plan.problems`).
        public var digest: String?
    }

    /// A comma-separated head list (`rpn,rcnn`); blanks and empty entries are dropped.
    public static func heads(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Plans the checkpoint and, when the request has an output and the plan no problems, writes it.
    public static func run(_ request: Request, progress: ((Int, Int) -> Void)? = nil) throws -> Outcome {
        let net = try NetworkDefinition.named(request.network, classes: request.classes, anchors: request.anchors, width: request.width)
        let reader = try request.pretrained.map { try Formats.open(path: $0, options: request.readOptions) }
        let plan = try plan(network: net, pretrained: reader, heads: request.heads, missing: request.missing, mismatch: request.mismatch)
        var digest: String?
        if let output = request.output, plan.problems.isEmpty {
            digest = try write(plan, pretrained: reader, seed: request.seed, output: output.path, format: output.format, progress: progress)
        }
        return Outcome(network: net, plan: plan, digest: digest)
    }
}
