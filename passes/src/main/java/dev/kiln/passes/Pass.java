package dev.kiln.passes;

import dev.kiln.ir.Graph;
import dev.kiln.ir.Verifier;

import java.util.Locale;

/**
 * One graph transformation. Subclasses are final and stateless and implement {@link #run};
 * {@link #apply} owns what every pass gets: timing, verification of the result, and the
 * optional IR dump.
 */
public abstract class Pass {

    /** The pass's name in dumps and logs: the class name in kebab case ("FoldBatchNorm" -> "fold-batch-norm"). */
    public String name() {
        return getClass().getSimpleName().replaceAll("([a-z0-9])([A-Z])", "$1-$2").toLowerCase(Locale.ROOT);
    }

    /** Transforms {@code graph}; may return it changed in place or a new graph. */
    protected abstract Graph run(Graph graph, PassContext ctx);

    public final Graph apply(Graph graph, PassContext ctx) {
        int before = graph.nodes().size();
        long t0 = System.nanoTime();
        Graph out = run(graph, ctx);
        long nanos = System.nanoTime() - t0;
        if (ctx.verify()) Verifier.verify(out);
        ctx.recordRun(this, nanos, before, out.nodes().size(), out);
        return out;
    }
}
