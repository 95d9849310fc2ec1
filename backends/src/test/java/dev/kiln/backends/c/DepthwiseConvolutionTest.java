package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
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

/**
 * Depthwise convolutions through the level-3 pipeline against the interpreter, on 1 and 2 threads: blocked (16
 * channels or more: blocked_depthwise.h's row kernels, specialised and general) and plain (fewer: conv.h), for
 * channel counts that are and are not whole blocks, planes from 1 x 1 to 112 x 112 and 1-D, kernels 1 x 1 to
 * 9 x 9 (wider than the plane, non-square), strides 1 to 3, pads none to wider than the kernel's reach, every
 * auto_pad, dilations, and each activation the epilogue fuses after a bias and a residual or neither.
 */
class DepthwiseConvolutionTest {
    @TempDir
    Path dir;

    /** One depthwise convolution: input dims (N, C, spatial...), kernel dims and attributes. */
    private record Form(long[] x, long[] kernel, Map<String, Attribute> attributes) {}

    private static Form form(long[] x, long[] kernel, Object... attributes) { return new Form(x, kernel, attrs(attributes)); }

    private static final List<Form> FORMS = List.of(
            form(new long[] {1, 32, 14, 14}, new long[] {3, 3}, "pads", new long[] {1, 1, 1, 1}),
            form(new long[] {1, 48, 15, 15}, new long[] {3, 3}, "strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}),
            form(new long[] {1, 20, 9, 11}, new long[] {5, 5}, "pads", new long[] {2, 2, 2, 2}),
            form(new long[] {1, 40, 16, 16}, new long[] {5, 5}, "strides", new long[] {2, 2}, "auto_pad", "SAME_UPPER"),
            form(new long[] {1, 36, 7, 7}, new long[] {7, 7}, "pads", new long[] {3, 3, 3, 3}),
            form(new long[] {1, 17, 13, 12}, new long[] {7, 7}, "strides", new long[] {2, 2}, "auto_pad", "SAME_LOWER"),
            form(new long[] {1, 32, 4, 4}, new long[] {5, 5}, "pads", new long[] {2, 2, 2, 2}),
            form(new long[] {2, 16, 2, 2}, new long[] {5, 5}, "pads", new long[] {2, 2, 2, 2}),
            form(new long[] {1, 64, 1, 1}, new long[] {3, 3}, "pads", new long[] {1, 1, 1, 1}),
            form(new long[] {1, 64, 25, 5}, new long[] {3, 3}, "pads", new long[] {1, 1, 1, 1}),
            form(new long[] {1, 24, 10, 10}, new long[] {3, 3}, "dilations", new long[] {2, 2}, "pads", new long[] {2, 2, 2, 2}),
            form(new long[] {1, 24, 10, 12}, new long[] {3, 5}, "strides", new long[] {3, 2}, "dilations", new long[] {2, 1},
                    "pads", new long[] {0, 1, 2, 3}),
            form(new long[] {1, 16, 6, 6}, new long[] {2, 2}, "auto_pad", "VALID"),
            form(new long[] {1, 18, 5, 5}, new long[] {9, 9}, "pads", new long[] {4, 4, 4, 4}),
            form(new long[] {1, 16, 3, 8}, new long[] {1, 3}, "pads", new long[] {0, 5, 0, 6}),
            form(new long[] {1, 33, 8, 8}, new long[] {1, 1}, "strides", new long[] {2, 2}),
            form(new long[] {1, 16, 37}, new long[] {5}, "pads", new long[] {2, 2}),
            form(new long[] {1, 16, 37}, new long[] {3}, "strides", new long[] {2}, "dilations", new long[] {3}, "pads", new long[] {1, 3}),
            form(new long[] {1, 8, 19, 23}, new long[] {3, 3}, "strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}),
            form(new long[] {1, 3, 12, 12}, new long[] {5, 5}, "pads", new long[] {2, 2, 2, 2}),
            form(new long[] {1, 32, 112, 112}, new long[] {3, 3}, "pads", new long[] {1, 1, 1, 1}),
            form(new long[] {1, 96, 56, 56}, new long[] {3, 3}, "strides", new long[] {2, 2}, "pads", new long[] {0, 0, 1, 1}));

    /** Activations as exporters write them after a convolution: the op and its attributes (SiLU: x * Sigmoid(x)). */
    private record Activation(String op, Map<String, Attribute> attributes) {}

    private static final List<Activation> ACTIVATIONS = List.of(
            new Activation("Relu", Map.of()),
            new Activation("Clip", Map.of()),
            new Activation("SiLU", Map.of()),
            new Activation("HardSwish", Map.of()),
            new Activation("HardSigmoid", attrs("alpha", 0.2f, "beta", 0.5f)),
            new Activation("Sigmoid", Map.of()),
            new Activation("LeakyRelu", attrs("alpha", 0.1f)),
            new Activation("Tanh", Map.of()),
            new Activation("Gelu", Map.of()),
            new Activation("Gelu", attrs("approximate", "tanh")),
            new Activation("Elu", attrs("alpha", 0.7f)),
            new Activation("Softplus", Map.of()),
            new Activation("Mish", Map.of()),
            new Activation("None", Map.of()));

    /**
     * The forms in turn with the activations in turn: a depthwise Conv with a bias (not every third), a residual
     * Add (every fourth), then the activation, each a separate chain the pipeline fuses.
     */
    private static void chains(OpBatch b) {
        Graph g = b.graph();
        int k = 0;
        for (Form f : FORMS) {
            Activation act = ACTIVATIONS.get(k % ACTIVATIONS.size());
            long c = f.x()[1];
            long[] w = new long[f.kernel().length + 2];
            w[0] = c;
            w[1] = 1;
            System.arraycopy(f.kernel(), 0, w, 2, f.kernel().length);
            Map<String, Attribute> a = new LinkedHashMap<>(f.attributes());
            a.put("group", Attribute.of(c));
            List<Value> inputs = new ArrayList<>(List.of(b.input(DType.F32, f.x()), b.randomConstant(DType.F32, w)));
            if (k % 3 != 2) inputs.add(b.randomConstant(DType.F32, c));
            Value y = g.addNode("dw" + k, "Conv", inputs, a, List.of("dw" + k + "_y")).output(0);
            if (k % 4 == 3) {
                Value residual = b.input(DType.F32, y.type().shape().sizes());
                y = g.addNode("res" + k, "Add", List.of(y, residual), Map.of(), List.of("res" + k + "_y")).output(0);
            }
            switch (act.op()) {
                case "None" -> b.node("Identity", List.of(y), Map.of());
                case "Clip" -> b.node("Clip", List.of(y, b.constant(DType.F32, new long[0], 0), b.constant(DType.F32, new long[0], 6)), Map.of());
                case "SiLU" -> {
                    Value s = g.addNode("sigmoid" + k, "Sigmoid", List.of(y), Map.of(), List.of("sigmoid" + k + "_y")).output(0);
                    b.node("Mul", List.of(y, s), Map.of());
                }
                default -> b.node(act.op(), List.of(y), act.attributes());
            }
            k++;
        }
    }

    @Test
    void everyFormAndActivationMatchesTheInterpreter() {
        OpBatch b = new OpBatch("depthwise", 7);
        chains(b);
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    @Test
    void blockedFormsRunTheSpecialisedRowsWhereTheyApply() {
        OpBatch b = new OpBatch("depthwise", 7);
        chains(b);
        String c = NativeTesting.program(b.graph(), NativeTesting.HOST).source();
        for (String row : List.of("(3, 1)", "(3, 2)", "(5, 1)", "(5, 2)", "(7, 1)", "(7, 2)", "(0, 0)")) {
            assertTrue(c.contains("KILN_DWB_ROW" + row), "row kernel " + row);
        }
        assertTrue(c.contains("kiln_conv_depthwise("), "the plain forms of fewer channels than a block");
    }
}
