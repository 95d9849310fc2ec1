package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;

import static dev.kiln.backends.c.DimExprs.product;
import static dev.kiln.backends.c.DimExprs.stride;
import static dev.kiln.backends.c.GatherEmitter.term;
import static dev.kiln.backends.c.GatherEmitter.wrapIndex;

/**
 * ScatterElements, ScatterND and TensorScatter: a copy of the data with updates written (or combined by the
 * reduction add, mul, max or min) at indexed places, in the order the updates come, so that duplicate
 * indices end as the reference's do. Indices outside the data make kiln_run fail.
 */
final class ScatterEmitter implements OpEmitter {
    private static final Map<String, BiConsumer<Node, Emission>> EMITTERS = Map.of(
            "ScatterElements", ScatterEmitter::scatterElements,
            "ScatterND", ScatterEmitter::scatterNd,
            "TensorScatter", ScatterEmitter::tensorScatter);
    private static final Set<String> REDUCTIONS = Set.of("none", "add", "mul", "max", "min");

    @Override
    public Set<String> ops() { return EMITTERS.keySet(); }

    @Override
    public List<String> kernels() { return List.of("gather.h", "scatter.h"); }

    @Override
    public String problem(Node n) {
        String types = Nodes.plainOf(n, EnumSet.allOf(DType.class));
        if (types != null) return types;
        String reduction = Nodes.stringAttr(n, "reduction", "none");
        if (!n.op().equals("TensorScatter") && !REDUCTIONS.contains(reduction)) return " (reduction " + reduction + ")";
        return null;
    }

    @Override
    public void emit(Node n, Emission e) { EMITTERS.get(n.op()).accept(n, e); }

    /** The C expression of element {@code a} combined with update {@code b} by the reduction, in the dtype's storage. */
    private static String combine(DType t, String reduction, String a, String b) {
        if (reduction.equals("none")) return b;
        if (t.isFloatingPoint()) {
            String x = Elements.asDouble(t, a);
            String y = Elements.asDouble(t, b);
            return Elements.fromDouble(t, switch (reduction) {
                case "add" -> "(" + x + " + " + y + ")";
                case "mul" -> "(" + x + " * " + y + ")";
                default -> "kiln_scatter_" + reduction + "(" + x + ", " + y + ")";
            });
        }
        String type = CTypes.storage(t);
        return switch (reduction) {
            // integers wrap as the reference's 64-bit arithmetic does; bool keeps whether the result is non-zero
            case "add" -> t == DType.BOOL ? "(uint8_t) ((" + a + " + " + b + ") != 0)" : "(" + type + ") ((uint64_t) " + a + " + (uint64_t) " + b + ")";
            case "mul" -> t == DType.BOOL ? "(uint8_t) ((" + a + " * " + b + ") != 0)" : "(" + type + ") ((uint64_t) " + a + " * (uint64_t) " + b + ")";
            case "max" -> "(" + a + " >= " + b + " ? " + a + " : " + b + ")";
            default -> "(" + a + " <= " + b + " ? " + a + " : " + b + ")";
        };
    }

    /** The output (of the data's dims) starts as a copy of the data; pointers dst (the output) and upd, of the storage type. */
    private static void copyData(Emission e, Value data, Value updates, Value y) {
        String type = CTypes.storage(data.type().dtype());
        DimExprs.define(e, y, DimExprs.dims(e, data));
        e.line("memcpy(" + e.address(y) + ", " + e.address(data) + ", (size_t) " + product(e, data, 0, data.type().rank()) + " * "
                + data.type().dtype().byteSize() + ");");
        e.line(type + "* dst = " + e.ptr(y) + ";");
        e.line("const " + type + "* upd = " + e.ptr(updates) + ";");
    }

    private static String mismatch(Node n, Value updates, String what) {
        return "node " + n.name() + " (" + n.op() + "): updates of shape " + updates.type().shape() + " do not match " + what;
    }

    /** ScatterElements: updates[i] goes where i's coordinates point, with the one on axis read from indices[i]. */
    private static void scatterElements(Node n, Emission e) {
        Value data = n.input(0);
        Value indices = n.input(1);
        Value updates = n.input(2);
        Value y = n.output(0);
        int rank = data.type().rank();
        int axis = Nodes.axis(n, "axis", 0, rank);
        if (indices.type().rank() != rank) {
            e.failWhen("1", "node " + n.name() + " (ScatterElements): indices of shape " + indices.type().shape() + " for data of shape " + data.type().shape());
            return;
        }
        if (!DimExprs.requireDims(e, updates, DimExprs.refs(indices, 0, rank), mismatch(n, updates, "the indices' shape " + indices.type().shape()))) return;
        GatherEmitter.checkIndicesFit(n, e, data, indices, axis, true);
        copyData(e, data, updates, y);
        e.line("const " + CTypes.storage(indices.type().dtype()) + "* ix = " + e.ptr(indices) + ";");
        e.line("long at = 0;");
        int depth = DimExprs.open(e, "i", DimExprs.dims(e, indices));
        List<String> base = new ArrayList<>();
        for (int d = 0; d < rank; d++) if (d != axis) term(base, "i" + d, stride(e, data, d));
        wrapIndex(n, e, "k", "ix[at]", e.dim(data, axis));
        e.line(CTypes.storage(data.type().dtype()) + "* to = dst + " + DimExprs.sum(base) + " + k * " + stride(e, data, axis) + ";");
        e.line("*to = " + combine(data.type().dtype(), Nodes.stringAttr(n, "reduction", "none"), "*to", "upd[at]") + ";");
        e.line("at++;");
        DimExprs.close(e, depth);
    }

    /** ScatterND: each index tuple (the indices' last dim) points at a slice of data that its run of updates lands on. */
    private static void scatterNd(Node n, Emission e) {
        Value data = n.input(0);
        Value indices = n.input(1);
        Value updates = n.input(2);
        Value y = n.output(0);
        int rank = data.type().rank();
        int q = indices.type().rank();
        int k = (int) indices.type().shape().dim(q - 1).size();
        if (k > rank) {
            e.failWhen("1", "node " + n.name() + " (ScatterND): indices of shape " + indices.type().shape() + " index more dims than data "
                    + data.type().shape() + " has");
            return;
        }
        List<DimExprs.Ref> want = DimExprs.refs(indices, 0, q - 1);
        want.addAll(DimExprs.refs(data, k, rank));
        if (!DimExprs.requireDims(e, updates, want, mismatch(n, updates, "indices " + indices.type().shape() + " and data " + data.type().shape()))) return;
        copyData(e, data, updates, y);
        String slice = product(e, data, k, rank);
        String reduction = Nodes.stringAttr(n, "reduction", "none");
        e.line("const " + CTypes.storage(indices.type().dtype()) + "* tuple = " + e.ptr(indices) + ";");
        e.open("for (long t = 0; t < " + product(e, indices, 0, q - 1) + "; t++, tuple += " + k + ", upd += " + slice + ") {");
        List<String> at = new ArrayList<>();
        for (int j = 0; j < k; j++) {
            wrapIndex(n, e, "k" + j, "tuple[" + j + "]", e.dim(data, j));
            term(at, "k" + j, stride(e, data, j));
        }
        e.line(CTypes.storage(data.type().dtype()) + "* to = dst + " + DimExprs.sum(at) + ";");
        if (reduction.equals("none")) {
            e.line("memcpy(to, upd, (size_t) " + slice + " * " + data.type().dtype().byteSize() + ");");
        } else {
            e.line("for (long s = 0; s < " + slice + "; s++) to[s] = " + combine(data.type().dtype(), reduction, "to[s]", "upd[s]") + ";");
        }
        e.close("}");
    }

    /**
     * TensorScatter: the update's sequence written into the cache along axis, from each batch entry's write
     * index (0 when absent), wrapping around the cache in circular mode.
     */
    private static void tensorScatter(Node n, Emission e) {
        Value cache = n.input(0);
        Value update = n.input(1);
        Value writeIndices = n.inputs().size() > 2 ? n.input(2) : null;
        Value y = n.output(0);
        int rank = cache.type().rank();
        int axis = Nodes.axis(n, "axis", -2, rank);
        List<String> differ = new ArrayList<>();
        boolean known = DimExprs.allStatic(cache, update);
        boolean differs = false;
        for (int d = 0; d < rank; d++) {
            differ.add(e.dim(update, d) + (d == axis ? " > " : " != ") + e.dim(cache, d));
            if (known) differs |= d == axis ? Nodes.dims(update)[d] > Nodes.dims(cache)[d] : Nodes.dims(update)[d] != Nodes.dims(cache)[d];
        }
        DimExprs.failWhen(e, known ? differs : null, String.join(" || ", differ), "node " + n.name() + " (TensorScatter): update of shape "
                + update.type().shape() + " does not fit the cache of shape " + cache.type().shape());
        String batch = e.dim(cache, 0);
        if (writeIndices != null) {
            String count = product(e, writeIndices, 0, writeIndices.type().rank());
            DimExprs.failWhen(e, DimExprs.allStatic(cache, writeIndices) ? Nodes.count(writeIndices) < Nodes.dims(cache)[0] : null,
                    count + " < " + batch, "node " + n.name() + " (TensorScatter): " + writeIndices.type().shape() + " write indices for a batch of "
                            + cache.type().shape().dim(0));
        }
        DimExprs.define(e, y, DimExprs.dims(e, cache));
        e.line("memcpy(" + e.address(y) + ", " + e.address(cache) + ", (size_t) " + product(e, cache, 0, rank) + " * "
                + cache.type().dtype().byteSize() + ");");
        GatherEmitter.wordPointers(e, update, y);
        String length = e.dim(cache, axis);
        String steps = e.dim(update, axis);
        String inner = product(e, cache, axis + 1, rank);
        String perBatch = product(e, cache, 1, axis);
        e.open("for (long b = 0; b < " + batch + "; b++) {");
        e.line("long long start = " + (writeIndices == null ? "0" : Elements.asLong(writeIndices.type().dtype(), e.ptr(writeIndices) + "[b]")) + ";");
        e.open("for (long p = b * " + perBatch + "; p < (b + 1) * " + perBatch + "; p++) {");
        e.open("for (long s = 0; s < " + steps + "; s++) {");
        // the reference's 64-bit arithmetic wraps where C's would overflow
        e.line("long long at = (long long) ((unsigned long long) start + (unsigned long long) s);");
        if (Nodes.stringAttr(n, "mode", "linear").equals("circular")) {
            e.line("at %= " + length + ";");
            e.line("if (at < 0) at += " + length + ";");
        } else {
            e.line("if (at < 0 || at >= " + length + ") return kiln_index_fail(" + DimExprs.what(n) + ", at, " + length + ");");
        }
        GatherEmitter.copyRun(e, update, "(p * " + length + " + at) * " + inner, "(p * " + steps + " + s) * " + inner, inner);
        e.close("}");
        e.close("}");
        e.close("}");
    }
}
