package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;

/**
 * MaxPool (with Indices), AveragePool, LpPool and the global poolings on the general path: every dtype, 1 to 4
 * spatial axes, every attribute, blocked global poolings; against the interpreter.
 */
class PoolingEmitterTest {
    @TempDir
    Path dir;

    /** One window form: input dims and attributes (kernel_shape among them). */
    private record Form(long[] x, Map<String, Attribute> attributes) {}

    private static Form form(long[] x, Object... attributes) { return new Form(x, attrs(attributes)); }

    private static final List<Form> WINDOWS = List.of(
            form(new long[] {2, 3, 11}, "kernel_shape", new long[] {3}, "strides", new long[] {2}, "pads", new long[] {1, 1}),
            form(new long[] {1, 2, 7, 6}, "kernel_shape", new long[] {3, 2}, "strides", new long[] {2, 2}, "ceil_mode", 1L),
            form(new long[] {1, 2, 8, 9}, "kernel_shape", new long[] {2, 3}, "dilations", new long[] {2, 2}, "pads", new long[] {1, 0, 2, 1}),
            form(new long[] {1, 3, 5, 5}, "kernel_shape", new long[] {3, 3}, "auto_pad", "SAME_UPPER", "strides", new long[] {2, 2}),
            form(new long[] {1, 3, 6, 5}, "kernel_shape", new long[] {2, 3}, "auto_pad", "SAME_LOWER"),
            form(new long[] {2, 2, 5, 6, 7}, "kernel_shape", new long[] {2, 3, 2}, "strides", new long[] {2, 1, 2}, "pads", new long[] {1, 1, 0, 0, 1, 1}),
            form(new long[] {1, 2, 9, 8, 7}, "kernel_shape", new long[] {3, 2, 2}, "dilations", new long[] {2, 3, 1}, "ceil_mode", 1L,
                    "strides", new long[] {2, 2, 2}, "pads", new long[] {1, 0, 1, 1, 1, 0}),
            form(new long[] {1, 1, 4, 5, 3, 6}, "kernel_shape", new long[] {2, 2, 2, 3}, "strides", new long[] {1, 2, 1, 2}, "auto_pad", "VALID"),
            form(new long[] {1, 17, 1, 19}, "kernel_shape", new long[] {1, 4}, "strides", new long[] {1, 3}, "ceil_mode", 1L));

    private static Map<String, Attribute> with(Map<String, Attribute> attributes, Object... more) {
        Map<String, Attribute> m = new LinkedHashMap<>(attributes);
        m.putAll(attrs(more));
        return m;
    }

    private static void windowPools(OpBatch b, DType t) {
        int next = 0;
        for (Form f : WINDOWS) {
            int k = next++;
            b.node("MaxPool", List.of(b.input(t, f.x())), with(f.attributes(), "storage_order", (long) (k % 2)), k % 3 == 0 ? 1 : 2);
            if (t == DType.I8 || t == DType.U8) continue;
            b.node("AveragePool", List.of(b.input(t, f.x())), with(f.attributes(), "count_include_pad", (long) (k % 2)));
            b.node("LpPool", List.of(b.input(t, f.x())), with(f.attributes(), "p", (long) (1 + k % 3)));
        }
    }

    private static void globalPools(OpBatch b, DType t) {
        long[][] shapes = {{2, 3, 5}, {1, 2, 4, 3}, {2, 1, 3, 1, 4}, {1, 2, 2, 3, 2, 2}, {1, 18, 7, 5}};
        for (long[] s : shapes) {
            b.node("GlobalAveragePool", List.of(b.input(t, s)), Map.of());
            b.node("GlobalMaxPool", List.of(b.input(t, s)), Map.of());
            b.node("GlobalLpPool", List.of(b.input(t, s)), attrs("p", (long) (s.length % 2 + 2)));
        }
    }

    @Test
    void everyPoolingInEveryType() {
        OpBatch b = new OpBatch("pools", 1);
        for (DType t : List.of(DType.F32, DType.F16, DType.BF16, DType.F64, DType.I8, DType.U8)) windowPools(b, t);
        for (DType t : List.of(DType.F32, DType.F16, DType.BF16, DType.F64)) globalPools(b, t);
        // an empty batch
        b.node("MaxPool", List.of(b.input(DType.F16, 0, 2, 5, 5, 5)), attrs("kernel_shape", new long[] {2, 2, 2}));
        b.node("GlobalAveragePool", List.of(b.input(DType.F64, 0, 3, 4)), Map.of());
        // NaN wins in max pooling and poisons the others
        Value nan = b.input(DType.F32, new long[] {1, 1, 3, 4}, 1, Double.NaN, 2, 3, 4, 5, 6, 7, 8, 9, 10, Double.NaN);
        b.node("MaxPool", List.of(nan), attrs("kernel_shape", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}), 2);
        b.node("GlobalMaxPool", List.of(b.input(DType.F64, new long[] {1, 2, 2}, 1, Double.NaN, 3, 4)), Map.of());
        b.assertMatchesAsWritten(dir, 1e-6);
    }

    /** Poolings of blocked activations, as the level-3 pipeline hands them over: 1-D to 3-D, after a blocked convolution or not. */
    @Test
    void poolingsOfBlockedActivations() {
        OpBatch b = new OpBatch("blocked", 2);
        Value x = b.input(DType.F32, 1, 5, 9, 10);
        Value c = b.node("Conv", List.of(x, b.randomConstant(DType.F32, 20, 5, 3, 3)), attrs("pads", new long[] {1, 1, 1, 1}));
        b.node("GlobalMaxPool", List.of(c), Map.of());
        b.node("GlobalLpPool", List.of(c), attrs("p", 3L));
        b.node("GlobalAveragePool", List.of(c), Map.of());
        b.node("LpPool", List.of(c), attrs("kernel_shape", new long[] {3, 2}, "strides", new long[] {2, 1}, "p", 2L));
        Value x1 = b.input(DType.F32, 1, 5, 30);
        Value c1 = b.node("Conv", List.of(x1, b.randomConstant(DType.F32, 18, 5, 3)), Map.of());
        b.node("GlobalAveragePool", List.of(c1), Map.of());
        b.node("GlobalMaxPool", List.of(c1), Map.of());
        b.node("LpPool", List.of(c1), attrs("kernel_shape", new long[] {4}, "p", 3L, "pads", new long[] {1, 2}));
        Value x3 = b.input(DType.F32, 1, 17, 5, 6, 7);
        b.node("MaxPool", List.of(x3), attrs("kernel_shape", new long[] {2, 2, 3}, "strides", new long[] {2, 2, 2}, "ceil_mode", 1L));
        b.node("AveragePool", List.of(x3), attrs("kernel_shape", new long[] {3, 3, 3}, "pads", new long[] {1, 1, 1, 1, 1, 1}, "count_include_pad", 1L));
        b.node("GlobalMaxPool", List.of(x3), Map.of());
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    /**
     * Max and average pooling of blocked activations through the interior runs (8, 4 and 1 outputs whose taps are
     * all inside their row) and the border: pads of every side, count_include_pad, ceil_mode, strides, dilations,
     * rows wider than a run; each reads a blocked convolution's output.
     */
    @Test
    void blockedPoolingInteriorAndBorder() {
        OpBatch b = new OpBatch("blocked_runs", 3);
        Value x = b.input(DType.F32, 2, 16, 11, 29);
        Value c = b.node("Conv", List.of(x, b.randomConstant(DType.F32, 20, 16, 1, 1)), Map.of());
        for (String op : List.of("MaxPool", "AveragePool")) {
            b.node(op, List.of(c), attrs("kernel_shape", new long[] {3, 3}, "strides", new long[] {1, 1}, "pads", new long[] {1, 1, 1, 1}));
            b.node(op, List.of(c), attrs("kernel_shape", new long[] {3, 3}, "strides", new long[] {2, 2}, "pads", new long[] {0, 1, 2, 0}, "ceil_mode", 1L));
            b.node(op, List.of(c), attrs("kernel_shape", new long[] {2, 4}, "strides", new long[] {1, 3}, "dilations", new long[] {2, 1}));
            b.node(op, List.of(c), attrs("kernel_shape", new long[] {5, 5}, "pads", new long[] {2, 2, 2, 2}));
        }
        for (long include : new long[] {0, 1}) {
            b.node("AveragePool", List.of(c), attrs("kernel_shape", new long[] {3, 3}, "pads", new long[] {1, 2, 2, 1}, "count_include_pad", include));
            b.node("AveragePool", List.of(c), attrs("kernel_shape", new long[] {3, 2}, "strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1},
                    "count_include_pad", include, "ceil_mode", 1L));
        }
        b.assertMatchesInterpreter(dir, 1e-5);
    }
}
