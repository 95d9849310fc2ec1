package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.List;
import java.util.Set;

/**
 * ArgMax and ArgMin along one axis (keepdims, select_last_index) of every numeric dtype, compared in the
 * element's own arithmetic (f16 and bf16 as float, which keeps their order): the first extreme, or the last
 * with select_last_index; a NaN counts as the extreme, as in the interpreter (numpy's rule).
 */
final class ArgEmitter implements OpEmitter {
    @Override
    public Set<String> ops() { return Set.of("ArgMax", "ArgMin"); }

    @Override
    public List<String> kernels() { return List.of(); }

    @Override
    public String problem(Node n) { return Nodes.plainLayouts(n); }

    @Override
    public void emit(Node n, Emission e) {
        Value x = n.input(0);
        Value y = n.output(0);
        DType t = x.type().dtype();
        int axis = Nodes.axis(n, "axis", 0, x.type().rank());
        boolean last = Nodes.intAttr(n, "select_last_index", 0) != 0;
        List<String> dims = DimExprs.dims(e, x);
        if (Nodes.intAttr(n, "keepdims", 1) != 0) dims.set(axis, "1L");
        else dims.remove(axis);
        DimExprs.define(e, y, dims);
        ReductionCode.Lines lines = ReductionCode.Lines.of(e, x, axis);
        e.failWhen(lines.n() + " == 0 && " + lines.outer() + " * " + lines.inner() + " > 0",
                n.op() + " node " + n.name() + ": cannot reduce over the empty axis " + axis);
        String compute = CTypes.compute(t);
        String better = n.op().equals("ArgMax") ? "v > top" : "v < top";
        if (last) better += " || v == top";
        e.line("const " + CTypes.storage(t) + "* xs = " + e.ptr(x) + ";");
        e.line("int64_t* ys = " + e.ptr(y) + ";");
        lines.open(e);
        e.line("long best = 0;");
        e.line(compute + " top = " + CTypes.load(t, "xs[at]") + ";");
        e.open("for (long k = 1; k < " + lines.n() + "; k++) {");
        e.line("const " + compute + " v = " + CTypes.load(t, "xs[" + lines.at("k") + "]") + ";");
        if (t.isFloatingPoint()) {
            // once the extreme is NaN it stays: the first NaN, or with select_last_index the last one
            e.open("if (isnan(top)) {");
            e.line(last ? "if (isnan(v)) best = k;" : "break;");
            e.close("}");
            e.open("else if (isnan(v) || " + better + ") {");
        } else {
            e.open("if (" + better + ") {");
        }
        e.line("best = k;");
        e.line("top = v;");
        e.close("}");
        e.close("}");
        e.line("ys[o * " + lines.inner() + " + i] = best;");
        lines.close(e);
    }
}
