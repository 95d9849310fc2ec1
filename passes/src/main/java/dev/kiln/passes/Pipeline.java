package dev.kiln.passes;

import dev.kiln.ir.Graph;

import java.util.List;
import java.util.concurrent.CancellationException;

/** An explicit, ordered list of passes. */
public record Pipeline(List<Pass> passes) {
    public Pipeline {
        passes = List.copyOf(passes);
    }

    /**
     * Runs the passes in order. An interrupted thread stops between passes, so that a stopped compilation
     * job does not run the rest of the pipeline.
     *
     * @throws CancellationException when the running thread is interrupted
     */
    public Graph run(Graph graph, PassContext ctx) {
        Graph g = graph;
        for (Pass p : passes) {
            if (Thread.currentThread().isInterrupted()) {
                throw new CancellationException("interrupted before pass " + p.name());
            }
            g = p.apply(g, ctx);
        }
        return g;
    }
}
