package dev.kiln.passes;

import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.OpRegistry;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Drops the nodes whose outputs reach no graph output, and the constants nothing reads any more.
 * A node of an unknown op is kept (it may have effects the IR does not know of), with its inputs.
 */
public final class EliminateDeadCode extends Pass {
    @Override
    protected Graph run(Graph graph, PassContext ctx) {
        List<Node> nodes = graph.nodes();
        Set<Value> live = new HashSet<>(graph.outputs());
        boolean[] keep = new boolean[nodes.size()];
        for (int i = nodes.size() - 1; i >= 0; i--) {
            Node n = nodes.get(i);
            boolean known = OpRegistry.contains(n.op());
            keep[i] = !known || n.outputs().stream().anyMatch(live::contains);
            if (!known) ctx.debug(name() + ": keeps node @" + n.name() + ": unknown op " + n.op());
            if (keep[i]) for (Value in : n.inputs()) if (in != null) live.add(in);
        }
        // The rewrite carries constants over on first use, so unused ones fall away.
        GraphRewrite rw = new GraphRewrite(graph);
        for (int i = 0; i < nodes.size(); i++) if (keep[i]) rw.copy(nodes.get(i));
        return rw.finish();
    }
}
