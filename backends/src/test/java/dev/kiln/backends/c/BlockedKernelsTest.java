package dev.kiln.backends.c;

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
import java.util.Arrays;
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
 * The kernels of blocked.h against the interpreter, for each block size the targets use (16 with
 * AVX-512, 8 with AVX2, 4 on NEON and without vector units; the NEON builds run in CrossTargetsTest):
 * tiled, depthwise and element-at-a-time convolutions, the image convolution a layout transform
 * computes, transposed convolutions, resizes, pooling, Concat and elementwise ops on blocked tensors, with
 * channel counts that are and are not whole blocks. Results on more threads are the bits of one thread's,
 * also where every kernel splits its work however small it is.
 */
class BlockedKernelsTest {
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

    /** Every form of convolution the blocked layout gives, on 20 channels (not whole blocks of 8 or 16). */
    private static Graph convolutions() {
        Random r = new Random(21);
        Graph g = new Graph("blocked_convs");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2, 20, 11, 9));
        List<Value> outs = new ArrayList<>();
        outs.add(node(g, "c3", "Conv", List.of(x, randomConstant(g, "w3", r, 0.3, 24, 20, 3, 3), randomConstant(g, "b3", r, 1, 24)),
                attrs("pads", new long[] {1, 1, 1, 1})));
        outs.add(node(g, "c3s2", "Conv", List.of(x, randomConstant(g, "w3s2", r, 0.3, 7, 20, 3, 3)),
                attrs("strides", new long[] {2, 2}, "pads", new long[] {0, 1, 2, 1})));
        outs.add(node(g, "c3s3", "Conv", List.of(x, randomConstant(g, "w3s3", r, 0.3, 40, 20, 3, 3)),
                attrs("strides", new long[] {3, 3}, "dilations", new long[] {2, 1}, "pads", new long[] {2, 2, 2, 2})));
        outs.add(node(g, "c1", "Conv", List.of(x, randomConstant(g, "w1", r, 0.3, 36, 20, 1, 1), randomConstant(g, "b1", r, 1, 36)), Map.of()));
        outs.add(node(g, "c1s2", "Conv", List.of(x, randomConstant(g, "w1s2", r, 0.3, 16, 20, 1, 1)), attrs("strides", new long[] {2, 2})));
        outs.add(node(g, "dw", "Conv", List.of(x, randomConstant(g, "wdw", r, 0.3, 20, 1, 3, 3), randomConstant(g, "bdw", r, 1, 20)),
                attrs("group", 20L, "strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1})));
        outs.add(node(g, "dw5", "Conv", List.of(x, randomConstant(g, "wdw5", r, 0.3, 20, 1, 5, 5)),
                attrs("group", 20L, "dilations", new long[] {1, 2}, "auto_pad", "SAME_LOWER")));
        outs.add(node(g, "k5", "Conv", List.of(x, randomConstant(g, "w5", r, 0.3, 4, 20, 5, 5)), attrs("auto_pad", "VALID")));
        // Whole blocks for every block size: a grouped convolution and one whose filter is an input stay blocked.
        Value wide = node(g, "widen", "Conv", List.of(x, randomConstant(g, "wwide", r, 0.3, 32, 20, 1, 1)), Map.of());
        outs.add(node(g, "grouped", "Conv", List.of(wide, randomConstant(g, "wg", r, 0.3, 32, 16, 3, 2)),
                attrs("group", 2L, "auto_pad", "SAME_UPPER")));
        Value filter = g.addInput("filter", TensorType.of(DType.F32, 16, 32, 3, 3));
        outs.add(node(g, "runtime_filter", "Conv", List.of(wide, filter), attrs("pads", new long[] {1, 0, 1, 2})));
        for (Value o : outs) g.addOutput(o);
        return g;
    }

    /** A small convolutional network: image convolution, residual block, pooling, Concat and a classifier. */
    private static Graph network() {
        Random r = new Random(22);
        Graph g = new Graph("blocked_net");
        Value image = g.addInput("image", TensorType.of(DType.F32, 1, 3, 19, 17));
        Value c0 = node(g, "c0", "Conv", List.of(image, randomConstant(g, "w0", r, 0.3, 32, 3, 3, 3), randomConstant(g, "b0", r, 1, 32)),
                attrs("strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}));
        Value r0 = node(g, "r0", "Relu", List.of(c0), Map.of());
        Value p0 = node(g, "p0", "MaxPool", List.of(r0), attrs("kernel_shape", new long[] {3, 3}, "strides", new long[] {1, 1},
                "pads", new long[] {1, 1, 1, 1}));
        Value c1 = node(g, "c1", "Conv", List.of(p0, randomConstant(g, "w1", r, 0.2, 32, 32, 3, 3), randomConstant(g, "b1", r, 1, 32)),
                attrs("pads", new long[] {1, 1, 1, 1}));
        Value sum = node(g, "sum", "Add", List.of(c1, p0), Map.of());
        Value act = node(g, "act", "HardSwish", List.of(sum), Map.of());
        Value left = node(g, "left", "Conv", List.of(act, randomConstant(g, "wl", r, 0.3, 16, 32, 1, 1)), Map.of());
        Value right = node(g, "right", "AveragePool", List.of(act), attrs("kernel_shape", new long[] {3, 2}, "pads", new long[] {1, 0, 1, 1},
                "count_include_pad", 1L));
        Value cat = g.addNode("cat", "Concat", List.of(left, right), attrs("axis", 1L), List.of("cat_y")).output(0);
        Value scaled = node(g, "scaled", "Mul", List.of(cat, randomConstant(g, "scale", r, 1, 48, 1, 1)), Map.of());
        Value gap = node(g, "gap", "GlobalAveragePool", List.of(scaled), Map.of());
        Value flat = node(g, "flat", "Flatten", List.of(gap), Map.of());
        g.addOutput(node(g, "fc", "Gemm", List.of(flat, randomConstant(g, "wfc", r, 0.3, 10, 48), randomConstant(g, "bfc", r, 1, 10)),
                attrs("transB", 1L)));
        g.addOutput(node(g, "pmax", "MaxPool", List.of(act), attrs("kernel_shape", new long[] {2, 3}, "strides", new long[] {2, 2},
                "dilations", new long[] {2, 1}, "ceil_mode", 1L)));
        return g;
    }

    /** A 1-D convolution and pooling in NCW{c}c. */
    private static Graph oneDimensional() {
        Random r = new Random(23);
        Graph g = new Graph("blocked_1d");
        Value x = g.addInput("x", TensorType.of(DType.F32, 1, 20, 29));
        Value c = node(g, "c", "Conv", List.of(x, randomConstant(g, "w", r, 0.3, 24, 20, 3), randomConstant(g, "b", r, 1, 24)),
                attrs("pads", new long[] {2, 1}, "strides", new long[] {2}));
        g.addOutput(node(g, "pool", "MaxPool", List.of(c), attrs("kernel_shape", new long[] {3}, "pads", new long[] {1, 1})));
        return g;
    }

    /**
     * Work that splits into fewer items than threads, or into a number that is not a multiple of them: output
     * planes of 1 x 1 and 2 x 2 positions, output blocks that are not whole groups of a tile, filters that
     * outweigh the input (split by groups of output blocks) and the reverse (split by rows), two images, an
     * image convolution the layout transform computes, transforms over planes that are not whole squares
     * of a block or spans of the transform (256 positions), pooling and a classifier.
     */
    private static Graph smallSplits() {
        Random r = new Random(24);
        Graph g = new Graph("blocked_splits");
        List<Value> outs = new ArrayList<>();
        Value tiny = g.addInput("tiny", TensorType.of(DType.F32, 1, 40, 2, 2));
        outs.add(node(g, "c2x2", "Conv", List.of(tiny, randomConstant(g, "w2x2", r, 0.2, 72, 40, 3, 3), randomConstant(g, "b2x2", r, 1, 72)),
                attrs("pads", new long[] {1, 1, 1, 1})));
        Value three = g.addInput("three", TensorType.of(DType.F32, 1, 40, 3, 3));
        outs.add(node(g, "c1x1", "Conv", List.of(three, randomConstant(g, "w1x1", r, 0.2, 36, 40, 3, 3)), Map.of()));
        outs.add(node(g, "dw3x3", "Conv", List.of(three, randomConstant(g, "wdw", r, 0.3, 40, 1, 3, 3)),
                attrs("group", 40L, "pads", new long[] {1, 1, 1, 1})));
        Value two = g.addInput("two", TensorType.of(DType.F32, 2, 20, 5, 7));
        outs.add(node(g, "pointwise", "Conv", List.of(two, randomConstant(g, "wpw", r, 0.3, 24, 20, 1, 1), randomConstant(g, "bpw", r, 1, 24)),
                Map.of()));
        Value wide = g.addInput("wide", TensorType.of(DType.F32, 1, 20, 17, 19));
        Value c3 = node(g, "c3", "Conv", List.of(wide, randomConstant(g, "w3", r, 0.2, 24, 20, 3, 3)), attrs("pads", new long[] {1, 1, 1, 1}));
        outs.add(c3);
        outs.add(node(g, "rows", "Conv", List.of(wide, randomConstant(g, "wrows", r, 0.2, 72, 20, 1, 1), randomConstant(g, "brows", r, 1, 72)),
                Map.of()));
        outs.add(node(g, "pool", "MaxPool", List.of(c3), attrs("kernel_shape", new long[] {3, 3}, "strides", new long[] {2, 2})));
        Value image = g.addInput("image", TensorType.of(DType.F32, 1, 3, 37, 21));
        Value stem = node(g, "stem", "Conv", List.of(image, randomConstant(g, "wstem", r, 0.3, 16, 3, 3, 3), randomConstant(g, "bstem", r, 1, 16)),
                attrs("strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}));
        Value act = node(g, "act", "Relu", List.of(stem), Map.of());
        Value after = node(g, "after", "Conv", List.of(act, randomConstant(g, "wafter", r, 0.2, 16, 16, 3, 3)), attrs("pads", new long[] {1, 1, 1, 1}));
        outs.add(after);
        Value gap = node(g, "gap", "GlobalAveragePool", List.of(after), Map.of());
        Value flat = node(g, "flat", "Flatten", List.of(gap), Map.of());
        outs.add(node(g, "fc", "Gemm", List.of(flat, randomConstant(g, "wfc", r, 0.3, 10, 16), randomConstant(g, "bfc", r, 1, 10)),
                attrs("transB", 1L)));
        for (Value o : outs) g.addOutput(o);
        return g;
    }

    private static Value floats(Graph g, String name, float... values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) b.putFloat(v);
        return g.addConstant(name, TensorType.of(DType.F32, values.length), b.flip());
    }

    /** A decoder: transposed convolutions, resizes and pooling on 20 and 24 channels (not whole blocks of 16). */
    private static Graph upsampling() {
        Random r = new Random(24);
        Graph g = new Graph("blocked_up");
        Value x = g.addInput("x", TensorType.of(DType.F32, 1, 20, 5, 7));
        Value up = node(g, "up", "ConvTranspose", List.of(x, randomConstant(g, "wu", r, 0.3, 20, 24, 2, 2), randomConstant(g, "bu", r, 1, 24)),
                attrs("strides", new long[] {2, 2}));
        Value act = node(g, "act", "Relu", List.of(up), Map.of());
        Value up3 = node(g, "up3", "ConvTranspose", List.of(act, randomConstant(g, "wu3", r, 0.3, 24, 20, 3, 3)),
                attrs("strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}, "output_padding", new long[] {1, 1}));
        Value down = g.addNode("down", "Resize", Arrays.asList(up3, null, floats(g, "scales", 1, 1, 0.5f, 0.75f)), attrs("mode", "linear"),
                List.of("down_y")).output(0);
        Value near = g.addNode("near", "Resize", Arrays.asList(down, null, floats(g, "twice", 1, 1, 2, 2)),
                attrs("coordinate_transformation_mode", "asymmetric", "nearest_mode", "floor"), List.of("near_y")).output(0);
        g.addOutput(node(g, "pool", "AveragePool", List.of(near), attrs("kernel_shape", new long[] {3, 3}, "pads", new long[] {1, 1, 1, 1})));
        return g;
    }

    @ParameterizedTest
    @MethodSource("blocks")
    void everySplitGivesTheBitsOfOneThread(String layout, String flags, int registers) throws Exception {
        String source = assertNativeMatches(smallSplits(), layout, flags + " -DKILN_PARALLEL_MIN_WORK=0", registers, 4);
        for (String kernel : List.of("kiln_convb(&a)", "kiln_dwb(&a)", "kiln_to_blocked(", "kiln_from_blocked(", "/* computed by the layout transform")) {
            assertTrue(source.contains(kernel), layout + " code calls " + kernel);
        }
    }

    @ParameterizedTest
    @MethodSource("blocks")
    void upsamplingMatchesTheInterpreter(String layout, String flags, int registers) throws Exception {
        String source = assertNativeMatches(upsampling(), layout, flags, registers);
        assertTrue(source.contains("kiln_convtb(&a)") && source.contains("kiln_resize_2d(&args"), layout + " code calls the blocked kernels");
        assertTrue(!source.contains("kiln_conv_transpose_f32(&s, "), "no transposed convolution goes plain");
    }

    @ParameterizedTest
    @MethodSource("blocks")
    void convolutionsOfEveryFormMatchTheInterpreter(String layout, String flags, int registers) throws Exception {
        String source = assertNativeMatches(convolutions(), layout, flags, registers);
        for (String kernel : List.of("kiln_convb(&a)", "kiln_dwb(&a)", "kiln_convb_any(&a)")) {
            assertTrue(source.contains(kernel), layout + " code calls " + kernel);
        }
    }

    @ParameterizedTest
    @MethodSource("blocks")
    void aNetworkMatchesTheInterpreter(String layout, String flags, int registers) throws Exception {
        String source = assertNativeMatches(network(), layout, flags, registers);
        assertTrue(source.contains("/* computed by the layout transform that follows */"), "the image convolution writes the blocked layout");
        String concat = source.substring(source.indexOf(": Concat */"), source.indexOf("/* node", source.indexOf(": Concat */")));
        assertTrue(!concat.contains("memcpy"), "the Concat's inputs are written in its place: " + concat);
        for (String kernel : List.of("kiln_convb(&a)", "kiln_poolb(&a)", "kiln_global_average_poolb(", "kiln_from_blocked(")) {
            assertTrue(source.contains(kernel), layout + " code calls " + kernel);
        }
    }

    @ParameterizedTest
    @MethodSource("blocks")
    void oneDimensionalTensorsMatchTheInterpreter(String layout, String flags, int registers) throws Exception {
        String source = assertNativeMatches(oneDimensional(), layout, flags, registers);
        assertTrue(source.contains("kiln_convb(&a)") && source.contains("kiln_poolb(&a)"), "1-D tensors stay blocked");
    }

    /** Compiles the level-3 graph in the layout with the flags, runs it on 1 and 2 threads; returns the C source. */
    private String assertNativeMatches(Graph g, String layout, String flags, int registers) throws Exception {
        return assertNativeMatches(g, layout, flags, registers, 2);
    }

    /** As {@link #assertNativeMatches(Graph, String, String, int)}, on 1 to {@code threads} threads. */
    private String assertNativeMatches(Graph g, String layout, String flags, int registers, int threads) throws Exception {
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
        NativeTesting.assertClose(want, one, TOLERANCE);
        for (int n = 2; n <= threads; n++) {
            try (NativeModel m = NativeModel.load(compiled.library(), compiled.weights(), n)) {
                List<Tensor> more = m.run(inputs);
                for (int k = 0; k < one.size(); k++) {
                    assertArrayEquals(one.get(k).toFloatArray(), more.get(k).toFloatArray(), "output " + k + " on " + n + " threads differs from 1 thread");
                }
            }
        }
        return Files.readString(compiled.source());
    }
}
