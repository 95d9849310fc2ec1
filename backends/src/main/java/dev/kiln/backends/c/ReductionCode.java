package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.List;

/**
 * What the reduction, scan and normalisation families share: C expressions of a value's dims (literals for
 * static shapes, run-time dims otherwise), outputs whose dims are set at run time, and elements read as the
 * double the reference interpreter computes in and stored back as their dtype.
 */
final class ReductionCode {
    private ReductionCode() {}

    /** A C expression of the product of the value's dims [from, to): a literal where they are all static. */
    static String product(Emission e, Value v, int from, int to) {
        long literal = 1;
        List<String> terms = new ArrayList<>();
        for (int d = from; d < to; d++) {
            if (v.type().shape().dim(d).isStatic()) literal *= v.type().shape().dim(d).size();
            else terms.add(e.dim(v, d));
        }
        if (terms.isEmpty() || literal == 0) return literal + "L";
        if (literal != 1) terms.add(0, literal + "L");
        return terms.size() == 1 ? terms.get(0) : "(" + String.join(" * ", terms) + ")";
    }

    /** For an output of run-time shape: sets its dims to {@code dims} (C expressions) and reserves its buffer. */
    static void setDims(Emission e, Value out, List<String> dims) {
        if (Emission.isStatic(out)) return;
        for (int d = 0; d < dims.size(); d++) e.line(e.dimsArray(out) + "[" + d + "] = " + dims.get(d) + ";");
        e.allocate(out);
    }

    /** The C expressions of a value's dims. */
    static List<String> dims(Emission e, Value v) {
        List<String> dims = new ArrayList<>();
        for (int d = 0; d < v.type().rank(); d++) dims.add(e.dim(v, d));
        return dims;
    }

    /** For an output of run-time shape with the dims of {@code like}: sets them and reserves its buffer. */
    static void sameDims(Emission e, Value like, Value out) { setDims(e, out, dims(e, like)); }

    /** A C initialiser of a value's dims, {@code {d0, d1, ...}} (one 0 for a scalar, whose array needs an element). */
    static String dimsInitialiser(Emission e, Value v) {
        List<String> dims = dims(e, v);
        return "{" + (dims.isEmpty() ? "0L" : String.join(", ", dims)) + "}";
    }

    /**
     * A value seen along one axis as [outer, n, inner] (C expressions): outer lines of n elements each, the
     * elements of a line inner apart.
     */
    record Lines(String outer, String n, String inner) {
        static Lines of(Emission e, Value v, int axis) {
            return new Lines(product(e, v, 0, axis), e.dim(v, axis), product(e, v, axis + 1, v.type().rank()));
        }

        /** The C expression of the elements per outer index, n * inner. */
        String block() { return n.equals("1L") ? inner : inner.equals("1L") ? n : n + " * " + inner; }

        /**
         * Opens loops over the lines (o over outer, i over inner); inside them {@code at} is the offset of the
         * line's first element, its element k at {@code at + k * inner}.
         */
        void open(Emission e) {
            e.open("for (long o = 0; o < " + outer + "; o++) {");
            e.open("for (long i = 0; i < " + inner + "; i++) {");
            e.line("const long at = o * " + block() + " + i;");
        }

        void close(Emission e) {
            e.close("}");
            e.close("}");
        }

        /** The offset of element {@code k} (a C expression) of the current line. */
        String at(String k) { return inner.equals("1L") ? "at + " + k : "at + " + k + " * " + inner; }
    }

    /** A stored element as the double it stands for (unsigned integers read unsigned, bool as 0 or 1). */
    static String toDouble(DType t, String stored) { return "(double) " + CTypes.load(t, stored); }

    /**
     * A double stored as the dtype: floats rounded to nearest (f16 and bf16 through float), integers truncated
     * toward zero, saturated to 64 bits (NaN as 0) and wrapped to their width (base.h's conversions), bool as
     * v != 0: what the interpreter's tensors store.
     */
    static String fromDouble(DType t, String value) {
        return switch (t) {
            case F64 -> value;
            case F32 -> "(float) (" + value + ")";
            case F16, BF16 -> CTypes.store(t, "(float) (" + value + ")");
            case BOOL -> "(uint8_t) ((" + value + ") != 0)";
            case U64 -> "kiln_f64_to_u64(" + value + ")";
            default -> "(" + CTypes.storage(t) + ") kiln_f64_to_i64(" + value + ")";
        };
    }

    /** A double rounded to the float dtype t and read back, as the interpreter rounds steps ONNX computes in t. */
    static String rounded(DType t, String value) {
        return switch (t) {
            case F64 -> value;
            case F32 -> "(double) (float) (" + value + ")";
            default -> "(double) " + CTypes.load(t, CTypes.store(t, "(float) (" + value + ")"));
        };
    }
}
