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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.kiln.backends.c.NativeTesting.attrs;
import static dev.kiln.backends.c.NativeTesting.node;
import static dev.kiln.backends.c.NativeTesting.randomConstant;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CCodeGeneratorTest {
    private static final double TOLERANCE = 1e-5;

    @TempDir
    Path dir;

    /** Runs the graph in the interpreter, then natively after {@code optimise} (full pipeline) or planning only. */
    private void assertNativeMatches(Graph g, boolean optimise) {
        List<Tensor> inputs = NativeTesting.randomInputs(g, 7);
        List<Tensor> want = NativeTesting.reference(g, inputs);
        NativeTesting.Compiled c = optimise ? NativeTesting.optimiseAndCompile(g, dir.resolve("optimised"))
                : NativeTesting.planAndCompile(g, dir.resolve("planned"));
        try (NativeModel m = c.load()) {
            NativeTesting.assertClose(want, m.run(inputs), TOLERANCE);
            NativeTesting.assertClose(want, m.run(inputs), TOLERANCE);
        }
    }

    @Test
    void convolutionsOfEveryShape() {
        assertNativeMatches(convolutions(), false);
    }

    /** The AVX2 micro-kernel (no AVX-512) and the portable scalar one, whatever the host's widest is. */
    @ParameterizedTest
    @ValueSource(strings = {"-O2 -fPIC -shared -mavx2 -mfma", "-O2 -fPIC -shared"})
    void everyMicroKernelComputesTheSame(String flags) {
        Graph g = convolutions();
        List<Tensor> inputs = NativeTesting.randomInputs(g, 7);
        List<Tensor> want = NativeTesting.reference(g, inputs);
        NativeTesting.Compiled c = NativeTesting.planAndCompile(g, dir, List.of(flags.split(" ")));
        try (NativeModel m = c.load()) {
            NativeTesting.assertClose(want, m.run(inputs), TOLERANCE);
        }
    }

    /** Convolutions of every shape the kernels distinguish (padded, strided, 1x1, depthwise, grouped and dilated, valid) and a large product. */
    private static Graph convolutions() {
        Random r = new Random(1);
        Graph g = new Graph("convs");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2, 8, 11, 9));
        List<Value> outs = new ArrayList<>();
        outs.add(node(g, "c3", "Conv", List.of(x, randomConstant(g, "w3", r, 0.3, 16, 8, 3, 3), randomConstant(g, "b3", r, 1, 16)),
                attrs("pads", new long[] {1, 1, 1, 1})));
        outs.add(node(g, "c3s2", "Conv", List.of(x, randomConstant(g, "w3s2", r, 0.3, 7, 8, 3, 3)),
                attrs("strides", new long[] {2, 2}, "pads", new long[] {0, 1, 2, 1})));
        outs.add(node(g, "c1", "Conv", List.of(x, randomConstant(g, "w1", r, 0.3, 20, 8, 1, 1), randomConstant(g, "b1", r, 1, 20)), Map.of()));
        outs.add(node(g, "dw", "Conv", List.of(x, randomConstant(g, "wdw", r, 0.3, 8, 1, 3, 3), randomConstant(g, "bdw", r, 1, 8)),
                attrs("group", 8L, "strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1})));
        outs.add(node(g, "grouped", "Conv", List.of(x, randomConstant(g, "wg", r, 0.3, 6, 4, 3, 2)),
                attrs("group", 2L, "dilations", new long[] {2, 3}, "auto_pad", "SAME_UPPER")));
        outs.add(node(g, "k5", "Conv", List.of(x, randomConstant(g, "w5", r, 0.3, 4, 8, 5, 5)), attrs("auto_pad", "VALID")));
        // Larger than one block of the GEMM in M, N and K on every micro-kernel.
        Value a = g.addInput("a", TensorType.of(DType.F32, 131, 600));
        outs.add(node(g, "big", "MatMul", List.of(a, randomConstant(g, "wbig", r, 0.1, 600, 1100)), Map.of()));
        for (Value o : outs) g.addOutput(o);
        return g;
    }

    @Test
    void oneDimensionalConvolution() {
        Random r = new Random(2);
        Graph g = new Graph("conv1d");
        Value x = g.addInput("x", TensorType.of(DType.F32, 1, 3, 17));
        g.addOutput(node(g, "c", "Conv", List.of(x, randomConstant(g, "w", r, 0.3, 5, 3, 3)), attrs("pads", new long[] {2, 1}, "strides", new long[] {2})));
        assertNativeMatches(g, false);
    }

    @Test
    void fusedConvolutionWithResidualAndActivations() {
        Random r = new Random(3);
        Graph g = new Graph("fused");
        Value x = g.addInput("x", TensorType.of(DType.F32, 1, 16, 10, 10));
        Value c = node(g, "c", "Conv", List.of(x, randomConstant(g, "w", r, 0.2, 16, 16, 3, 3), randomConstant(g, "b", r, 1, 16)),
                attrs("pads", new long[] {1, 1, 1, 1}));
        Value s = node(g, "s", "Add", List.of(c, x), Map.of());
        Value relu = node(g, "relu", "Relu", List.of(s), Map.of());
        Value dw = node(g, "dw", "Conv", List.of(relu, randomConstant(g, "wdw", r, 0.3, 16, 1, 3, 3)), attrs("group", 16L, "pads", new long[] {1, 1, 1, 1}));
        Value six = g.addConstant("six", TensorType.of(DType.F32), ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, 6f));
        Value zero = g.addConstant("zero", TensorType.of(DType.F32), ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, 0f));
        Value clip = node(g, "clip", "Clip", List.of(dw, zero, six), Map.of());
        Value pw = node(g, "pw", "Conv", List.of(clip, randomConstant(g, "wpw", r, 0.3, 8, 16, 1, 1)), Map.of());
        g.addOutput(node(g, "sig", "Sigmoid", List.of(pw), Map.of()));
        assertNativeMatches(g, true);
    }

    @Test
    void pooling() {
        Graph g = new Graph("pools");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2, 3, 13, 12));
        g.addOutput(node(g, "max", "MaxPool", List.of(x), attrs("kernel_shape", new long[] {3, 3}, "strides", new long[] {2, 2}, "ceil_mode", 1L)));
        g.addOutput(node(g, "maxpad", "MaxPool", List.of(x), attrs("kernel_shape", new long[] {3, 2}, "pads", new long[] {1, 1, 1, 0}, "dilations", new long[] {2, 1})));
        g.addOutput(node(g, "avg", "AveragePool", List.of(x), attrs("kernel_shape", new long[] {3, 3}, "strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1})));
        g.addOutput(node(g, "avgpad", "AveragePool", List.of(x), attrs("kernel_shape", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}, "count_include_pad", 1L)));
        g.addOutput(node(g, "avgceil", "AveragePool", List.of(x), attrs("kernel_shape", new long[] {3, 3}, "strides", new long[] {2, 2}, "ceil_mode", 1L)));
        g.addOutput(node(g, "gap", "GlobalAveragePool", List.of(x), Map.of()));
        assertNativeMatches(g, false);
    }

    @Test
    void matrixProducts() {
        Random r = new Random(4);
        Graph g = new Graph("products");
        Value a = g.addInput("a", TensorType.of(DType.F32, 5, 40));
        Value a3 = g.addInput("a3", TensorType.of(DType.F32, 3, 7, 40));
        Value q = g.addInput("q", TensorType.of(DType.F32, 2, 1, 6, 9));
        Value k = g.addInput("k", TensorType.of(DType.F32, 1, 3, 9, 5));
        g.addOutput(node(g, "gemm", "Gemm", List.of(a, randomConstant(g, "wt", r, 0.3, 300, 40), randomConstant(g, "bias", r, 1, 300)),
                attrs("transB", 1L, "alpha", 0.5f, "beta", 2f)));
        g.addOutput(node(g, "gemmta", "Gemm", List.of(randomConstant(g, "at", r, 1, 40, 3), randomConstant(g, "w", r, 0.3, 40, 33), randomConstant(g, "c2", r, 1, 3, 1)),
                attrs("transA", 1L)));
        g.addOutput(node(g, "mm3", "MatMul", List.of(a3, randomConstant(g, "w3", r, 0.3, 40, 19)), Map.of()));
        g.addOutput(node(g, "mmb", "MatMul", List.of(q, k), Map.of()));
        g.addOutput(node(g, "mv", "MatMul", List.of(a, randomConstant(g, "v", r, 1, 40)), Map.of()));
        assertNativeMatches(g, false);
    }

    @Test
    void fusedMatMulWithBiasAndGelu() {
        Random r = new Random(5);
        Graph g = new Graph("mlp");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2, 6, 32));
        Value mm = node(g, "mm", "MatMul", List.of(x, randomConstant(g, "w", r, 0.3, 32, 64)), Map.of());
        Value b = node(g, "b", "Add", List.of(mm, randomConstant(g, "bias", r, 1, 64)), Map.of());
        Value gelu = node(g, "gelu", "Gelu", List.of(b), Map.of());
        Value mm2 = node(g, "mm2", "MatMul", List.of(gelu, randomConstant(g, "w2", r, 0.3, 64, 32)), Map.of());
        Value res = node(g, "res", "Add", List.of(mm2, x), Map.of());
        g.addOutput(node(g, "ln", "LayerNormalization", List.of(res, randomConstant(g, "gamma", r, 1, 32), randomConstant(g, "beta", r, 1, 32)),
                attrs("epsilon", 1e-5f)));
        assertNativeMatches(g, true);
    }

    @Test
    void elementwiseBroadcastingAndFusedChains() {
        Random r = new Random(6);
        Graph g = new Graph("elementwise");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2, 3, 4, 5));
        Value y = g.addInput("y", TensorType.of(DType.F32, 3, 1, 5));
        Value s = node(g, "s", "Add", List.of(x, y), Map.of());
        Value m = node(g, "m", "Mul", List.of(s, randomConstant(g, "k", r, 2, 4, 1)), Map.of());
        Value d = node(g, "d", "Sub", List.of(m, randomConstant(g, "one", r, 1, 1)), Map.of());
        Value t = node(g, "t", "Tanh", List.of(d), Map.of());
        g.addOutput(node(g, "lr", "LeakyRelu", List.of(t), attrs("alpha", 0.2f)));
        g.addOutput(node(g, "div", "Div", List.of(y, randomConstant(g, "den", r, 1, 5)), Map.of()));
        g.addOutput(node(g, "hs", "HardSwish", List.of(x), Map.of()));
        assertNativeMatches(g, false);
        assertNativeMatches(g, true);
    }

    @Test
    void concatViewsSoftmaxAndLayerNorm() {
        Random r = new Random(7);
        Graph g = new Graph("misc");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2, 3, 4, 4));
        Value y = g.addInput("y", TensorType.of(DType.F32, 2, 5, 4, 4));
        Value c = g.addNode("cat", "Concat", List.of(x, y, x), attrs("axis", 1L), List.of("cat_y")).output(0);
        Value f = node(g, "flat", "Flatten", List.of(c), attrs("axis", 2L));
        g.addOutput(node(g, "sm", "Softmax", List.of(f), attrs("axis", 1L)));
        g.addOutput(node(g, "sm_last", "Softmax", List.of(c), Map.of()));
        g.addOutput(node(g, "ln", "LayerNormalization", List.of(c, randomConstant(g, "gamma", r, 1, 4, 4)), attrs("axis", -2L)));
        g.addOutput(node(g, "flat_out", "Flatten", List.of(x), Map.of()));
        assertNativeMatches(g, false);
    }

    @Test
    void transposeSliceAndAttention() {
        Graph g = new Graph("attention");
        Value q4 = g.addInput("q4", TensorType.of(DType.F32, 2, 4, 5, 8));
        Value k4 = g.addInput("k4", TensorType.of(DType.F32, 2, 2, 7, 8));
        Value v4 = g.addInput("v4", TensorType.of(DType.F32, 2, 2, 7, 6));
        Value q3 = g.addInput("q3", TensorType.of(DType.F32, 2, 5, 12));
        Value kv3 = g.addInput("kv3", TensorType.of(DType.F32, 2, 3, 12));
        g.addOutput(node(g, "a4", "Attention", List.of(q4, k4, v4), Map.of()));
        g.addOutput(node(g, "a3", "Attention", List.of(q3, kv3, kv3), attrs("q_num_heads", 3L, "kv_num_heads", 3L, "scale", 0.3f)));
        g.addOutput(node(g, "t", "Transpose", List.of(q4), attrs("perm", new long[] {0, 2, 3, 1})));
        g.addOutput(node(g, "tr", "Transpose", List.of(q3), Map.of()));
        Value starts = longs(g, "starts", 1, -1);
        Value ends = longs(g, "ends", 11, -100);
        Value axes = longs(g, "axes", 2, 1);
        Value steps = longs(g, "steps", 3, -2);
        g.addOutput(g.addNode("slice", "Slice", List.of(q3, starts, ends, axes, steps), Map.of(), List.of("slice_y")).output(0));
        g.addOutput(g.addNode("slice2", "Slice", List.of(q4, longs(g, "s2", 2), longs(g, "e2", 4)), Map.of(), List.of("slice2_y")).output(0));
        assertNativeMatches(g, false);
    }

    private static Value longs(Graph g, String name, long... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) b.putLong(v);
        return g.addConstant(name, TensorType.of(DType.I64, values.length), b.flip());
    }

    @Test
    void missingCompilerFailsClearly() {
        Graph g = new Graph("g");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2));
        g.addOutput(node(g, "r", "Relu", List.of(x), Map.of()));
        NativeTesting.Compiled planned = NativeTesting.planAndCompile(g, dir.resolve("ok"));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> GccCompiler.compile(
                CCodeGenerator.generate(planned.graph(), NativeTesting.plan(planned.graph()), NativeTesting.HOST.vectorRegisters()), dir.resolve("missing"), "/nonexistent/gcc", GccCompiler.HOST_FLAGS));
        assertTrue(e.getMessage().startsWith("backend c cannot start the C compiler '/nonexistent/gcc' (is gcc installed and on the PATH?)"), e.getMessage());
    }

    @Test
    void hostileNamesCompile() {
        Random r = new Random(8);
        Graph g = new Graph("int */ main\n\"");
        Value x = g.addInput("in\"put */ \n#define", TensorType.of(DType.F32, 1, 2, 5, 5));
        Value c = g.addNode("node */ int x; /*", "Conv", List.of(x, randomConstant(g, "while", r, 0.5, 3, 2, 3, 3)), Map.of(), List.of("kiln_in0")).output(0);
        Value relu = g.addNode("return 0;\"\n", "Relu", List.of(c), Map.of(), List.of("\\\" */ static")).output(0);
        g.addOutput(relu);
        g.addOutput(g.addNode("kiln_out0", "Flatten", List.of(relu), Map.of(), List.of("float")).output(0));
        assertNativeMatches(g, false);
        assertNativeMatches(g, true);
    }

    @Test
    void unsupportedOpsAndDtypesAreAllListed() {
        Graph g = new Graph("unsupported");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2, 3));
        Value image = g.addInput("image", TensorType.of(DType.F32, 1, 3, 4, 4));
        Value training = g.addConstant("training", TensorType.of(DType.BOOL), ByteBuffer.wrap(new byte[] {1}));
        Value dropped = g.addNode("dropout", "Dropout", Arrays.asList(image, null, training), Map.of(), List.of("d")).output(0);
        g.addOutput(g.addNode("nhwc", "LayoutTransform", List.of(dropped), Map.of("src_layout", dev.kiln.ir.Attribute.of("NCHW"),
                "dst_layout", dev.kiln.ir.Attribute.of("NHWC")), List.of("t")).output(0));
        g.addOutput(g.addNode("relu", "Relu", List.of(x), Map.of(), List.of("r")).output(0));
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, () -> NativeTesting.planAndCompile(g, dir));
        assertEquals("OperatorNotImplemented: backend c has no kernel for Dropout (training mode with a ratio "
                + "other than 0) at node dropout; LayoutTransform (from plain to NHWC) at node nhwc", e.getMessage());
    }

    @Test
    void weightsLiveOutsideTheSourceAlignedTo64Bytes() throws Exception {
        Random r = new Random(9);
        Graph g = new Graph("weights");
        Value x = g.addInput("x", TensorType.of(DType.F32, 1, 3));
        Value a = node(g, "a", "Add", List.of(x, randomConstant(g, "addend_table", r, 1, 3)), Map.of());
        g.addOutput(node(g, "m", "Mul", List.of(a, randomConstant(g, "factor_table", r, 1, 3)), Map.of()));
        NativeTesting.Compiled c = NativeTesting.planAndCompile(g, dir);
        assertEquals(128, Files.size(c.files().weights()));
        String source = Files.readString(c.files().source());
        assertTrue(source.contains("(kiln_w + 64L)"), "second constant at offset 64");
        assertTrue(!source.contains("addend_table") && !source.contains("factor_table"), "no constant names in the source");
    }

    @Test
    void channelsLastLayoutsAreRefusedClearly() {
        Random r = new Random(10);
        Graph g = new Graph("nhwc");
        Value x = g.addInput("x", TensorType.of(DType.F32, 1, 8, 6, 6));
        Value c = node(g, "c", "Conv", List.of(x, randomConstant(g, "w", r, 0.3, 8, 8, 3, 3)), attrs("pads", new long[] {1, 1, 1, 1}));
        g.addOutput(node(g, "relu", "Relu", List.of(c), Map.of()));
        PassContext ctx = NativeTesting.context("NHWC");
        Graph nhwc = Pipelines.forLevel(3, ctx.options()).run(g, ctx);
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> CCodeGenerator.generate(nhwc, ctx.result(MemoryPlan.class), NativeTesting.HOST.vectorRegisters()));
        assertTrue(e.getMessage().startsWith("OperatorNotImplemented: backend c has no kernel for ") && e.getMessage().contains("(layout NHWC)"), e.getMessage());
    }
}
