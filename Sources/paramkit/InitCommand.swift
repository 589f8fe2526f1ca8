// `paramkit init`: a network's parameters from a pretrained file plus seeded random heads.

import ArgumentParser
import ParamKit

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Build a network's full parameter set from a pretrained checkpoint plus random head init.",
        discussion: """
        Backbone tensors (and fc6/fc7) come from the pretrained file; head tensors are drawn as the reference does: \
        rpn_conv_3x3, rpn_cls_score, rpn_bbox_pred and cls_score weights N(0, 0.01), bbox_pred weight N(0, 0.001), \
        biases 0 — always, even when the pretrained file has them. The same --seed gives the same bytes.
        Example: paramkit init --network vgg16 --pretrained model/vgg16-0000.params --heads rpn -o rpn-init.h5
        """)

    @Option(help: "Network: \(NetworkDefinition.names.joined(separator: ", ")), or a network file (NAME.yaml, see `network show`).") var network: String
    @Option(help: "Pretrained (ImageNet) checkpoint, or 'none' to start every layer from He-normal init (training from scratch).") var pretrained: String
    @Option(help: "Heads to include and randomly initialise: rpn, rcnn or rpn,rcnn.") var heads: String = "rpn,rcnn"
    @Option(help: "Seed for the random heads.") var seed: UInt64 = 0
    @Option(help: "Number of classes including background (default: 21 for vgg16, 4 for tiny-vgg).") var classes: Int?
    @Option(help: "Anchors per position (default 9).") var anchors: Int?
    @Option(help: "tiny-vgg, tiny-resnet and tiny-inception only: multiply every channel count by this.") var width: Int = 1
    @Option(help: "A tensor missing from the pretrained file: error, or init (like a head).") var missing: InitPolicy = .error
    @Option(help: "A pretrained tensor with another shape: error, or init (like a head).") var mismatch: InitPolicy = .error
    @OptionGroup var write: WritingOptions
    @OptionGroup var options: ReadingOptions

    func run() throws {
        let headList = Init.heads(heads)
        let r = try Init.run(Init.Request(network: network, classes: classes, anchors: anchors, width: width,
                                          pretrained: pretrained == "none" ? nil : options.resolve(pretrained), heads: headList, seed: seed,
                                          missing: missing, mismatch: mismatch,
                                          output: write.dryRun ? nil : try write.target().map { (path: $0.0, format: $0.1) },
                                          readOptions: options.readOptions),
                             progress: Render.progress("init"))
        let (net, plan, digest) = (r.network, r.plan, r.digest)
        if options.json {
            Render.out(JSON.object([
                ("network", .string(net.name)), ("heads", .array(headList.map { .string($0) })), ("seed", .int(Int(truncatingIfNeeded: seed))),
                ("output", write.output.map { .string($0) } ?? .null), ("dry_run", .bool(write.dryRun)),
                ("digest", digest.map { .string($0) } ?? .null),
                ("plan", .array(plan.rows.map { .object(Render.json($0.spec.info) + [("action", .string(Init.describe($0.action)))]) })),
                ("unused", .array(plan.unused.map { .string($0.key) })),
                ("problems", .array(plan.problems.map { .string($0.spec.name) })),
            ]).pretty)
        } else {
            Render.out(Render.table(["tensor", "shape", "plan"], plan.rows.map { [$0.spec.name, Shape.text($0.spec.shape), Init.describe($0.action)] }))
            for u in plan.unused { Render.out("unused in the pretrained file: \(u.key) \(Shape.text(u.shape))") }
            if write.dryRun { Render.out("dry run: nothing written") }
            if let digest, let out = write.output { Render.out("wrote \(out): \(plan.rows.count) tensors, seed \(seed), digest \(digest)") }
        }
        if let p = plan.problems.first {
            throw PolicyViolation("\(plan.problems.count) tensor(s) cannot be initialised (first: \(p.spec.name): \(Init.describe(p.action))); "
                               + "pass --missing init / --mismatch init to initialise them like a head; nothing written")
        }
    }
}
