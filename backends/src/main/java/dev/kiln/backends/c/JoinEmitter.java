package dev.kiln.backends.c;

import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.passes.MemoryPlan;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;

import static dev.kiln.backends.c.DimExprs.what;
import static dev.kiln.backends.c.ShapeCode.isStatic;
import static dev.kiln.backends.c.ShapeCode.size;

/**
 * Concat and Split: rows of bytes copied along an axis. Concat inputs the memory plan put in place (parts
 * of its output, or of an earlier Concat's output that is the first part of its) copy nothing; blocked values
 * (NCHW16c) concatenate as their physical dims along the physical axis the layout pass gave the node. Inputs
 * and outputs of run-time shape have their dims checked and computed at run time.
 */
final class JoinEmitter implements OpEmitter {
    private static final Map<String, BiConsumer<Node, Emission>> CODE = Map.of(
            "Concat", JoinEmitter::concat,
            "Split", JoinEmitter::split);

    @Override
    public Set<String> ops() { return CODE.keySet(); }

    @Override
    public List<String> kernels() { return List.of(ShapeCode.RULES); }

    @Override
    public String problem(Node n) {
        if (n.op().equals("Split")) {
            String layout = Nodes.plainLayouts(n);
            return layout != null ? layout : ShapeCode.integers(n, 1);
        }
        Layout layout = n.output(0).type().layout();
        for (Value v : n.inputs()) {
            if (!v.type().layout().equals(layout)) return " (inputs in layouts " + v.type().layout() + " and " + layout + ")";
        }
        return Layouts.isPlain(layout) || Nodes.isBlockedActivation(layout) ? null : " (layout " + layout + ")";
    }

    @Override
    public void emit(Node n, Emission e) { CODE.get(n.op()).accept(n, e); }

    private static void concat(Node n, Emission e) {
        Value y = n.output(0);
        int rank = y.type().rank();
        int axis = Nodes.axis(n, "axis", 0, rank);
        boolean allStatic = isStatic(y) && n.inputs().stream().allMatch(ShapeCode::isStatic);
        if (allStatic) {
            concatStatic(n, e, axis);
            return;
        }
        ShapeCode.longs(e, "y", rank);
        Value first = n.input(0);
        for (int d = 0; d < rank; d++) e.line("y[" + d + "] = " + (d == axis ? "0L" : e.dim(first, d)) + ";");
        for (Value in : n.inputs()) {
            e.line("y[" + axis + "] += " + e.dim(in, axis) + ";");
            if (in == first) continue;
            StringBuilder differ = new StringBuilder();
            for (int d = 0; d < rank; d++) {
                if (d != axis) differ.append(differ.length() > 0 ? " || " : "").append(e.dim(in, d)).append(" != y[").append(d).append(']');
            }
            if (differ.length() > 0) e.failWhen(differ.toString(), "node " + n.name() + " (Concat): input %" + in.name() + " differs from input 0 off the axis");
        }
        ShapeCode.settle(e, n, y, "y");
        e.line("long outer = 1, inner = " + size(y) + ", offset = 0;");
        e.line("for (int d = 0; d < " + axis + "; d++) outer *= y[d];");
        e.line("for (int d = " + (axis + 1) + "; d < " + rank + "; d++) inner *= y[d];");
        e.line("char* dst = " + e.address(y) + ";");
        for (Value in : n.inputs()) {
            e.open("{");
            e.line("long chunk = " + e.dim(in, axis) + " * inner;");
            e.line("const char* src = " + e.address(in) + ";");
            e.line("for (long o = 0; o < outer; o++) memcpy(dst + o * y[" + axis + "] * inner + offset, src + o * chunk, (size_t) chunk);");
            e.line("offset += chunk;");
            e.close("}");
        }
    }

    private static void concatStatic(Node n, Emission e, int axis) {
        Value y = n.output(0);
        long[] ys = Nodes.dims(y);
        long outer = Nodes.product(ys, 0, axis);
        long inner = Nodes.product(ys, axis + 1, ys.length) * size(y);
        long offset = 0;
        MemoryPlan.Slot at = e.plan().slot(y.name());
        for (Value in : n.inputs()) {
            long chunk = Nodes.dims(in)[axis] * inner;
            MemoryPlan.Slot slot = e.plan().slot(in.name());
            // a part of this Concat's output, or of an earlier Concat's that is the first part of this one's
            boolean inPlace = outer == 1 && at != null && slot != null && slot.reuse() == MemoryPlan.Reuse.PART && slot.offset() == at.offset() + offset;
            if (chunk > 0 && outer > 0 && !inPlace) {
                e.line("for (long o = 0; o < " + outer + "L; o++) memcpy(" + e.address(y) + " + o * " + ys[axis] * inner + "L + " + offset + "L, "
                        + e.address(in) + " + o * " + chunk + "L, " + chunk + ");");
            }
            offset += chunk;
        }
    }

    private static void split(Node n, Emission e) {
        Value x = n.input(0);
        int rank = x.type().rank();
        int axis = Nodes.axis(n, "axis", 0, rank);
        int parts = n.outputs().size();
        boolean allStatic = isStatic(x) && n.outputs().stream().allMatch(ShapeCode::isStatic) && ShapeCode.known(n, 1);
        e.line("long sizes[" + parts + "];");
        if (allStatic) {
            // the IR's output shapes already are the sizes, checked against the split input
            for (int k = 0; k < parts; k++) e.line("sizes[" + k + "] = " + Nodes.dims(n.output(k))[axis] + "L;");
        } else {
            String split = ShapeCode.present(n, 1) ? "split" : "0";
            String count = ShapeCode.present(n, 1) ? ShapeCode.params(e, n, 1, "split") : "0L";
            e.check("kiln_split_sizes(" + e.dim(x, axis) + ", " + parts + ", " + count + ", " + split + ", sizes, " + what(n) + ")");
        }
        String outer = DimExprs.product(e, x, 0, axis);
        String inner = DimExprs.product(e, x, axis + 1, rank) + " * " + size(x);
        e.line("long outer = " + outer + ", inner = " + inner + ", start = 0;");
        e.line("const char* src = " + e.address(x) + ";");
        for (int k = 0; k < parts; k++) {
            Value y = n.output(k);
            e.open("{");
            if (!allStatic) {
                ShapeCode.longs(e, "y", rank);
                for (int d = 0; d < rank; d++) e.line("y[" + d + "] = " + (d == axis ? "sizes[" + k + "]" : e.dim(x, d)) + ";");
                ShapeCode.settle(e, n, y, "y");
            }
            e.line("long chunk = sizes[" + k + "] * inner;");
            e.line("char* dst = " + e.address(y) + ";");
            e.line("for (long o = 0; o < outer; o++) memcpy(dst + o * chunk, src + o * " + e.dim(x, axis) + " * inner + start, (size_t) chunk);");
            e.line("start += chunk;");
            e.close("}");
        }
    }
}
