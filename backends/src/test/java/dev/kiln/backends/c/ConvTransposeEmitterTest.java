package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ConvTranspose and FusedConvTranspose in every floating type, 1 to 3 spatial axes and every attribute, against the interpreter. */
class ConvTransposeEmitterTest {
    @TempDir
    Path dir;

    /** One form: input dims, filter dims (input channels, output channels per group, kernel) and attributes. */
    private record Form(long[] x, long[] w, Map<String, Attribute> attributes) {}

    private static Form form(long[] x, long[] w, Object... attributes) { return new Form(x, w, attrs(attributes)); }

    private static final List<Form> FORMS = List.of(
            form(new long[] {2, 3, 5}, new long[] {3, 2, 3}),
            form(new long[] {1, 4, 6}, new long[] {4, 3, 4}, "group", 2L, "strides", new long[] {3}, "dilations", new long[] {2}, "pads", new long[] {1, 2}),
            form(new long[] {1, 2, 4, 5}, new long[] {2, 3, 3, 3}, "strides", new long[] {2, 2}, "output_padding", new long[] {1, 0}),
            form(new long[] {1, 2, 3, 4}, new long[] {2, 2, 2, 3}, "strides", new long[] {2, 3}, "output_shape", new long[] {7, 13}),
            form(new long[] {1, 3, 4, 3}, new long[] {3, 1, 3, 2}, "group", 3L, "auto_pad", "SAME_UPPER", "strides", new long[] {2, 2}),
            form(new long[] {1, 2, 3, 5}, new long[] {2, 2, 2, 2}, "auto_pad", "SAME_LOWER", "strides", new long[] {2, 1}),
            form(new long[] {1, 2, 3, 3}, new long[] {2, 2, 3, 3}, "auto_pad", "VALID", "dilations", new long[] {2, 1}),
            form(new long[] {1, 2, 3, 4, 5}, new long[] {2, 3, 2, 3, 2}, "strides", new long[] {2, 1, 2}, "pads", new long[] {1, 0, 1, 0, 1, 1}),
            form(new long[] {2, 4, 2, 3, 2}, new long[] {4, 1, 3, 2, 2}, "group", 2L, "dilations", new long[] {1, 2, 2}, "output_padding", new long[] {0, 1, 1},
                    "strides", new long[] {2, 2, 2}),
            form(new long[] {1, 17, 1, 19}, new long[] {17, 3, 1, 4}, "strides", new long[] {1, 2}, "pads", new long[] {0, 1, 0, 2}));

    private static void transposes(OpBatch b, DType t) {
        int k = 0;
        for (Form f : FORMS) {
            long m = f.w()[1] * (f.attributes().get("group") instanceof Attribute.Int g ? g.value() : 1);
            Value w = k % 2 == 0 ? b.randomConstant(t, f.w()) : b.input(t, f.w());
            List<Value> inputs = new ArrayList<>(List.of(b.input(t, f.x()), w));
            if (k % 3 != 0) inputs.add(b.input(t, m));
            Value y = b.node("ConvTranspose", inputs, f.attributes());
            Map<String, Attribute> fused = new LinkedHashMap<>(f.attributes());
            fused.putAll(attrs("activation", k % 2 == 0 ? "Tanh" : "Clip", "activation_params", k % 2 == 0 ? new float[0] : new float[] {-0.5f, 1f}));
            b.node("FusedConvTranspose", List.of(b.input(t, f.x()), w, b.input(t, m), b.input(t, y.type().shape().sizes())), fused);
            k++;
        }
    }

    @Test
    void singlePrecisionTransposedConvolutions() {
        OpBatch b = new OpBatch("single", 1);
        for (DType t : List.of(DType.F32, DType.F16, DType.BF16)) transposes(b, t);
        // columns of more than one band: 64 x 16 rows by 1600 input positions
        b.node("ConvTranspose", List.of(b.input(DType.F32, 1, 8, 40, 40), b.randomConstant(DType.F32, 8, 64, 4, 4), b.randomConstant(DType.F32, 64)),
                attrs("strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}));
        b.assertMatchesAsWritten(dir, 1e-5);
    }

    @Test
    void doublePrecisionTransposedConvolutions() {
        OpBatch b = new OpBatch("double", 2);
        transposes(b, DType.F64);
        b.assertMatchesAsWritten(dir, 1e-12);
    }

    @Test
    void levelThreePipelineFusesAndKeepsThemCorrect() {
        OpBatch b = new OpBatch("pipeline", 3);
        Value x = b.input(DType.F32, 1, 8, 6, 6);
        Value y = b.node("ConvTranspose", List.of(x, b.randomConstant(DType.F32, 8, 4, 2, 2), b.randomConstant(DType.F32, 4)),
                attrs("strides", new long[] {2, 2}));
        b.node("Relu", List.of(y), Map.of());
        // enough channels for the layout pass to block them (and the filter), padded to whole blocks
        Value x16 = b.input(DType.F32, 1, 18, 5, 6);
        b.node("ConvTranspose", List.of(x16, b.randomConstant(DType.F32, 18, 17, 3, 3), b.randomConstant(DType.F32, 17)),
                attrs("strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}, "output_padding", new long[] {1, 1}));
        Value h16 = b.input(DType.F16, 1, 16, 3, 4, 3);
        b.node("ConvTranspose", List.of(h16, b.randomConstant(DType.F16, 16, 16, 2, 2, 2)), attrs("strides", new long[] {2, 2, 2}));
        // depthwise (its groups padded with the channels) and grouped
        Value dw = b.input(DType.F32, 1, 17, 4, 5);
        b.node("ConvTranspose", List.of(dw, b.randomConstant(DType.F32, 17, 1, 3, 3), b.randomConstant(DType.F32, 17)),
                attrs("group", 17L, "strides", new long[] {2, 2}));
        Value grouped = b.input(DType.F32, 1, 32, 3, 3);
        b.node("ConvTranspose", List.of(grouped, b.randomConstant(DType.F32, 32, 16, 2, 2)), attrs("group", 2L, "strides", new long[] {2, 2}));
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    /**
     * The blocked kernel (f32, one group, enough input channels for the layout pass to block them): every stride,
     * kernel, dilation, pad and output size, phases without taps, 1-D and 2-D, output channels of one to four
     * blocks per tile and not whole blocks, batches, rows of several tiles, fused activations and residuals.
     */
    @Test
    void blockedTransposedConvolutionsEveryGeometry() {
        OpBatch b = new OpBatch("blocked", 4);
        List<Value> ys = new ArrayList<>();
        ys.add(b.node("ConvTranspose", List.of(b.input(DType.F32, 1, 32, 7, 9), b.randomConstant(DType.F32, 32, 16, 2, 2), b.randomConstant(DType.F32, 16)),
                attrs("strides", new long[] {2, 2})));
        ys.add(b.node("ConvTranspose", List.of(b.input(DType.F32, 2, 20, 5, 6), b.randomConstant(DType.F32, 20, 33, 3, 3), b.randomConstant(DType.F32, 33)),
                attrs("strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}, "output_padding", new long[] {1, 1})));
        ys.add(b.node("ConvTranspose", List.of(b.input(DType.F32, 1, 16, 4, 4), b.randomConstant(DType.F32, 16, 64, 4, 4)),
                attrs("strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1})));
        ys.add(b.node("ConvTranspose", List.of(b.input(DType.F32, 1, 17, 4, 5), b.randomConstant(DType.F32, 17, 24, 3, 2)),
                attrs("strides", new long[] {3, 2}, "dilations", new long[] {2, 3}, "pads", new long[] {2, 0, 1, 3})));
        ys.add(b.node("ConvTranspose", List.of(b.input(DType.F32, 1, 16, 5, 3), b.randomConstant(DType.F32, 16, 16, 3, 3)),
                attrs("auto_pad", "SAME_UPPER", "strides", new long[] {2, 3})));
        ys.add(b.node("ConvTranspose", List.of(b.input(DType.F32, 1, 16, 3, 4), b.randomConstant(DType.F32, 16, 8, 2, 3)),
                attrs("strides", new long[] {2, 3}, "output_shape", new long[] {7, 13})));
        ys.add(b.node("ConvTranspose", List.of(b.input(DType.F32, 1, 16, 6, 6), b.randomConstant(DType.F32, 16, 32, 3, 3), b.randomConstant(DType.F32, 32)),
                attrs("pads", new long[] {1, 1, 1, 1})));
        ys.add(b.node("ConvTranspose", List.of(b.input(DType.F32, 1, 16, 3, 4), b.randomConstant(DType.F32, 16, 16, 1, 1), b.randomConstant(DType.F32, 16)),
                attrs("strides", new long[] {3, 2})));
        ys.add(b.node("ConvTranspose", List.of(b.input(DType.F32, 1, 48, 2, 40), b.randomConstant(DType.F32, 48, 48, 2, 2)),
                attrs("strides", new long[] {2, 2})));
        ys.add(b.node("ConvTranspose", List.of(b.input(DType.F32, 1, 16, 13), b.randomConstant(DType.F32, 16, 20, 3), b.randomConstant(DType.F32, 20)),
                attrs("strides", new long[] {2}, "pads", new long[] {1, 0}, "output_padding", new long[] {1})));
        ys.add(b.node("ConvTranspose", List.of(b.input(DType.F32, 1, 16, 9), b.randomConstant(DType.F32, 16, 32, 4)),
                attrs("strides", new long[] {4}, "dilations", new long[] {2})));
        Value up = b.node("ConvTranspose", List.of(b.input(DType.F32, 1, 24, 5, 5), b.randomConstant(DType.F32, 24, 20, 2, 2), b.randomConstant(DType.F32, 20)),
                attrs("strides", new long[] {2, 2}));
        b.node("Relu", List.of(up), Map.of());
        Value sum = b.node("Add", List.of(up, b.input(DType.F32, 1, 20, 10, 10)), Map.of());
        b.node("Sigmoid", List.of(sum), Map.of());
        String source = b.assertMatchesInterpreter(dir, 1e-5);
        int blocked = source.split("kiln_convtb\\(&a\\);", -1).length - 1;
        assertTrue(blocked >= ys.size() + 1, blocked + " transposed convolutions run blocked");
    }
}
