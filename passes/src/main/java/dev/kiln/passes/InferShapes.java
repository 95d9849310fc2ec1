package dev.kiln.passes;

import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.ops.OpRegistry;

import java.util.List;

/**
 * Re-runs type inference over the whole graph in order, with the current input types and
 * constants, so that once the graph inputs have static shapes (from the DataInputConfig) every
 * value gets its static shape and dtype and symbolic dimensions resolve. Types only get more
 * precise; a recorded type that contradicts inference is an error naming the node. Types are
 * refined in place.
 */
public final class InferShapes extends Pass {
    @Override
    protected Graph run(Graph graph, PassContext ctx) {
        for (Node n : graph.nodes()) {
            if (!OpRegistry.contains(n.op())) {
                ctx.debug(name() + ": keeps the types of node @" + n.name() + ": unknown op " + n.op());
                continue;
            }
            List<TensorType> inferred = OpRegistry.spec(n.op()).inferTypes(n.name(), n.inputs(), n.attributes(), n.outputs().size());
            for (int i = 0; i < inferred.size(); i++) {
                n.output(i).setType(TypeRefinement.refine(n, i, n.output(i).type(), inferred.get(i)));
            }
        }
        return graph;
    }
}
