package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.List;
import java.util.Set;

/**
 * CumSum and CumProd along an axis given as a constant or read at run time (exclusive, reverse), of every
 * numeric dtype: floats accumulate in double, integers in 64 bits wrapping like a Java long, as the
 * interpreter does; each element stores the running value rounded (or wrapped) to the dtype.
 */
final class ScanEmitter implements OpEmitter {
    @Override
    public Set<String> ops() { return Set.of("CumSum", "CumProd"); }

    @Override
    public List<String> kernels() { return List.of(); }

    @Override
    public String problem(Node n) { return Nodes.plainLayouts(n); }

    @Override
    public void emit(Node n, Emission e) {
        Value x = n.input(0);
        Value y = n.output(0);
        DType t = x.type().dtype();
        int rank = x.type().rank();
        ReductionCode.sameDims(e, x, y);
        long[] axis = Nodes.constantLongs(n, 1);
        ReductionCode.Lines lines;
        if (axis != null) {
            lines = ReductionCode.Lines.of(e, x, (int) (axis[0] < 0 ? axis[0] + rank : axis[0]));
        } else {
            Value a = n.input(1);
            String where = n.op() + " node " + n.name() + ": ";
            e.failWhen(e.count(a) + " != 1", where + "the axis input must hold one value");
            e.line("long axis = (long) " + e.ptr(a) + "[0];");
            e.line("if (axis < 0) axis += " + rank + ";");
            e.failWhen("axis < 0 || axis >= " + rank, where + "the axis is outside the input's rank " + rank);
            e.line("const long dm[] = " + ReductionCode.dimsInitialiser(e, x) + ";");
            e.line("long outer = 1, n = 1, inner = 1;");
            e.line("for (long d = 0; d < " + rank + "; d++) *(d < axis ? &outer : d == axis ? &n : &inner) *= dm[d];");
            lines = new ReductionCode.Lines("outer", "n", "inner");
        }
        boolean product = n.op().equals("CumProd");
        boolean exclusive = Nodes.intAttr(n, "exclusive", 0) != 0;
        boolean reverse = Nodes.intAttr(n, "reverse", 0) != 0;
        String storage = CTypes.storage(t);
        boolean floating = t.isFloatingPoint();
        String accType = floating ? "double" : "uint64_t";
        String load = floating ? Elements.asDouble(t, "xs[p]") : "(uint64_t) xs[p]";
        String store = "ys[p] = " + (floating ? Elements.fromDouble(t, "acc") : "(" + storage + ") acc") + ";";
        e.line("const " + storage + "* xs = " + e.ptr(x) + ";");
        e.line(storage + "* ys = " + e.ptr(y) + ";");
        lines.open(e);
        e.line(accType + " acc = " + (product ? "1" : "0") + ";");
        e.open("for (long j = 0; j < " + lines.n() + "; j++) {");
        e.line("const long p = " + lines.at(reverse ? "(" + lines.n() + " - 1 - j)" : "j") + ";");
        if (exclusive) e.line(store);
        e.line("acc " + (product ? "*" : "+") + "= " + load + ";");
        if (!exclusive) e.line(store);
        e.close("}");
        lines.close(e);
    }
}
