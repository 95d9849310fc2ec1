package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.EnumSet;
import java.util.Set;

/**
 * The poolings {@link PoolingEmitter}'s fast paths do not take. MaxPool (with its Indices output and
 * storage_order), AveragePool and LpPool of any number of spatial axes, every dtype their specs allow, through
 * pool_nd.h in double (other dtypes converted around it). GlobalAveragePool, GlobalMaxPool and GlobalLpPool of
 * any rank as loops over each plane in double. Plain layouts, or blocked channels layouts NC...{c}c: the window
 * poolings' conversions to and from double reorder blocked planes, the global ones read each lane of a channel
 * block as its own plane.
 */
final class GeneralPool {
    private GeneralPool() {}

    private static final Set<DType> FLOATS = EnumSet.of(DType.F32, DType.F16, DType.BF16, DType.F64);
    /** MaxPool's dtypes, and its Indices output's. */
    private static final Set<DType> MAX_POOL = EnumSet.of(DType.F32, DType.F16, DType.BF16, DType.F64, DType.I8, DType.U8, DType.I64);

    static boolean isGlobal(Node n) { return n.op().startsWith("Global"); }

    /**
     * Null when this class emits the node: plain values, or (except for MaxPool's Indices) an input in a blocked
     * channels layout and an output in the same one, whose planes the conversions to and from double reorder.
     */
    static String problem(Node n) {
        Set<DType> types = n.op().equals("MaxPool") ? MAX_POOL : FLOATS;
        Value x = n.input(0);
        int lanes = ComputeBuffers.lanes(x.type().layout());
        String problem;
        if (lanes > 0) {
            problem = null;
            for (Value v : n.outputs()) if (!types.contains(v.type().dtype())) problem = " (" + v.type().dtype() + ")";
            if (!types.contains(x.type().dtype())) problem = " (" + x.type().dtype() + ")";
            if (problem == null && !x.type().layout().equals(n.output(0).type().layout())) problem = " (input and output in different layouts)";
            if (problem == null && n.outputs().size() > 1) problem = " (Indices of a blocked input)";
        } else {
            problem = Nodes.plainOf(n, types);
        }
        if (problem == null) problem = ComputeBuffers.staticProblem(n);
        return problem != null ? problem : ConvGeometryNd.spatialProblem(Nodes.logical(x).length);
    }

    static void emit(Node n, Emission e) {
        if (isGlobal(n)) {
            emitGlobal(n, e);
            return;
        }
        Value x = n.input(0);
        Value y = n.output(0);
        ConvGeometryNd g = ConvGeometryNd.pool(n);
        int kind = switch (n.op()) {
            case "MaxPool" -> 0;
            case "AveragePool" -> 1;
            default -> 2;
        };
        e.line("static const kiln_pool_nd_shape s = " + g.poolShape(kind, Nodes.intAttr(n, "count_include_pad", 0) != 0,
                Nodes.intAttr(n, "storage_order", 0) != 0, Nodes.intAttr(n, "p", 2)) + ";");
        e.line("static long table[" + Math.max(1, g.poolTableSize()) + "];");
        ComputeBuffers buffers = new ComputeBuffers(e);
        String xd = buffers.read(x, "double");
        String yd = buffers.output(y, "double");
        String indices = n.outputs().size() > 1 ? e.ptr(n.output(1)) : "0";
        e.line("kiln_pool_nd(&s, table, " + xd + ", " + yd + ", " + indices + ");");
        buffers.store(y, yd, "double");
    }

    /**
     * Each plane (batch x channel; in the blocked layout batch x channel block x lane) reduced in double: the mean,
     * the maximum (NaN when any element is NaN) or (sum |x|^p)^(1/p).
     */
    private static void emitGlobal(Node n, Emission e) {
        Value x = n.input(0);
        Value y = n.output(0);
        DType t = x.type().dtype();
        long[] xs = Nodes.dims(x);
        long lanes = Math.max(1, ComputeBuffers.lanes(x.type().layout()));
        long planes = xs[0] * xs[1];
        long positions = planes * lanes == 0 ? 0 : Nodes.count(x) / (planes * lanes);
        long p = Nodes.intAttr(n, "p", 2);
        e.open("for (long p = 0; p < " + planes * lanes + "L; p++) {");
        e.line("const " + CTypes.storage(t) + "* src = " + e.ptr(x) + " + p / " + lanes + "L * " + positions * lanes + "L + p % " + lanes + "L;");
        e.line("double acc = " + (n.op().equals("GlobalMaxPool") ? "-(double) INFINITY" : "0.0") + ";");
        e.open("for (long i = 0; i < " + positions + "L; i++) {");
        e.line("double v = (double) " + CTypes.load(t, "src[i * " + lanes + "L]") + ";");
        String result;
        switch (n.op()) {
            case "GlobalMaxPool" -> {
                e.line("if (v != v) { acc = v; break; }");
                e.line("if (v > acc) acc = v;");
                result = "acc";
            }
            case "GlobalLpPool" -> {
                e.line("acc += pow(fabs(v), " + p + ".0);");
                result = "pow(acc, 1.0 / " + p + ".0)";
            }
            default -> {
                e.line("acc += v;");
                result = "acc / " + positions + ".0";
            }
        }
        e.close("}");
        e.line(e.ptr(y) + "[p] = " + ComputeBuffers.fromDouble(y.type().dtype(), result) + ";");
        e.close("}");
    }
}
