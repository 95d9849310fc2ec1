package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.List;
import java.util.Set;

/**
 * TopK along one axis with k a constant or read at run time (outputs of run-time shape), largest or smallest,
 * always sorted (sorted=0 leaves the order free; this is the interpreter's), of every numeric dtype. Each line's
 * elements become order keys (topk.h) and a heap selects the k first, equal values by position.
 */
final class TopKEmitter implements OpEmitter {
    @Override
    public Set<String> ops() { return Set.of("TopK"); }

    @Override
    public List<String> kernels() { return List.of("topk.h"); }

    @Override
    public String problem(Node n) { return Nodes.plainLayouts(n); }

    @Override
    public void emit(Node n, Emission e) {
        Value x = n.input(0);
        Value values = n.output(0);
        Value indices = n.output(1);
        DType t = x.type().dtype();
        int axis = Nodes.axis(n, "axis", -1, x.type().rank());
        ReductionCode.Lines lines = ReductionCode.Lines.of(e, x, axis);
        long[] constantK = Nodes.constantLongs(n, 1);
        String where = "TopK node " + n.name() + ": ";
        String k = "k";
        if (constantK != null) {
            k = constantK[0] + "L";
        } else {
            e.failWhen(e.count(n.input(1)) + " != 1", where + "K must hold one value");
            e.line("const long k = (long) " + e.ptr(n.input(1)) + "[0];");
        }
        e.failWhen(k + " < 0 || " + k + " > " + lines.n(), where + "K is outside [0, the size of axis " + axis + "]");
        List<String> dims = DimExprs.dims(e, x);
        dims.set(axis, k);
        DimExprs.define(e, values, dims);
        DimExprs.define(e, indices, dims);
        if (Emission.isStatic(x) && constantK != null) {
            long n0 = Nodes.dims(x)[axis];
            e.line("uint64_t* keys = (uint64_t*) " + e.workspace(2 * (n0 + constantK[0])) + ";");
            e.line("long* best = (long*) (keys + " + n0 + "L);");
        } else {
            e.line("uint64_t* keys = (uint64_t*) " + e.scratch("(" + lines.n() + " + " + k + ") * 8L", where + "keys") + ";");
            e.line("long* best = (long*) (keys + " + lines.n() + ");");
        }
        String storage = CTypes.storage(t);
        e.line("const " + storage + "* xs = " + e.ptr(x) + ";");
        e.line(storage + "* vs = " + e.ptr(values) + ";");
        e.line("int64_t* is = " + e.ptr(indices) + ";");
        boolean largest = Nodes.intAttr(n, "largest", 1) != 0;
        lines.open(e);
        e.line("for (long j = 0; j < " + lines.n() + "; j++) keys[j] = " + (largest ? "~" : "") + key(t, "xs[" + lines.at("j") + "]") + ";");
        e.line("kiln_topk_select(" + lines.n() + ", " + k + ", keys, best);");
        e.line("const long to = o * " + k + " * " + lines.inner() + " + i;");
        e.open("for (long j = 0; j < " + k + "; j++) {");
        e.line("vs[to + j * " + lines.inner() + "] = xs[" + lines.at("best[j]") + "];");
        e.line("is[to + j * " + lines.inner() + "] = best[j];");
        e.close("}");
        lines.close(e);
    }

    /** The order key (unsigned, ascending like the values) of a stored element. */
    private static String key(DType t, String stored) {
        if (t.isFloatingPoint()) return "kiln_order_key(" + Elements.asDouble(t, stored) + ")";
        if (t.isSignedInteger()) return "((uint64_t) (int64_t) " + stored + " ^ 0x8000000000000000ull)";
        return "(uint64_t) " + stored;
    }
}
