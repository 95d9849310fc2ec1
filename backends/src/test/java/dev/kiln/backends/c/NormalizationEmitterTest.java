package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;

/**
 * LayerNormalization, RMSNormalization and LpNormalization against the interpreter: every float dtype, any axis,
 * broadcast scale and bias, the statistics outputs and their stash types, odd and run-time shapes.
 */
class NormalizationEmitterTest {
    private static final List<DType> FLOATS = List.of(DType.F32, DType.F64, DType.F16, DType.BF16);

    @TempDir
    Path dir;

    /** X of the shape and a random scale and bias of the trailing dims from axis on. */
    private static List<Value> layerNorm(OpBatch b, DType t, int axis, long... shape) {
        long[] row = Arrays.copyOfRange(shape, axis < 0 ? shape.length + axis : axis, shape.length);
        return List.of(b.input(t, shape), b.input(t, row), b.input(t, row));
    }

    @Test
    void layerNormalizationEveryDtypeAxisAndOutput() {
        OpBatch b = new OpBatch("layer_norm", 1);
        for (DType t : FLOATS) {
            b.node("LayerNormalization", layerNorm(b, t, -1, 3, 4, 19), Map.of());
            b.node("LayerNormalization", layerNorm(b, t, 1, 2, 3, 5), attrs("axis", 1L, "epsilon", 0.25f), 3);
            b.node("LayerNormalization", layerNorm(b, t, 0, 4, 6).subList(0, 2), attrs("axis", 0L), 2);
            b.node("LayerNormalization", layerNorm(b, t, -2, 2, 1, 3, 2, 1, 3), attrs("axis", -2L, "stash_type", 11L), 3);
        }
        // scale and bias broadcast: one value, the last dim only, varying along a dim before the axis
        Value x = b.input(DType.F32, 4, 4, 4);
        b.node("LayerNormalization", List.of(x, b.input(DType.F32, 1), b.input(DType.F32, 1, 1)), attrs("axis", 1L));
        b.node("LayerNormalization", List.of(x, b.input(DType.F32, 4), b.input(DType.F32, 1, 4)), attrs("axis", 1L));
        b.node("LayerNormalization", List.of(x, b.input(DType.F32, 4, 1, 4), b.input(DType.F32, 4)), attrs("axis", 1L));
        b.node("LayerNormalization", List.of(x, b.input(DType.F32, 4, 4)), attrs("axis", 1L));
        b.node("LayerNormalization", List.of(x, b.input(DType.F32, 4), b.input(DType.F32, 4, 1, 1)), attrs("axis", 1L), 3);
        b.node("LayerNormalization", List.of(b.input(DType.F32, 37), b.input(DType.F32, 37)), Map.of(), 3);
        b.node("LayerNormalization", List.of(b.input(DType.F16, 3, 8), b.input(DType.F16, 8)), attrs("stash_type", 10L), 3);
        b.node("LayerNormalization", List.of(b.input(DType.F32, 0, 8), b.input(DType.F32, 8)), Map.of(), 3);
        b.assertMatchesAsWritten(dir, 1e-5);
    }

    /**
     * f32 LayerNormalization as layer_norm.h computes it: rows of 1 to 768 elements (one vector or less, whole
     * vectors, partial ones), row counts not a multiple of 4 and enough for the threads to split, a scale and bias
     * of one value, none, and values far from 0 (the variance about a large mean).
     */
    @Test
    void layerNormalizationRowsOfEveryLength() {
        OpBatch b = new OpBatch("layer_norm_rows", 4);
        for (long size : new long[] {1, 7, 16, 17, 33, 64, 129, 300, 768}) {
            b.node("LayerNormalization", layerNorm(b, DType.F32, -1, 3, 67, size), Map.of());
            b.node("LayerNormalization", List.of(b.input(DType.F32, 5, size), b.input(DType.F32, 1), b.input(DType.F32, 1)), attrs("epsilon", 1e-3f));
            b.node("LayerNormalization", List.of(b.input(DType.F32, new long[] {6, size}, () -> 100 + b.random().nextDouble()), b.input(DType.F32, size)), Map.of());
        }
        b.assertMatchesAsWritten(dir, 1e-5);
    }

    @Test
    void rmsAndLpNormalization() {
        OpBatch b = new OpBatch("rms_lp", 2);
        for (DType t : FLOATS) {
            b.node("RMSNormalization", List.of(b.input(t, 3, 4, 19), b.input(t, 19)), Map.of());
            b.node("RMSNormalization", List.of(b.input(t, 2, 3, 5), b.input(DType.F32, 3, 5)), attrs("axis", 1L, "epsilon", 0.5f));
            b.node("RMSNormalization", List.of(b.input(DType.F16, 2, 3, 5), b.input(t, 2, 1, 5)), attrs("axis", -2L));
            for (long p : new long[] {1, 2}) {
                b.node("LpNormalization", List.of(b.input(t, 3, 4, 5)), attrs("p", p));
                b.node("LpNormalization", List.of(b.input(t, 3, 4, 5)), attrs("p", p, "axis", 1L));
                b.node("LpNormalization", List.of(b.input(t, 2, 1, 2, 3, 1, 17)), attrs("p", p, "axis", 0L));
            }
        }
        b.node("RMSNormalization", List.of(b.input(DType.F32, 4, 0), b.input(DType.F32, 1)), attrs("axis", 0L));
        b.node("LpNormalization", List.of(b.input(DType.F32, new long[] {2, 3}, 0, 0, 0, 1, -2, 2)), Map.of());
        b.node("LpNormalization", List.of(b.input(DType.F64, new long[] {2, 3}, 0, 0, 0, 1, -2, 2)), attrs("p", 1L));
        b.node("LpNormalization", List.of(b.input(DType.F32, 5, 0)), attrs("axis", 0L));
        b.assertMatchesAsWritten(dir, 1e-5);
    }

    @Test
    void inputsOfRunTimeShape() {
        OpBatch b = new OpBatch("norm_run_time", 3);
        Value k = b.input(DType.I64, new long[] {1}, 3);
        for (DType t : List.of(DType.F32, DType.F16)) {
            Value x = b.node("TopK", List.of(b.input(t, 2, 6, 5), k), attrs("axis", 1L), 2).get(0);
            b.node("LayerNormalization", List.of(x, b.input(t, 5), b.input(t, 5)), Map.of(), 3);
            b.node("LayerNormalization", List.of(x, b.input(t, 1)), attrs("axis", 1L), 3);
            b.node("RMSNormalization", List.of(x, b.input(t, 5)), Map.of());
            b.node("LpNormalization", List.of(x), attrs("axis", 1L, "p", 1L));
        }
        b.assertMatchesAsWritten(dir, 1e-5);
    }
}
