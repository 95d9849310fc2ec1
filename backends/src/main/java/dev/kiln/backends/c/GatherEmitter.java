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
import static dev.kiln.backends.c.DimExprs.what;

/**
 * Gather, GatherElements and GatherND: elements or slices picked by indices (i32 or i64, negative ones
 * counted from the end), moved as words of the data's width, so every dtype is exact. An index outside its
 * axis makes kiln_run fail naming it. Data and indices may have run-time dims; the output's follow from them.
 */
final class GatherEmitter implements OpEmitter {
    private static final Map<String, BiConsumer<Node, Emission>> EMITTERS = Map.of(
            "Gather", GatherEmitter::gather,
            "GatherElements", GatherEmitter::gatherElements,
            "GatherND", GatherEmitter::gatherNd);

    @Override
    public Set<String> ops() { return EMITTERS.keySet(); }

    @Override
    public List<String> kernels() { return List.of("gather.h"); }

    @Override
    public String problem(Node n) { return Nodes.plainOf(n, EnumSet.allOf(DType.class)); }

    @Override
    public void emit(Node n, Emission e) { EMITTERS.get(n.op()).accept(n, e); }

    /** Reads index {@code at} of the indices into k, failing when it is outside an axis of {@code size}. */
    static void wrapIndex(Node n, Emission e, String k, String at, String size) {
        e.line("long long " + k + " = kiln_wrap_index(" + at + ", " + size + ");");
        e.line("if (" + k + " < 0) return kiln_index_fail(" + what(n) + ", " + at + ", " + size + ");");
    }

    /** {@code var * stride}, or nothing for a stride of 0. */
    static void term(List<String> terms, String var, String stride) {
        if (stride.equals("0L")) return;
        terms.add(stride.equals("1L") ? var : var + " * " + stride);
    }

    /** Typed pointers src and dst of the data's width: the code that follows moves elements as words. */
    static void wordPointers(Emission e, Value from, Value to) {
        String bits = CTypes.bits(from.type().dtype());
        e.line("const " + bits + "* src = (const " + bits + "*) " + e.address(from) + ";");
        e.line(bits + "* dst = (" + bits + "*) " + e.address(to) + ";");
    }

    /** Copies {@code elements} elements (a C expression) from src + at to dst + to, as words or one memcpy. */
    static void copyRun(Emission e, Value data, String to, String at, String elements) {
        if (elements.equals("1L")) e.line("dst[" + to + "] = src[" + at + "];");
        else e.line("memcpy(dst + " + to + ", src + " + at + ", (size_t) " + elements + " * " + data.type().dtype().byteSize() + ");");
    }

    /** y = data with axis replaced by the indices' dims: rows of inner elements picked per outer index. */
    private static void gather(Node n, Emission e) {
        Value data = n.input(0);
        Value indices = n.input(1);
        Value y = n.output(0);
        int rank = data.type().rank();
        int axis = Nodes.axis(n, "axis", 0, rank);
        String size = e.dim(data, axis);
        String count = product(e, indices, 0, indices.type().rank());
        e.line("const " + CTypes.storage(indices.type().dtype()) + "* ix = " + e.ptr(indices) + ";");
        // every index is checked before any is used, as the reference does even when there is nothing to copy
        e.open("for (long j = 0; j < " + count + "; j++) {");
        wrapIndex(n, e, "k", "ix[j]", size);
        e.close("}");
        List<String> dims = new ArrayList<>(DimExprs.dims(e, data).subList(0, axis));
        dims.addAll(DimExprs.dims(e, indices));
        dims.addAll(DimExprs.dims(e, data).subList(axis + 1, rank));
        DimExprs.define(e, y, dims);
        String inner = product(e, data, axis + 1, rank);
        wordPointers(e, data, y);
        e.open("for (long o = 0; o < " + product(e, data, 0, axis) + "; o++) {");
        e.open("for (long j = 0; j < " + count + "; j++) {");
        copyRun(e, data, "(o * " + count + " + j) * " + inner, "(o * " + size + " + kiln_wrap_index(ix[j], " + size + ")) * " + inner, inner);
        e.close("}");
        e.close("}");
    }

    /** y[i] = data[i with its coordinate on axis replaced by indices[i]]: y has the indices' shape. */
    private static void gatherElements(Node n, Emission e) {
        Value data = n.input(0);
        Value indices = n.input(1);
        Value y = n.output(0);
        int rank = data.type().rank();
        int axis = Nodes.axis(n, "axis", 0, rank);
        checkIndicesFit(n, e, data, indices, axis, false);
        DimExprs.define(e, y, DimExprs.dims(e, indices));
        e.line("const " + CTypes.storage(indices.type().dtype()) + "* ix = " + e.ptr(indices) + ";");
        wordPointers(e, data, y);
        e.line("long at = 0;");
        int depth = DimExprs.open(e, "i", DimExprs.dims(e, indices));
        List<String> base = new ArrayList<>();
        for (int d = 0; d < rank; d++) if (d != axis) term(base, "i" + d, stride(e, data, d));
        wrapIndex(n, e, "k", "ix[at]", e.dim(data, axis));
        e.line("dst[at++] = src[" + DimExprs.sum(base) + " + k * " + stride(e, data, axis) + "];");
        DimExprs.close(e, depth);
    }

    /**
     * Fails when the indices reach past data on an axis other than {@code axis}: always for GatherElements
     * (as the reference checks first), and for ScatterElements only when there are updates to write.
     */
    static void checkIndicesFit(Node n, Emission e, Value data, Value indices, int axis, boolean onlyWhenNonEmpty) {
        List<String> over = new ArrayList<>();
        boolean isStatic = DimExprs.allStatic(data, indices);
        boolean known = false;
        for (int d = 0; d < data.type().rank(); d++) {
            if (d == axis) continue;
            over.add(e.dim(indices, d) + " > " + e.dim(data, d));
            known |= isStatic && Nodes.dims(indices)[d] > Nodes.dims(data)[d];
        }
        if (over.isEmpty()) return;
        String condition = String.join(" || ", over);
        if (onlyWhenNonEmpty) {
            condition = product(e, indices, 0, indices.type().rank()) + " > 0 && (" + condition + ")";
            known &= isStatic && Nodes.count(indices) > 0;
        }
        DimExprs.failWhen(e, isStatic ? known : null, condition,
                "node " + n.name() + " (" + n.op() + "): indices of shape " + indices.type().shape() + " exceed data of shape " + data.type().shape());
    }

    /**
     * GatherND: each index tuple (the indices' last dim) picks a slice of data after the batch dims; the
     * batch dims of data and indices must agree.
     */
    private static void gatherNd(Node n, Emission e) {
        Value data = n.input(0);
        Value indices = n.input(1);
        Value y = n.output(0);
        int rank = data.type().rank();
        int q = indices.type().rank();
        int k = (int) indices.type().shape().dim(q - 1).size();
        int b = (int) Nodes.intAttr(n, "batch_dims", 0);
        checkBatchDims(n, e, data, indices, b);
        List<String> dims = new ArrayList<>(DimExprs.dims(e, indices).subList(0, q - 1));
        dims.addAll(DimExprs.dims(e, data).subList(b + k, rank));
        DimExprs.define(e, y, dims);
        String slice = product(e, data, b + k, rank);
        e.line("const " + CTypes.storage(indices.type().dtype()) + "* tuple = " + e.ptr(indices) + ";");
        wordPointers(e, data, y);
        e.line("long to = 0;");
        e.open("for (long batch = 0; batch < " + product(e, indices, 0, b) + "; batch++) {");
        e.open("for (long t = 0; t < " + product(e, indices, b, q - 1) + "; t++, tuple += " + k + ", to += " + slice + ") {");
        List<String> at = new ArrayList<>();
        term(at, "batch", product(e, data, b, rank));
        for (int j = 0; j < k; j++) {
            wrapIndex(n, e, "k" + j, "tuple[" + j + "]", e.dim(data, b + j));
            term(at, "k" + j, stride(e, data, b + j));
        }
        copyRun(e, data, "to", DimExprs.sum(at), slice);
        e.close("}");
        e.close("}");
    }

    /** Fails unless the first b dims of data and indices are equal. */
    private static void checkBatchDims(Node n, Emission e, Value data, Value indices, int b) {
        List<String> differ = new ArrayList<>();
        Boolean known = DimExprs.allStatic(data, indices) ? false : null;
        for (int d = 0; d < b; d++) {
            differ.add(e.dim(indices, d) + " != " + e.dim(data, d));
            if (known != null) known |= Nodes.dims(indices)[d] != Nodes.dims(data)[d];
        }
        if (differ.isEmpty()) return;
        DimExprs.failWhen(e, known, String.join(" || ", differ), "node " + n.name() + " (GatherND): the batch dims of data "
                + data.type().shape() + " and indices " + indices.type().shape() + " differ");
    }
}
