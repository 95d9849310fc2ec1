package dev.kiln.passes;

import dev.kiln.ir.Graph;

import java.util.List;

/** An explicit, ordered list of passes. */
public record Pipeline(List<Pass> passes) {
    public Pipeline {
        passes = List.copyOf(passes);
    }

    public Graph run(Graph graph, PassContext ctx) {
        Graph g = graph;
        for (Pass p : passes) g = p.apply(g, ctx);
        return g;
    }
}
