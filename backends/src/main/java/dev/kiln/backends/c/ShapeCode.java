package dev.kiln.backends.c;

import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.List;

/**
 * What the shape and data-movement families share: elements moved by their width whatever their dtype,
 * integer parameter inputs (shapes, axes, pads, repeats) read from constants or at run time, output dims
 * computed at run time and settled (checked against what the IR knows, buffers reserved), and strided copies
 * specialised to static shapes.
 */
final class ShapeCode {
    private ShapeCode() {}

    /** Kernels of data movement for run-time shapes, Pad and Trilu. */
    static final String COPY = "shape_copy.h";
    /** The op specs' shape rules at run time. */
    static final String RULES = "shape_rules.h";

    /** The element size of a value in bytes. */
    static int size(Value v) { return v.type().dtype().byteSize(); }

    /** Whether optional input i is given. */
    static boolean present(Node n, int i) { return i < n.inputs().size() && n.input(i) != null; }

    /** Whether the value's shape is static. */
    static boolean isStatic(Value v) { return Emission.isStatic(v); }

    /** Whether input i is absent or an integer constant whose values {@link Nodes#constantLongs} reads. */
    static boolean known(Node n, int i) { return !present(n, i) || Nodes.constantLongs(n, i) != null; }

    /** Null when the given inputs, where present, hold integers (shapes, axes, pads); else the dtype in brackets. */
    static String integers(Node n, int... inputs) {
        for (int i : inputs) {
            if (present(n, i) && !n.input(i).type().dtype().isInteger()) return " (" + n.input(i).type().dtype() + " parameters)";
        }
        return null;
    }

    /**
     * Declares {@code long long name[]} with the values of integer input i: literals when it is a constant,
     * else read at run time. Returns the C expression of its length.
     */
    static String params(Emission e, Node n, int input, String name) {
        Value v = n.input(input);
        long[] known = Nodes.constantLongs(n, input);
        if (known != null) return constParams(e, name, known);
        String count = e.count(v);
        e.line("long long " + name + "[" + (isStatic(v) ? Math.max(1, Nodes.count(v)) : count + " > 0 ? " + count + " : 1") + "];");
        e.line("for (long i = 0; i < " + count + "; i++) " + name + "[i] = (long long) " + e.ptr(v) + "[i];");
        return count;
    }

    /** Declares {@code static const long long name[]} of these values; returns their count as a C expression. */
    static String constParams(Emission e, String name, long[] values) {
        StringBuilder b = new StringBuilder("static const long long " + name + "[" + Math.max(1, values.length) + "] = {");
        for (int i = 0; i < values.length; i++) b.append(i > 0 ? ", " : "").append(CTypes.longLiteral(values[i]));
        e.line(b.append(values.length == 0 ? "0};" : "};").toString());
        return values.length + "L";
    }

    /** Declares {@code long name[length]} (at least one entry: C has no empty arrays). */
    static void longs(Emission e, String name, int length) { e.line("long " + name + "[" + Math.max(1, length) + "];"); }

    /**
     * Once the node computed {@code out}'s dims into the local array {@code dims}: a static output must have
     * exactly its compile-time dims (kiln_run fails otherwise); a run-time shaped one takes them, its dims the IR
     * knows checked alike, and gets its buffer.
     */
    static void settle(Emission e, Node n, Value out, String dims) {
        int rank = out.type().rank();
        List<String> differ = new ArrayList<>();
        for (int d = 0; d < rank; d++) {
            if (out.type().shape().dim(d).isStatic()) differ.add(dims + "[" + d + "] != " + out.type().shape().dim(d).size() + "L");
        }
        if (!differ.isEmpty()) {
            e.failWhen(String.join(" || ", differ), "node " + n.name() + " (" + n.op() + "): output %" + out.name()
                    + " does not have the shape " + out.type().shape() + " the graph gives it");
        }
        List<String> computed = new ArrayList<>();
        for (int d = 0; d < rank; d++) computed.add(dims + "[" + d + "]");
        DimExprs.define(e, out, computed);
    }

    /**
     * out[i] = in[base + sum_d coordinate_d(i) * steps[d]] over {@code dims} (whose product is out's element count),
     * as literal loops: dims of 1 dropped, neighbours the input steps over as one merged, a contiguous inner run
     * one memcpy, an inner transpose (the loop before the last stepping by one) one tiled copy.
     */
    static void copyStatic(Emission e, Value in, long base, Value out, long[] dims, long[] steps) {
        long total = 1;
        for (long d : dims) total *= d;
        if (total == 0) return;
        List<long[]> loops = new ArrayList<>(); // {size, input step}
        for (int d = 0; d < dims.length; d++) {
            if (dims[d] == 1) continue;
            long[] last = loops.isEmpty() ? null : loops.get(loops.size() - 1);
            if (last != null && last[1] == steps[d] * dims[d]) {
                last[0] *= dims[d];
                last[1] = steps[d];
            } else {
                loops.add(new long[] {dims[d], steps[d]});
            }
        }
        if (loops.isEmpty()) loops.add(new long[] {1, 1});
        String word = CTypes.bits(in.type().dtype());
        e.line(word + "* dst = (" + word + "*) " + e.address(out) + ";");
        e.line("const " + word + "* src = (const " + word + "*) " + e.address(in) + " + " + base + "L;");
        long[] inner = loops.get(loops.size() - 1);
        // the last two loops transpose a matrix whose rows the input holds contiguous: one tiled copy
        boolean transposed = inner[1] != 1 && loops.size() > 1 && loops.get(loops.size() - 2)[1] == 1;
        int walked = loops.size() - (transposed ? 2 : 1);
        StringBuilder at = new StringBuilder("src");
        String indent = "";
        for (int d = 0; d < walked; d++) {
            e.line(indent + "for (long i" + d + " = 0; i" + d + " < " + loops.get(d)[0] + "L; i" + d + "++)");
            at.append(" + i").append(d).append(" * ").append(loops.get(d)[1]).append('L');
            indent += "    ";
        }
        if (transposed) {
            long rows = loops.get(loops.size() - 2)[0];
            e.line(indent + "kiln_copy_transposed((char*) dst, (const char*) (" + at + "), " + rows + "L, " + inner[0] + "L, " + inner[1] + "L, "
                    + size(in) + "), dst += " + rows * inner[0] + "L;");
        } else if (inner[1] == 1) {
            e.line(indent + "memcpy(dst, " + at + ", " + inner[0] * size(in) + "), dst += " + inner[0] + "L;");
        } else {
            e.line(indent + "for (long i = 0; i < " + inner[0] + "L; i++) *dst++ = (" + at + ")[i * " + inner[1] + "L];");
        }
    }

    /** The same copy for dims and steps known at run time (local long arrays of {@code rank} entries). */
    static void copyRuntime(Emission e, Value in, String base, Value out, int rank, String dims, String steps) {
        e.line("kiln_copy_strided(" + rank + ", " + dims + ", " + steps + ", " + e.address(in) + " + " + base + " * " + size(in) + ", "
                + e.address(out) + ", " + size(in) + ");");
    }
}
