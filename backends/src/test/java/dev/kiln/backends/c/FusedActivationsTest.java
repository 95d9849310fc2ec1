package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Value;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;

/**
 * Every activation the epilogues fuse, as exporters write it after a convolution, through the level-3 pipeline
 * against the interpreter: into the blocked tiled convolution (3 x 3, and 1 x 1 with a residual), the image
 * convolution a layout transform computes, and the NCHW GEMM convolution; and after a depthwise one on values
 * of large magnitude (where exp, erf and tanh saturate), infinities and NaN.
 */
class FusedActivationsTest {
    @TempDir
    Path dir;

    /** SiLU as x * Sigmoid(x), the others as their ONNX ops with these attributes. */
    private static final List<Object[]> ACTIVATIONS = List.of(
            new Object[] {"Relu", Map.of()}, new Object[] {"Clip", Map.of()}, new Object[] {"SiLU", Map.of()},
            new Object[] {"Swish", attrs("alpha", 1.5f)}, new Object[] {"HardSwish", Map.of()},
            new Object[] {"HardSigmoid", attrs("alpha", 1f / 6, "beta", 0.5f)}, new Object[] {"Sigmoid", Map.of()},
            new Object[] {"LeakyRelu", attrs("alpha", 0.01f)}, new Object[] {"Tanh", Map.of()}, new Object[] {"Gelu", Map.of()},
            new Object[] {"Gelu", attrs("approximate", "tanh")}, new Object[] {"Elu", attrs("alpha", 1f)},
            new Object[] {"Softplus", Map.of()}, new Object[] {"Mish", Map.of()});

    @SuppressWarnings("unchecked")
    private static Value activate(OpBatch b, Object[] act, Value y) {
        String op = (String) act[0];
        return switch (op) {
            case "Clip" -> b.node("Clip", List.of(y, b.constant(DType.F32, new long[0], 0), b.constant(DType.F32, new long[0], 6)), Map.of());
            case "SiLU" -> {
                Value s = b.graph().addNode(y.name() + "_sigmoid", "Sigmoid", List.of(y), Map.of(), List.of(y.name() + "_s")).output(0);
                yield b.node("Mul", List.of(y, s), Map.of());
            }
            default -> b.node(op, List.of(y), (Map<String, Attribute>) act[1]);
        };
    }

    private static Value conv(OpBatch b, String name, Value x, long m, long[] kernel, Value residual, Object... attributes) {
        long[] w = new long[kernel.length + 2];
        w[0] = m;
        w[1] = x.type().shape().dim(1).size();
        System.arraycopy(kernel, 0, w, 2, kernel.length);
        Graph g = b.graph();
        Value y = g.addNode(name, "Conv", List.of(x, b.randomConstant(DType.F32, w), b.randomConstant(DType.F32, m)), attrs(attributes),
                List.of(name + "_y")).output(0);
        return residual == null ? y : g.addNode(name + "_res", "Add", List.of(residual, y), Map.of(), List.of(name + "_r")).output(0);
    }

    private static void chains(OpBatch b) {
        int k = 0;
        for (Object[] act : ACTIVATIONS) {
            Value x1 = b.input(DType.F32, 1, 20, 6, 7);
            activate(b, act, conv(b, "tiled" + k, x1, 24, new long[] {3, 3}, null, "pads", new long[] {1, 1, 1, 1}));
            Value x2 = b.input(DType.F32, 1, 3, 9, 9);
            activate(b, act, conv(b, "image" + k, x2, 16, new long[] {3, 3}, null, "strides", new long[] {2, 2}));
            Value x3 = b.input(DType.F32, 1, 20, 5, 5);
            activate(b, act, conv(b, "pointwise" + k, x3, 20, new long[] {1, 1}, b.input(DType.F32, 1, 20, 5, 5)));
            Value x4 = b.input(DType.F32, 1, 5, 4, 4);
            activate(b, act, conv(b, "gemm" + k, x4, 5, new long[] {1, 1}, null));
            k++;
        }
    }

    @Test
    void convolutionKernels() {
        OpBatch b = new OpBatch("activations", 11);
        chains(b);
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    /**
     * Values from -100 to 100, infinities and NaN, each scaled by one weight (a depthwise 1 x 1 convolution, whose
     * products are rounded once, so that the activations see what the interpreter's do).
     */
    @Test
    void largeValuesSaturateAndInfinitiesAndNaNStay() {
        OpBatch b = new OpBatch("extremes", 13);
        int k = 0;
        for (Object[] act : ACTIVATIONS) {
            double[] special = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, 100, -100, 0, 88.8, -88.8, 44, -44};
            int[] next = {0};
            Value x = b.input(DType.F32, new long[] {1, 16, 3, 5},
                    () -> next[0]++ < special.length ? special[next[0] - 1] : b.random().nextDouble() * 200 - 100);
            Value scaled = b.constant(DType.F32, new long[] {16, 1, 1, 1}, b.random().doubles(16, 0.5, 2).toArray());
            Value y = b.graph().addNode("scale" + k, "Conv", List.of(x, scaled), attrs("group", 16L), List.of("scale" + k + "_y")).output(0);
            activate(b, act, y);
            k++;
        }
        b.assertMatchesInterpreter(dir, 1e-5);
    }
}
