package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;

/**
 * Conv and FusedConv on the general path (f16, bf16, f64, more than two spatial axes, run-time filters),
 * ConvInteger and CausalConvWithState, against the interpreter.
 */
class ConvolutionEmitterTest {
    @TempDir
    Path dir;

    /** One convolution form: input dims, filter dims and attributes. */
    private record Form(long[] x, long[] w, Map<String, Attribute> attributes) {}

    private static Form form(long[] x, long[] w, Object... attributes) { return new Form(x, w, attrs(attributes)); }

    /** 1-D to 4-D convolutions with groups, strides, dilations, pads and every auto_pad; dims of 1, and odd sizes. */
    private static final List<Form> FORMS = List.of(
            form(new long[] {2, 3, 11}, new long[] {4, 3, 3}, "pads", new long[] {1, 2}),
            form(new long[] {1, 4, 9}, new long[] {6, 2, 4}, "group", 2L, "strides", new long[] {2}, "dilations", new long[] {2}, "auto_pad", "SAME_UPPER"),
            form(new long[] {1, 3, 7, 6}, new long[] {5, 3, 3, 2}, "strides", new long[] {2, 1}, "pads", new long[] {1, 0, 2, 1}),
            form(new long[] {2, 4, 6, 5}, new long[] {4, 1, 3, 3}, "group", 4L, "pads", new long[] {1, 1, 1, 1}),
            form(new long[] {1, 2, 5, 8}, new long[] {3, 2, 2, 3}, "dilations", new long[] {2, 2}, "auto_pad", "SAME_LOWER"),
            form(new long[] {1, 2, 4, 5, 6}, new long[] {4, 2, 3, 3, 3}, "pads", new long[] {1, 1, 1, 1, 1, 1}),
            form(new long[] {2, 4, 5, 4, 7}, new long[] {6, 2, 2, 1, 3}, "group", 2L, "strides", new long[] {2, 1, 2}, "dilations", new long[] {1, 2, 1},
                    "pads", new long[] {0, 1, 1, 1, 0, 2}),
            form(new long[] {1, 3, 3, 4, 5}, new long[] {3, 1, 2, 2, 2}, "group", 3L, "auto_pad", "VALID"),
            form(new long[] {1, 2, 4, 3, 5}, new long[] {5, 2, 1, 1, 1}),
            form(new long[] {1, 2, 3, 4, 3, 5}, new long[] {2, 2, 2, 2, 2, 2}, "strides", new long[] {1, 2, 1, 2}, "auto_pad", "SAME_UPPER"),
            form(new long[] {1, 17, 1, 19}, new long[] {18, 17, 1, 3}, "pads", new long[] {0, 1, 0, 1}));

    /** Every form as Conv (constant and run-time filters, with and without bias) and as FusedConv with a residual and an activation. */
    private static void convolutions(OpBatch b, DType t) {
        int k = 0;
        for (Form f : FORMS) {
            Value x = b.input(t, f.x());
            long m = f.w()[0];
            Value w = k % 2 == 0 ? b.randomConstant(t, f.w()) : b.input(t, f.w());
            List<Value> inputs = new ArrayList<>(List.of(x, w));
            if (k % 3 != 0) inputs.add(k % 3 == 1 ? b.input(t, m) : b.randomConstant(t, m));
            Value y = b.node("Conv", inputs, f.attributes());
            Map<String, Attribute> fused = new java.util.LinkedHashMap<>(f.attributes());
            fused.putAll(attrs("activation", k % 2 == 0 ? "Relu" : "LeakyRelu", "activation_params", k % 2 == 0 ? new float[0] : new float[] {0.2f}));
            b.node("FusedConv", List.of(b.input(t, f.x()), w, b.input(t, m), b.input(t, y.type().shape().sizes())), fused);
            k++;
        }
    }

    @Test
    void singlePrecisionConvolutions() {
        OpBatch b = new OpBatch("single", 1);
        for (DType t : List.of(DType.F16, DType.BF16, DType.F32)) convolutions(b, t);
        // an empty batch
        b.node("Conv", List.of(b.input(DType.F16, 0, 2, 4, 4, 4), b.randomConstant(DType.F16, 3, 2, 2, 2, 2)), Map.of());
        causalConvolutions(b);
        b.assertMatchesAsWritten(dir, 1e-5);
    }

    @Test
    void doublePrecisionAndIntegerConvolutions() {
        OpBatch b = new OpBatch("double", 2);
        convolutions(b, DType.F64);
        integerConvolutions(b);
        b.assertMatchesAsWritten(dir, 1e-12);
    }

    /** ConvInteger of each byte type pair, zero points absent, scalar or per output channel. */
    private static void integerConvolutions(OpBatch b) {
        int k = 0;
        for (DType tx : List.of(DType.U8, DType.I8)) {
            for (DType tw : List.of(DType.U8, DType.I8)) {
                for (Form f : List.of(FORMS.get(0), FORMS.get(2), FORMS.get(3), FORMS.get(6))) {
                    List<Value> inputs = new ArrayList<>(List.of(b.input(tx, f.x()), k % 2 == 0 ? b.randomConstant(tw, f.w()) : b.input(tw, f.w())));
                    if (k % 3 != 0) {
                        inputs.add(b.input(tx));
                        inputs.add(k % 3 == 1 ? b.input(tw) : b.input(tw, f.w()[0]));
                    }
                    b.node("ConvInteger", inputs, f.attributes());
                    k++;
                }
            }
        }
        // full-range bytes
        b.node("ConvInteger", List.of(b.input(DType.U8, new long[] {1, 8, 5, 5}, () -> b.random().nextInt(256)),
                b.input(DType.U8, new long[] {3, 8, 3, 3}, () -> b.random().nextInt(256)), b.input(DType.U8, new long[] {}, 200),
                b.input(DType.U8, new long[] {3}, 0, 255, 17)), attrs("pads", new long[] {1, 1, 1, 1}));
    }

    /** CausalConvWithState: bias, past state, SiLU (and its alias swish), one tap, one step, one or two outputs. */
    private static void causalConvolutions(OpBatch b) {
        int k = 0;
        for (DType t : List.of(DType.F32, DType.F16, DType.BF16)) {
            for (long taps : new long[] {1, 3, 4}) {
                for (String act : List.of("none", "silu", "swish")) {
                    long length = k % 3 == 0 ? 1 : 7;
                    List<Value> inputs = new ArrayList<>(List.of(b.input(t, 2, 3, length), b.input(t, 3, 1, taps)));
                    if (k % 2 == 0) inputs.add(b.input(t, 3));
                    if (k % 4 < 2) {
                        if (inputs.size() == 2) inputs.add(null);
                        inputs.add(b.input(t, 2, 3, taps - 1));
                    }
                    b.node("CausalConvWithState", inputs, attrs("activation", act), k % 5 == 0 ? 1 : 2);
                    k++;
                }
            }
        }
    }

    @Test
    void levelThreePipelineKeepsGeneralConvolutionsCorrect() {
        OpBatch b = new OpBatch("pipeline", 3);
        Value x = b.input(DType.F32, 1, 3, 6, 7, 8);
        Value c = b.node("Conv", List.of(x, b.randomConstant(DType.F32, 8, 3, 3, 3, 3), b.randomConstant(DType.F32, 8)),
                attrs("pads", new long[] {1, 1, 1, 1, 1, 1}));
        b.node("Relu", List.of(c), Map.of());
        Value h = b.input(DType.F16, 1, 4, 9, 9);
        b.node("Conv", List.of(h, b.randomConstant(DType.F16, 4, 1, 3, 3)), attrs("group", 4L, "strides", new long[] {2, 2}));
        // enough channels for the layout pass to block them (and their filters), padded to whole blocks
        Value x16 = b.input(DType.F32, 1, 17, 4, 5, 6);
        b.node("Conv", List.of(x16, b.randomConstant(DType.F32, 20, 17, 2, 3, 3), b.randomConstant(DType.F32, 20)),
                attrs("pads", new long[] {0, 1, 1, 1, 1, 1}));
        Value h16 = b.input(DType.F16, 1, 18, 7, 7);
        Value hc = b.node("Conv", List.of(h16, b.randomConstant(DType.F16, 19, 18, 3, 3), b.randomConstant(DType.F16, 19)), attrs("strides", new long[] {2, 2}));
        b.node("Conv", List.of(hc, b.randomConstant(DType.F16, 19, 1, 3, 3)), attrs("group", 19L, "pads", new long[] {1, 1, 1, 1}));
        Value g32 = b.input(DType.F16, 1, 32, 3, 4, 5);
        b.node("Conv", List.of(g32, b.randomConstant(DType.F16, 32, 16, 2, 2, 2)), attrs("group", 2L, "auto_pad", "SAME_UPPER"));
        Value d16 = b.input(DType.F64, 1, 16, 5, 5);
        b.node("Conv", List.of(d16, b.randomConstant(DType.F64, 16, 16, 3, 3)), Map.of());
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    @Test
    void zeroPointsTheReferenceDoesNotTakeAreRefused() {
        OpBatch b = new OpBatch("zero_points", 5);
        b.node("ConvInteger", List.of(b.input(DType.U8, 1, 2, 4, 4), b.input(DType.U8, 3, 2, 2, 2), b.input(DType.U8, 2)), Map.of());
        b.assertRefused(dir, "ConvInteger (x_zero_point of 2 values)");
    }

    @Test
    void moreSpatialAxesThanTheKernelsTakeAreRefused() {
        OpBatch b = new OpBatch("refused", 4);
        long[] x = {1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2};
        long[] w = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        b.node("Conv", List.of(b.input(DType.F16, x), b.randomConstant(DType.F16, w)), Map.of());
        b.assertRefused(dir, "Conv (9-D)");
    }
}
