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
import static dev.kiln.backends.c.GatherEmitter.copyRun;

/**
 * Ops whose output size depends on the data: NonZero, Unique, Compress and OneHot (with a depth read at run
 * time). Each computes its output dims while it runs, then reserves the output (bounded by its input: NonZero
 * rank x count(x), Unique and Compress count(x)); where the dims are static already it only fills the output.
 */
final class SelectionEmitter implements OpEmitter {
    private static final Map<String, BiConsumer<Node, Emission>> EMITTERS = Map.of(
            "NonZero", SelectionEmitter::nonZero,
            "Unique", SelectionEmitter::unique,
            "Compress", SelectionEmitter::compress,
            "OneHot", SelectionEmitter::oneHot);

    @Override
    public Set<String> ops() { return EMITTERS.keySet(); }

    @Override
    public List<String> kernels() { return List.of("gather.h", "unique.h"); }

    @Override
    public String problem(Node n) { return Nodes.plainOf(n, EnumSet.allOf(DType.class)); }

    @Override
    public void emit(Node n, Emission e) { EMITTERS.get(n.op()).accept(n, e); }

    /** Whether a stored element is non-zero: NaN is, -0 is not. */
    private static String isNonZero(DType t, String stored) {
        return switch (t) {
            case F16, BF16 -> "((" + stored + " & 0x7fff) != 0)";
            default -> "(" + stored + " != 0)";
        };
    }

    /** NonZero: the coordinates of the non-zero elements, one row per dim, in row-major order. */
    private static void nonZero(Node n, Emission e) {
        Value x = n.input(0);
        Value y = n.output(0);
        int rank = x.type().rank();
        DType t = x.type().dtype();
        String count = product(e, x, 0, rank);
        e.line("const " + CTypes.storage(t) + "* xs = " + e.ptr(x) + ";");
        e.line("long found = 0;");
        e.line("for (long i = 0; i < " + count + "; i++) found += " + isNonZero(t, "xs[i]") + ";");
        DimExprs.define(e, y, List.of(rank + "L", "found"));
        e.line("int64_t* coordinates = " + e.ptr(y) + ";");
        e.line("long column = 0, at = 0;");
        int depth = DimExprs.open(e, "i", DimExprs.dims(e, x));
        e.open("if (" + isNonZero(t, "xs[at]") + ") {");
        for (int d = 0; d < rank; d++) e.line("coordinates[" + d + " * found + column] = i" + d + ";");
        e.line("column++;");
        e.close("}");
        e.line("at++;");
        DimExprs.close(e, depth);
    }

    /** The C dims of an output that is the input with dim axis replaced by {@code size}, or [size] without an axis. */
    private static List<String> replaced(Emission e, Value x, Integer axis, String size) {
        if (axis == null) return List.of(size);
        List<String> dims = new ArrayList<>(DimExprs.dims(e, x));
        dims.set(axis, size);
        return dims;
    }

    /** The axis attribute made positive, or null when absent (the op then works on the flattened input). */
    private static Integer axis(Node n, Value x) {
        return n.attribute("axis") == null ? null : Nodes.axis(n, "axis", 0, x.type().rank());
    }

    /** {outer, size, inner} of x around the axis, or {1, count, 1} when flattened. */
    private static String[] around(Emission e, Value x, Integer axis) {
        int rank = x.type().rank();
        if (axis == null) return new String[] {"1L", product(e, x, 0, rank), "1L"};
        return new String[] {product(e, x, 0, axis), e.dim(x, axis), product(e, x, axis + 1, rank)};
    }

    /** Compress: the slices along the axis (or elements of the flattened input) whose condition is true. */
    private static void compress(Node n, Emission e) {
        Value x = n.input(0);
        Value condition = n.input(1);
        Value y = n.output(0);
        Integer axis = axis(n, x);
        String[] s = around(e, x, axis);
        DType ct = condition.type().dtype();
        e.line("const " + CTypes.storage(ct) + "* keep = " + e.ptr(condition) + ";");
        e.line("long length = " + product(e, condition, 0, condition.type().rank()) + ";");
        // the reference fails when the condition selects past the end of the axis, and ignores a false tail
        e.line("for (long j = " + s[1] + "; j < length; j++) if (" + isNonZero(ct, "keep[j]") + ") return kiln_index_fail("
                + DimExprs.what(n) + ", j, " + s[1] + ");");
        e.line("if (length > " + s[1] + ") length = " + s[1] + ";");
        if (!Emission.isStatic(y)) {
            e.line("long kept = 0;");
            e.line("for (long j = 0; j < length; j++) kept += " + isNonZero(ct, "keep[j]") + ";");
            DimExprs.define(e, y, replaced(e, x, axis, "kept"));
        }
        GatherEmitter.wordPointers(e, x, y);
        e.line("long to = 0;");
        e.open("for (long o = 0; o < " + s[0] + "; o++) {");
        e.open("for (long j = 0; j < length; j++) {");
        e.open("if (" + isNonZero(ct, "keep[j]") + ") {");
        copyRun(e, x, "to", "(o * " + s[1] + " + j) * " + s[2], s[2]);
        e.line("to += " + s[2] + ";");
        e.close("}");
        e.close("}");
        e.close("}");
    }

    /** The comparison kind of unique.h for a dtype. */
    private static String uniqueKind(DType t) {
        return switch (t) {
            case F32 -> "KILN_UNIQUE_F32";
            case F64 -> "KILN_UNIQUE_F64";
            case F16 -> "KILN_UNIQUE_F16";
            case BF16 -> "KILN_UNIQUE_BF16";
            case I8, I16, I32, I64 -> "KILN_UNIQUE_SIGNED";
            default -> "KILN_UNIQUE_UNSIGNED";
        };
    }

    /** Unique: the distinct slices (or elements), their first indices, each one's place among them, and their counts. */
    private static void unique(Node n, Emission e) {
        Value x = n.input(0);
        Integer axis = axis(n, x);
        String[] s = around(e, x, axis);
        e.line("long n = " + s[1] + ";");
        e.line("long* work = (long*) " + e.scratch("(size_t) 7 * n * sizeof(long)", "the work of node " + n.name() + " (Unique)") + ";");
        e.line("long found = kiln_unique(" + e.address(x) + ", " + uniqueKind(x.type().dtype()) + ", " + x.type().dtype().byteSize() + ", "
                + s[0] + ", n, " + s[2] + ", " + (Nodes.intAttr(n, "sorted", 1) != 0 ? 1 : 0) + ", work);");
        Value y = n.output(0);
        DimExprs.define(e, y, replaced(e, x, axis, "found"));
        GatherEmitter.wordPointers(e, x, y);
        e.open("for (long o = 0; o < " + s[0] + "; o++) {");
        e.open("for (long r = 0; r < found; r++) {");
        copyRun(e, x, "(o * found + r) * " + s[2], "(o * n + work[r]) * " + s[2], s[2]);
        e.close("}");
        e.close("}");
        // indices, inverse_indices and counts: first occurrences and counts in output order, and each slice's place
        String[] parts = {"work", "work + 2 * n", "work + n"};
        String[] lengths = {"found", "n", "found"};
        for (int k = 1; k < n.outputs().size(); k++) {
            Value out = n.output(k);
            DimExprs.define(e, out, List.of(lengths[k - 1]));
            e.line("for (long r = 0; r < " + lengths[k - 1] + "; r++) " + e.ptr(out) + "[r] = (" + parts[k - 1] + ")[r];");
        }
    }

    /**
     * OneHot: the values' off element everywhere, and its on element at each index's place along the new
     * axis (indices counted from the end when negative, ignored when outside the depth).
     */
    private static void oneHot(Node n, Emission e) {
        Value indices = n.input(0);
        Value depthInput = n.input(1);
        Value values = n.input(2);
        Value y = n.output(0);
        int rank = indices.type().rank();
        int axis = Nodes.axis(n, "axis", -1, rank + 1);
        DimExprs.failWhen(e, Emission.isStatic(values) ? Nodes.count(values) != 2 : null, product(e, values, 0, values.type().rank()) + " != 2",
                "node " + n.name() + " (OneHot): values of shape " + values.type().shape() + " are not [off, on]");
        String depth;
        if (y.type().shape().dim(axis).isStatic()) {
            depth = y.type().shape().dim(axis).size() + "L";
        } else {
            DType dt = depthInput.type().dtype();
            DimExprs.failWhen(e, Emission.isStatic(depthInput) ? Nodes.count(depthInput) < 1 : null,
                    product(e, depthInput, 0, depthInput.type().rank()) + " < 1", "node " + n.name() + " (OneHot): no depth");
            e.line("long long depth = " + Elements.asLong(dt, e.ptr(depthInput) + "[0]") + ";");
            e.line("if (depth < 1) return kiln_fail_value(" + Emission.cString("node " + n.name() + " (OneHot): depth must be positive, got") + ", depth);");
            // counted in double: an output past what run-time values may hold fails before its element count could overflow
            e.line("if ((double) depth * " + product(e, indices, 0, rank) + " * " + y.type().dtype().byteSize() + " > (double) KILN_DYNAMIC_LIMIT) return kiln_fail_value("
                    + Emission.cString("node " + n.name() + " (OneHot): the output is too large for the depth") + ", depth);");
            depth = "depth";
        }
        List<String> dims = new ArrayList<>(DimExprs.dims(e, indices));
        dims.add(axis, depth);
        DimExprs.define(e, y, dims);
        String outer = product(e, indices, 0, axis);
        String inner = product(e, indices, axis, rank);
        GatherEmitter.wordPointers(e, values, y);
        e.line("for (long i = 0; i < " + outer + " * " + depth + " * " + inner + "; i++) dst[i] = src[0];");
        DType it = indices.type().dtype();
        e.line("const " + CTypes.storage(it) + "* ix = " + e.ptr(indices) + ";");
        e.open("for (long o = 0; o < " + outer + "; o++) {");
        e.open("for (long t = 0; t < " + inner + "; t++) {");
        e.line("long long v = " + Elements.asLong(it, "ix[o * " + inner + " + t]") + ";");
        e.line("if (v < 0) v += " + depth + ";");
        e.line("if (v >= 0 && v < " + depth + ") dst[(o * " + depth + " + v) * " + inner + " + t] = src[1];");
        e.close("}");
        e.close("}");
    }
}
