package dev.kiln.backends.c;

import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;

import static dev.kiln.backends.c.DimExprs.what;
import static dev.kiln.backends.c.ShapeCode.isStatic;
import static dev.kiln.backends.c.ShapeCode.present;
import static dev.kiln.backends.c.ShapeCode.size;

/**
 * Ops that copy each row of their input whole or in part to the same-shaped output: Trilu (a range of each
 * matrix row kept, the rest zero) and ReverseSequence (the rows of each batch entry's first steps reversed).
 */
final class RowEmitter implements OpEmitter {
    private static final Map<String, BiConsumer<Node, Emission>> CODE = Map.of(
            "Trilu", RowEmitter::trilu,
            "ReverseSequence", RowEmitter::reverseSequence);

    @Override
    public Set<String> ops() { return CODE.keySet(); }

    @Override
    public List<String> kernels() { return List.of(ShapeCode.COPY, ShapeCode.RULES); }

    @Override
    public String problem(Node n) {
        String layout = Nodes.plainLayouts(n);
        return layout != null ? layout : ShapeCode.integers(n, 1);
    }

    @Override
    public void emit(Node n, Emission e) {
        Value x = n.input(0);
        Value y = n.output(0);
        if (!isStatic(y)) {
            ShapeCode.longs(e, "y", y.type().rank());
            for (int d = 0; d < y.type().rank(); d++) e.line("y[" + d + "] = " + e.dim(x, d) + ";");
            ShapeCode.settle(e, n, y, "y");
        }
        CODE.get(n.op()).accept(n, e);
    }

    private static void trilu(Node n, Emission e) {
        Value x = n.input(0);
        int rank = x.type().rank();
        String k = "0LL";
        if (present(n, 1)) {
            long[] known = Nodes.constantLongs(n, 1);
            Value kv = n.input(1);
            if (known != null && known.length > 0) {
                k = CTypes.longLiteral(known[0]);
            } else {
                e.failWhen(e.count(kv) + " < 1", "node " + n.name() + " (Trilu): k holds no value");
                k = "(long long) " + e.ptr(kv) + "[0]";
            }
        }
        e.line("kiln_trilu(" + DimExprs.product(e, x, 0, rank - 2) + ", " + e.dim(x, rank - 2) + ", " + e.dim(x, rank - 1) + ", " + k + ", "
                + (Nodes.intAttr(n, "upper", 1) != 0 ? 1 : 0) + ", " + e.address(x) + ", " + e.address(n.output(0)) + ", " + size(x) + ");");
    }

    /** Batch entry b's first lengths[b] steps reversed: rows of the dims after the batch and time axes (0 and 1, either way round) move whole. */
    private static void reverseSequence(Node n, Emission e) {
        Value x = n.input(0);
        Value lengths = n.input(1);
        boolean batchFirst = Nodes.intAttr(n, "batch_axis", 1) == 0;
        e.line("long batch = " + e.dim(x, batchFirst ? 0 : 1) + ", steps = " + e.dim(x, batchFirst ? 1 : 0) + ";");
        e.line("size_t row = (size_t) " + DimExprs.product(e, x, 2, x.type().rank()) + " * " + size(x) + ";");
        e.line("long batchStride = " + (batchFirst ? "steps" : "1L") + ", stepStride = " + (batchFirst ? "1L" : "batch") + ";");
        e.failWhen(e.count(lengths) + " != batch", "node " + n.name() + " (ReverseSequence): sequence_lens does not hold one length per batch entry");
        e.line("const char* src = " + e.address(x) + ";");
        e.line("char* dst = " + e.address(n.output(0)) + ";");
        // the interpreter checks the lengths only when the input has elements
        e.open("if (" + e.count(x) + " > 0) for (long b = 0; b < batch; b++) {");
        e.line("long long length = (long long) " + e.ptr(lengths) + "[b];");
        e.line("if (length < 0 || length > steps) return kiln_shape_fail(" + what(n) + ", \"sequence length out of range:\", length);");
        e.open("for (long t = 0; t < steps; t++) {");
        e.line("long from = t < length ? (long) length - 1 - t : t;");
        e.line("memcpy(dst + (b * batchStride + t * stepStride) * row, src + (b * batchStride + from * stepStride) * row, row);");
        e.close("}");
        e.close("}");
    }
}
