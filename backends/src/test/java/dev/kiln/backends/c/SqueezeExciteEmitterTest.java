package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.ElementwiseProgram;
import dev.kiln.passes.PassContext;
import dev.kiln.passes.Pipelines;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SqueezeExcite against the interpreter: as written (NCHW, the f32 kernel with packed weights, run-time weights and
 * other dtypes element by element) and as squeeze-excite blocks of GlobalAveragePool or ReduceMean, 1x1
 * convolutions, activations and a Mul that the level-3 pipeline fuses and lays out in blocks, with channel counts
 * that are and are not whole blocks, 1-D to 3-D inputs, from one position to 112 x 112.
 */
class SqueezeExciteEmitterTest {
    @TempDir
    Path dir;

    /** One block: input dims, reduced channels, squeeze activation (with parameters), gate (with parameters). */
    private record Block(long[] x, long r, String act, float[] actParams, String gate, float[] gateParams) {}

    private static final float[] NONE = new float[0];
    private static final float[] HARD_SIGMOID = {1f / 6, 0.5f};

    private static final List<Block> BLOCKS = List.of(
            new Block(new long[] {1, 16, 4, 4}, 4, "Relu", NONE, "Sigmoid", NONE),
            new Block(new long[] {1, 20, 7, 5}, 6, "Swish", new float[] {1f}, "Sigmoid", NONE),
            new Block(new long[] {2, 40, 6, 6}, 10, "Relu", NONE, "HardSigmoid", HARD_SIGMOID),
            new Block(new long[] {1, 72, 1, 1}, 24, "HardSwish", NONE, "HardSigmoid", HARD_SIGMOID),
            new Block(new long[] {1, 8, 112, 112}, 2, "Swish", new float[] {1f}, "Sigmoid", NONE),
            new Block(new long[] {1, 96, 28, 28}, 4, "Relu", NONE, "Sigmoid", NONE),
            new Block(new long[] {1, 3, 9}, 1, ElementwiseProgram.NO_ACTIVATION, NONE, "Sigmoid", NONE),
            new Block(new long[] {1, 24, 3, 4, 5}, 8, "Gelu", NONE, "HardSigmoid", new float[] {0.2f, 0.5f}),
            new Block(new long[] {1, 33, 13, 1}, 9, "LeakyRelu", new float[] {0.1f}, "Tanh", NONE));

    private static Map<String, Attribute> activations(Block k) {
        Map<String, Attribute> a = new LinkedHashMap<>(attrs("activation", k.act(), "gate", k.gate()));
        if (k.actParams().length > 0) a.put("activation_params", Attribute.of(k.actParams()));
        if (k.gateParams().length > 0) a.put("gate_params", Attribute.of(k.gateParams()));
        return a;
    }

    @Test
    void asWrittenInEveryDtype() {
        OpBatch b = new OpBatch("se", 3);
        int k = 0;
        for (DType t : List.of(DType.F32, DType.F64, DType.F16, DType.BF16)) {
            for (Block block : BLOCKS) {
                long c = block.x()[1];
                List<Value> inputs = new ArrayList<>(List.of(b.input(t, block.x())));
                // constant weights (the kernel's) and, every third block, run-time ones
                boolean runTime = k % 3 == 2;
                inputs.add(runTime ? b.input(t, block.r(), c) : b.randomConstant(t, block.r(), c));
                inputs.add(runTime ? b.input(t, c, block.r()) : b.randomConstant(t, c, block.r()));
                if (k % 4 != 3) inputs.add(b.randomConstant(t, block.r()));
                if (k % 4 == 0) inputs.add(b.randomConstant(t, c));
                b.node("SqueezeExcite", inputs, activations(block));
                k++;
            }
        }
        b.assertMatchesAsWritten(dir, 1e-5);
    }

    @Test
    void fewerWeightColumnsAndRowsThanChannels() {
        OpBatch b = new OpBatch("se_partial", 4);
        b.node("SqueezeExcite", List.of(b.input(DType.F32, 1, 20, 3, 3), b.randomConstant(DType.F32, 5, 17), b.randomConstant(DType.F32, 18, 5),
                b.randomConstant(DType.F32, 5), b.randomConstant(DType.F32, 19)), attrs("activation", "Relu"));
        b.node("SqueezeExcite", List.of(b.input(DType.F64, 1, 20, 3, 3), b.randomConstant(DType.F64, 5, 17), b.randomConstant(DType.F64, 18, 5)),
                attrs("activation", "Relu"));
        b.assertMatchesAsWritten(dir, 1e-5);
    }

    /** Every block as exporters write it, fused and laid out by the pipeline: pool, Conv, activation, Conv, gate, Mul. */
    @Test
    void blocksThroughThePipeline() {
        OpBatch b = new OpBatch("se_blocks", 5);
        blocks(b);
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    @Test
    void thePipelineFusesEveryBlockAndLaysItOutInBlocks() {
        OpBatch b = new OpBatch("se_blocks", 5);
        blocks(b);
        PassContext ctx = NativeTesting.context(CBackend.layout(NativeTesting.HOST));
        Graph optimised = Pipelines.forLevel(3, ctx.options()).run(b.graph(), ctx);
        List<Node> fused = optimised.nodes().stream().filter(n -> n.op().equals("SqueezeExcite")).toList();
        assertEquals(BLOCKS.size(), fused.size(), "SqueezeExcite nodes");
        for (Node n : fused) assertTrue(ComputeBuffers.lanes(n.input(0).type().layout()) > 0, n + " reads a blocked tensor");
    }

    private static void blocks(OpBatch b) {
        Graph g = b.graph();
        int k = 0;
        for (Block block : BLOCKS) {
            long[] xs = block.x();
            long c = xs[1];
            int spatial = xs.length - 2;
            long[] one = new long[spatial];
            Arrays.fill(one, 1);
            Value x = b.input(DType.F32, xs);
            // a convolution in front, as in the models, so that the block reads a blocked tensor
            long[] kernel = new long[spatial];
            Arrays.fill(kernel, 1);
            Value in = g.addNode("conv" + k, "Conv", List.of(x, b.randomConstant(DType.F32, concat(new long[] {c, c}, kernel))), Map.of(),
                    List.of("conv" + k + "_y")).output(0);
            Value pooled;
            if (k % 2 == 0) {
                pooled = g.addNode("pool" + k, "GlobalAveragePool", List.of(in), Map.of(), List.of("pool" + k + "_y")).output(0);
            } else {
                long[] axes = new long[spatial];
                for (int d = 0; d < spatial; d++) axes[d] = d + 2;
                Value axesValue = b.constant(DType.I64, new long[] {spatial}, Arrays.stream(axes).asDoubleStream().toArray());
                pooled = g.addNode("pool" + k, "ReduceMean", List.of(in, axesValue), Map.of(), List.of("pool" + k + "_y")).output(0);
            }
            Value h = g.addNode("fc1_" + k, "Conv", List.of(pooled, b.randomConstant(DType.F32, concat(new long[] {block.r(), c}, one)),
                    b.randomConstant(DType.F32, block.r())), Map.of(), List.of("fc1_" + k + "_y")).output(0);
            if (!block.act().equals(ElementwiseProgram.NO_ACTIVATION)) h = unary(g, "act" + k, block.act(), block.actParams(), h);
            Value s = g.addNode("fc2_" + k, "Conv", List.of(h, b.randomConstant(DType.F32, concat(new long[] {c, block.r()}, one)),
                    b.randomConstant(DType.F32, c)), Map.of(), List.of("fc2_" + k + "_y")).output(0);
            Value gate = unary(g, "gate" + k, block.gate(), block.gateParams(), s);
            b.node("Mul", k % 2 == 0 ? List.of(gate, in) : List.of(in, gate), Map.of());
            k++;
        }
    }

    /** An activation node as ONNX writes it: parameters as attributes. */
    private static Value unary(Graph g, String name, String op, float[] params, Value x) {
        Map<String, Attribute> a = switch (op) {
            case "LeakyRelu", "Swish" -> attrs("alpha", params[0]);
            case "HardSigmoid" -> attrs("alpha", params[0], "beta", params[1]);
            default -> Map.of();
        };
        return g.addNode(name, op, List.of(x), a, List.of(name + "_y")).output(0);
    }

    private static long[] concat(long[] a, long[] b) {
        long[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
