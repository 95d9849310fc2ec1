package dev.kiln.backends.c;

import dev.kiln.ir.Dim;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.List;

/**
 * C expressions over dims for the families whose shapes may be known only at run time (gather, scatter,
 * selection, resize): literals where the dims are static, so static shapes compile to constant loop bounds,
 * and the run-time dims arrays where they are not.
 */
final class DimExprs {
    private DimExprs() {}

    /** The product of dims [from, to) of v: a literal when they are static. */
    static String product(Emission e, Value v, int from, int to) {
        long known = 1;
        List<String> terms = new ArrayList<>();
        for (int d = from; d < to; d++) {
            Dim dim = v.type().shape().dim(d);
            if (dim.isStatic()) known *= dim.size();
            else terms.add(e.dim(v, d));
        }
        if (known == 0 || terms.isEmpty()) return known + "L";
        if (known != 1) terms.add(0, known + "L");
        return terms.size() == 1 ? terms.get(0) : "(" + String.join(" * ", terms) + ")";
    }

    /** The row-major element stride of dim d of v. */
    static String stride(Emission e, Value v, int d) { return product(e, v, d + 1, v.type().rank()); }

    /** Dim d of value v: what an output dim or an expected dim is made of. */
    record Ref(Value v, int d) {
        String expr(Emission e) { return e.dim(v, d); }

        /** The static size, or -1. */
        long size() { return v.type().shape().dim(d).isStatic() ? v.type().shape().dim(d).size() : -1; }
    }

    /** Dims [from, to) of v. */
    static List<Ref> refs(Value v, int from, int to) {
        List<Ref> refs = new ArrayList<>();
        for (int d = from; d < to; d++) refs.add(new Ref(v, d));
        return refs;
    }

    /**
     * Makes kiln_run fail unless v's dims are {@code want}; false, with the failure unconditional, when the
     * ranks differ.
     */
    static boolean requireDims(Emission e, Value v, List<Ref> want, String message) {
        if (v.type().rank() != want.size()) {
            e.failWhen("1", message);
            return false;
        }
        List<String> differ = new ArrayList<>();
        boolean known = Emission.isStatic(v);
        boolean differs = false;
        for (int d = 0; d < want.size(); d++) {
            differ.add(e.dim(v, d) + " != " + want.get(d).expr(e));
            known &= want.get(d).size() >= 0;
            differs |= want.get(d).size() != v.type().shape().dim(d).size();
        }
        if (!differ.isEmpty()) failWhen(e, known ? differs : null, String.join(" || ", differ), message);
        return true;
    }

    /** The dims of v as C expressions. */
    static List<String> dims(Emission e, Value v) {
        List<String> dims = new ArrayList<>();
        for (int d = 0; d < v.type().rank(); d++) dims.add(e.dim(v, d));
        return dims;
    }

    /** Whether dim d of v is static and equal to size. */
    static boolean hasStaticSize(Value v, int d, long size) {
        Dim dim = v.type().shape().dim(d);
        return dim.isStatic() && dim.size() == size;
    }

    /**
     * Gives a run-time shaped output its dims (C expressions, one per dim) and reserves its buffer; a static
     * output has them already.
     */
    static void define(Emission e, Value out, List<String> dims) {
        if (Emission.isStatic(out)) return;
        String array = e.dimsArray(out);
        for (int d = 0; d < dims.size(); d++) e.line(array + "[" + d + "] = " + dims.get(d) + ";");
        e.allocate(out);
    }

    /** A C string literal naming the node, for the messages of a failing kiln_run. */
    static String what(Node n) { return Emission.cString("node " + n.name() + " (" + n.op() + ")"); }

    /**
     * Makes kiln_run fail with the message when the C condition holds; decided here when {@code known} is
     * not null (every dim involved is static): then only a node that must fail gets the check.
     */
    static void failWhen(Emission e, Boolean known, String condition, String message) {
        if (known == null) e.failWhen(condition, message);
        else if (known) e.failWhen("1", message);
    }

    /** Whether every value is of static shape. */
    static boolean allStatic(Value... values) {
        for (Value v : values) if (v != null && !Emission.isStatic(v)) return false;
        return true;
    }

    /**
     * Opens one loop per dim (variables {@code prefix0, prefix1, ...}) over the given bounds; the caller
     * closes them with {@link #close}. Rank 0 opens a plain block.
     */
    static int open(Emission e, String prefix, List<String> bounds) {
        for (int d = 0; d < bounds.size(); d++) {
            String i = prefix + d;
            e.open("for (long " + i + " = 0; " + i + " < " + bounds.get(d) + "; " + i + "++) {");
        }
        if (bounds.isEmpty()) e.open("{");
        return Math.max(1, bounds.size());
    }

    static void close(Emission e, int depth) {
        for (int i = 0; i < depth; i++) e.close("}");
    }

    /** The C expression sum of terms ("0L" when there are none). */
    static String sum(List<String> terms) { return terms.isEmpty() ? "0L" : String.join(" + ", terms); }
}
