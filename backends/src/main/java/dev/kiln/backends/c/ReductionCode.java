package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Value;

import java.util.List;

/**
 * What the reduction, scan and normalisation families share: a value seen as lines along one axis, outputs with
 * their input's run-time dims, and doubles rounded as the reference interpreter rounds its steps.
 */
final class ReductionCode {
    private ReductionCode() {}

    /** For an output of run-time shape with the dims of {@code like}: sets them and reserves its buffer. */
    static void sameDims(Emission e, Value like, Value out) { DimExprs.define(e, out, DimExprs.dims(e, like)); }

    /** A C initialiser of a value's dims, {@code {d0, d1, ...}} (one 0 for a scalar, whose array needs an element). */
    static String dimsInitialiser(Emission e, Value v) {
        List<String> dims = DimExprs.dims(e, v);
        return "{" + (dims.isEmpty() ? "0L" : String.join(", ", dims)) + "}";
    }

    /**
     * A value seen along one axis as [outer, n, inner] (C expressions): outer lines of n elements each, the
     * elements of a line inner apart.
     */
    record Lines(String outer, String n, String inner) {
        static Lines of(Emission e, Value v, int axis) {
            return new Lines(DimExprs.product(e, v, 0, axis), e.dim(v, axis), DimExprs.product(e, v, axis + 1, v.type().rank()));
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

    /** A double rounded to the float dtype t and read back, as the interpreter rounds steps ONNX computes in t. */
    static String rounded(DType t, String value) {
        return switch (t) {
            case F64 -> value;
            case F32 -> "(double) (float) (" + value + ")";
            default -> "(double) " + CTypes.load(t, CTypes.store(t, "(float) (" + value + ")"));
        };
    }
}
