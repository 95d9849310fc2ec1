package dev.kiln.backends.c;

import dev.kiln.ir.Node;

import java.util.List;
import java.util.Set;

import static dev.kiln.backends.c.Nodes.count;
import static dev.kiln.backends.c.Nodes.dims;
import static dev.kiln.backends.c.Nodes.isBlocked;

/**
 * Pooling. f32 max, average and global average pooling of 1-D and 2-D NCHW planes (pool.h) or of blocked
 * NCHW{c}c ones (blocked_pool.h); what these fast paths do not take (other dtypes, more spatial axes, MaxPool's
 * Indices, LpPool, GlobalMaxPool, GlobalLpPool) {@link GeneralPool} emits.
 */
final class PoolingEmitter implements OpEmitter {
    /** The ops of the fast paths. */
    private static final Set<String> FAST = Set.of("MaxPool", "AveragePool", "GlobalAveragePool");

    @Override
    public Set<String> ops() { return Set.of("MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"); }

    @Override
    public List<String> kernels() { return List.of("pool.h", "blocked_pool.h", "pool_nd.h", "convert.h"); }

    @Override
    public String problem(Node n) { return takesFast(n) ? null : GeneralPool.problem(n); }

    private static boolean takesFast(Node n) { return FAST.contains(n.op()) && fastProblem(n) == null; }

    private static String fastProblem(Node n) {
        String types = Nodes.staticF32(n, i -> false, true);
        if (types != null) return types;
        int spatial = Nodes.logical(n.input(0)).length - 2;
        if (n.op().equals("GlobalAveragePool")) {
            return isBlocked(n.input(0)) && spatial != 2 ? " (blocked " + spatial + "-D)" : null;
        }
        if (spatial != 1 && spatial != 2) return " (" + spatial + "-D)";
        if (n.outputs().size() > 1) return " (Indices output)";
        if (isBlocked(n.input(0)) != isBlocked(n.output(0))) return " (input and output in different layouts)";
        return null;
    }

    @Override
    public void emit(Node n, Emission e) {
        if (!takesFast(n)) {
            GeneralPool.emit(n, e);
            return;
        }
        if (n.op().equals("GlobalAveragePool")) {
            // Planes of batch x channels (x channel blocks when blocked, each position then a vector of a block).
            long[] x = dims(n.input(0));
            boolean blocked = isBlocked(n.input(0));
            long positions = count(n.input(0)) / (x[0] * x[1] * (blocked ? e.block() : 1));
            e.line((blocked ? "kiln_global_average_poolb(" : "kiln_global_average_pool(") + (x[0] * x[1]) + "L, " + positions + "L, "
                    + e.ptr(n.input(0)) + ", " + e.ptr(n.output(0)) + ");");
            return;
        }
        ConvGeometry g = ConvGeometry.of(n);
        boolean blocked = isBlocked(n.input(0));
        boolean includePad = Nodes.intAttr(n, "count_include_pad", 0) != 0;
        boolean average = !n.op().equals("MaxPool");
        e.line("static const kiln_pool_shape s = {" + g.n() * (blocked ? g.c() / e.block() : g.c()) + ", " + g.h() + ", " + g.w() + ", " + g.oh() + ", "
                + g.ow() + ", " + g.kh() + ", " + g.kw() + ", " + g.sh() + ", " + g.sw() + ", " + g.dh() + ", " + g.dw() + ", " + g.pt() + ", " + g.pl() + ", "
                + g.pb() + ", " + g.pr() + ", " + (includePad ? 1 : 0) + "};");
        if (blocked) {
            e.line("kiln_poolb_args a = {&s, " + e.ptr(n.input(0)) + ", " + e.ptr(n.output(0)) + ", " + (average ? 1 : 0) + "};");
            e.line("kiln_poolb(&a);");
        } else {
            e.line((average ? "kiln_average_pool" : "kiln_max_pool") + "(&s, " + e.ptr(n.input(0)) + ", " + e.ptr(n.output(0)) + ");");
        }
    }
}
