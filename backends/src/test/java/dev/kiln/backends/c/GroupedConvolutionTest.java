package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.passes.MemoryPlan;
import dev.kiln.passes.PassContext;
import dev.kiln.passes.Pipelines;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.nativelib.NativeModel;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static dev.kiln.backends.c.NativeTesting.attrs;
import static dev.kiln.backends.c.NativeTesting.node;
import static dev.kiln.backends.c.NativeTesting.randomConstant;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Grouped convolutions on blocked tensors (blocked_group_conv.h, {@link GroupedConvolution}) against the
 * interpreter, for each block size the targets use (16 with AVX-512, 8 with AVX2, 4 without vector units):
 * group widths 1 to 64, channels that are and are not whole blocks, kernels 1 to 7, strides 1 and 2, pads,
 * dilations, batches, 1-D, with and without bias, with activations and residuals fused, on 1 and 2 threads.
 */
class GroupedConvolutionTest {
    private static final double TOLERANCE = 1e-5;

    @TempDir
    Path dir;

    static Stream<Arguments> blocks() {
        String flags = "-O3 -fPIC -shared -pthread";
        return Stream.of(
                Arguments.of("NCHW16c", String.join(" ", GccCompiler.HOST_FLAGS), NativeTesting.HOST.vectorRegisters()),
                Arguments.of("NCHW8c", flags + " -mavx2 -mfma", 16),
                Arguments.of("NCHW4c", flags, 16));
    }

    /** One grouped convolution: input dims, output channels, group, kernel and attributes, and what follows it. */
    private record Case(long[] x, long m, long group, long[] kernel, Map<String, Attribute> attributes, boolean bias, String activation,
                        boolean residual) {}

    private static Case conv(long[] x, long m, long group, long[] kernel, boolean bias, String activation, boolean residual, Object... attributes) {
        return new Case(x, m, group, kernel, attrs(attributes), bias, activation, residual);
    }

    private static final List<Case> CASES = List.of(
            // ResNeXt's and RegNet's shapes: groups of 2, 4, 8 and 12 channels
            conv(new long[] {1, 32, 12, 12}, 32, 16, new long[] {3, 3}, true, "Relu", false, "pads", new long[] {1, 1, 1, 1}),
            conv(new long[] {1, 64, 10, 10}, 64, 16, new long[] {3, 3}, true, null, false, "strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}),
            conv(new long[] {1, 64, 7, 9}, 64, 8, new long[] {3, 3}, false, "Relu", true, "pads", new long[] {2, 2, 2, 2}, "dilations", new long[] {2, 2}),
            conv(new long[] {1, 96, 4, 4}, 96, 8, new long[] {3, 3}, true, "Relu", false, "strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}),
            // wide groups: 24 (runs of two), 64 and 32 channels (whole blocks), a pointwise one
            conv(new long[] {1, 48, 9, 8}, 48, 2, new long[] {5, 5}, false, "Relu", true, "pads", new long[] {2, 2, 2, 2}),
            conv(new long[] {1, 128, 6, 5}, 128, 2, new long[] {3, 3}, true, null, false, "pads", new long[] {1, 1, 1, 1}),
            conv(new long[] {1, 256, 5, 6}, 256, 8, new long[] {1, 1}, true, "Clip", false),
            // channels that are not whole blocks: padded with whole groups
            conv(new long[] {1, 24, 7, 7}, 24, 3, new long[] {3, 3}, true, "Relu", false, "pads", new long[] {1, 1, 1, 1}),
            conv(new long[] {1, 40, 8, 6}, 40, 5, new long[] {3, 3}, true, null, true, "pads", new long[] {1, 0, 1, 2}),
            conv(new long[] {1, 36, 6, 7}, 36, 12, new long[] {3, 3}, true, "LeakyRelu", false, "pads", new long[] {1, 1, 1, 1}),
            conv(new long[] {1, 20, 5, 5}, 40, 10, new long[] {3, 3}, true, null, false, "pads", new long[] {1, 1, 1, 1}),
            // group widths of 1 in or out: a depth multiplier of 2, and four input channels to each output channel
            conv(new long[] {1, 16, 9, 9}, 32, 16, new long[] {3, 3}, true, "Relu", false, "pads", new long[] {1, 1, 1, 1}),
            conv(new long[] {1, 64, 6, 6}, 16, 16, new long[] {3, 3}, false, null, false, "strides", new long[] {2, 1}, "pads", new long[] {1, 1, 1, 1}),
            // kernels 5 and 7, stride 2, odd pads and dilations
            conv(new long[] {1, 32, 13, 11}, 32, 4, new long[] {7, 7}, true, "Relu", false, "strides", new long[] {2, 2}, "pads", new long[] {3, 2, 3, 4}),
            conv(new long[] {1, 64, 9, 10}, 64, 32, new long[] {3, 3}, false, "HardSwish", false, "strides", new long[] {2, 2}, "dilations",
                    new long[] {2, 2}, "pads", new long[] {2, 1, 2, 2}),
            conv(new long[] {1, 32, 3, 40}, 32, 8, new long[] {1, 5}, true, null, true, "pads", new long[] {0, 2, 0, 2}),
            // a batch, a single position, a larger plane split into bands
            conv(new long[] {2, 32, 7, 9}, 32, 4, new long[] {3, 3}, true, "Relu", true, "pads", new long[] {1, 1, 1, 1}),
            conv(new long[] {1, 64, 1, 1}, 64, 16, new long[] {3, 3}, true, null, false, "pads", new long[] {1, 1, 1, 1}),
            conv(new long[] {1, 64, 24, 24}, 64, 16, new long[] {3, 3}, true, "Relu", false, "pads", new long[] {1, 1, 1, 1}),
            // 1-D
            conv(new long[] {1, 32, 29}, 32, 4, new long[] {3}, true, "Relu", false, "pads", new long[] {1, 1}, "strides", new long[] {2}));

    /** Every case as its own convolution of its own input, each followed by its residual Add and activation. */
    private static Graph convolutions() {
        Random r = new Random(31);
        Graph g = new Graph("grouped_convs");
        List<Value> outs = new ArrayList<>();
        for (int i = 0; i < CASES.size(); i++) {
            Case c = CASES.get(i);
            Value x = g.addInput("x" + i, TensorType.of(DType.F32, c.x()));
            long[] w = new long[2 + c.kernel().length];
            w[0] = c.m();
            w[1] = c.x()[1] / c.group();
            System.arraycopy(c.kernel(), 0, w, 2, c.kernel().length);
            List<Value> inputs = new ArrayList<>(List.of(x, randomConstant(g, "w" + i, r, 0.3, w)));
            if (c.bias()) inputs.add(randomConstant(g, "b" + i, r, 1, c.m()));
            Map<String, Attribute> a = new LinkedHashMap<>(c.attributes());
            a.put("group", new Attribute.Int(c.group()));
            Value y = node(g, "conv" + i, "Conv", inputs, a);
            if (c.residual()) y = node(g, "add" + i, "Add", List.of(y, g.addInput("r" + i, y.type())), Map.of());
            if (c.activation() != null) {
                List<Value> actInputs = new ArrayList<>(List.of(y));
                if (c.activation().equals("Clip")) {
                    actInputs.add(scalar(g, "lo" + i, 0));
                    actInputs.add(scalar(g, "hi" + i, 6));
                }
                y = node(g, c.activation().toLowerCase() + i, c.activation(), actInputs,
                        c.activation().equals("LeakyRelu") ? attrs("alpha", 0.1f) : Map.of());
            }
            outs.add(y);
        }
        for (Value o : outs) g.addOutput(o);
        return g;
    }

    private static Value scalar(Graph g, String name, float v) {
        return g.addConstant(name, TensorType.of(DType.F32), ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, v));
    }

    @ParameterizedTest
    @MethodSource("blocks")
    void groupedConvolutionsMatchTheInterpreter(String layout, String flags, int registers) throws Exception {
        String source = assertNativeMatches(convolutions(), layout, flags, registers);
        long dense = occurrences(source, "kiln_gconvb(&a);");
        long gathered = occurrences(source, "kiln_gconvg(&a, ");
        // all run blocked but those whose channels would pad to unequal numbers of groups (20 to 24 or 32 and 40 to 48, 36 to 40)
        assertTrue(dense + gathered >= CASES.size() - 2, layout + ": " + dense + " dense and " + gathered + " gathered of " + CASES.size());
        // blocks of 4 fit runs of groups of every width here; wider blocks gather groups of 1 (and 2 and 3 for 16)
        assertTrue(layout.equals("NCHW4c") ? gathered == 0 : gathered > 0, layout + ": " + gathered + " gathered");
        assertTrue(!source.contains("kiln_convb_any(&a)"), layout + " code runs no grouped convolution element at a time");
    }

    private static long occurrences(String text, String part) { return text.split(java.util.regex.Pattern.quote(part), -1).length - 1; }

    /** Compiles the level-3 graph in the layout with the flags, runs it on 1 and 2 threads; returns the C source. */
    private String assertNativeMatches(Graph g, String layout, String flags, int registers) throws Exception {
        List<Tensor> inputs = NativeTesting.randomInputs(g, 8);
        List<Tensor> want = NativeTesting.reference(g, inputs);
        PassContext ctx = NativeTesting.context(layout);
        Graph optimised = Pipelines.forLevel(3, ctx.options()).run(g, ctx);
        CCodeGenerator.CProgram program = CCodeGenerator.generate(optimised, ctx.result(MemoryPlan.class), registers);
        GccCompiler.Compiled compiled = GccCompiler.compile(program, dir.resolve(layout), "gcc", List.of(flags.split(" ")));
        List<Tensor> one;
        try (NativeModel m = NativeModel.load(compiled.library(), compiled.weights(), 1)) {
            one = m.run(inputs);
        }
        for (int k = 0; k < want.size(); k++) {
            double d = NativeTesting.relativeDifference(want.get(k), one.get(k));
            assertTrue(d <= TOLERANCE, layout + ": " + CASES.get(k) + " differs by " + d + " (relative to max |y|)");
        }
        try (NativeModel m = NativeModel.load(compiled.library(), compiled.weights(), 2)) {
            List<Tensor> two = m.run(inputs);
            for (int k = 0; k < one.size(); k++) {
                assertArrayEquals(one.get(k).toFloatArray(), two.get(k).toFloatArray(), layout + ": " + CASES.get(k) + " differs on 2 threads");
            }
        }
        return Files.readString(compiled.source());
    }
}
