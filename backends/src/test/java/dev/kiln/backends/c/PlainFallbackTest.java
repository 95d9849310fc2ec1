package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.passes.MemoryPlan;
import dev.kiln.passes.PassContext;
import dev.kiln.passes.Pipelines;
import dev.kiln.passes.PlanMemory;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.nativelib.NativeModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Predicate;

import static dev.kiln.backends.c.NativeTesting.attrs;
import static dev.kiln.backends.c.NativeTesting.node;
import static dev.kiln.backends.c.NativeTesting.randomConstant;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PlainFallbackTest {
    @TempDir
    Path dir;

    /** conv (blocked) -> max pool -> conv: the layout pass puts all three in the blocked layout. */
    private static Graph convPoolConv() {
        Random r = new Random(11);
        Graph g = new Graph("fallback");
        Value x = g.addInput("x", TensorType.of(DType.F32, 1, 20, 9, 9));
        Value c = node(g, "c1", "Conv", List.of(x, randomConstant(g, "w1", r, 0.3, 24, 20, 3, 3)), attrs("pads", new long[] {1, 1, 1, 1}));
        Value p = node(g, "pool", "MaxPool", List.of(c), attrs("kernel_shape", new long[] {3, 3}, "strides", new long[] {2, 2}));
        Value c2 = node(g, "c2", "Conv", List.of(p, randomConstant(g, "w2", r, 0.3, 16, 24, 1, 1)), Map.of());
        g.addOutput(node(g, "relu", "Relu", List.of(c2), Map.of()));
        return g;
    }

    @Test
    void aNodeWithoutABlockedKernelRunsOnPlainValuesBetweenTransforms() {
        Graph g = convPoolConv();
        List<Tensor> inputs = NativeTesting.randomInputs(g, 3);
        List<Tensor> want = NativeTesting.reference(g, inputs);
        PassContext ctx = NativeTesting.context(CBackend.layout(NativeTesting.HOST));
        Graph optimised = Pipelines.forLevel(3, ctx.options()).run(g, ctx);
        Node pool = optimised.nodes().stream().filter(n -> n.op().equals("MaxPool")).findFirst().orElseThrow();
        assertTrue(PlainFallback.hasBlocked(pool), "the layout pass gives the pool blocked values");

        // as if the pooling family had no blocked kernel
        Predicate<Node> refused = n -> n.op().equals("MaxPool") && PlainFallback.hasBlocked(n);
        Graph legal = PlainFallback.apply(optimised, refused);
        List<String> ops = legal.nodes().stream().map(Node::op).toList();
        int at = ops.indexOf("MaxPool");
        assertEquals(List.of("LayoutTransform", "MaxPool", "LayoutTransform"), ops.subList(at - 1, at + 2), ops.toString());
        Node plainPool = legal.nodes().get(at);
        assertTrue(!PlainFallback.hasBlocked(plainPool), "the pool reads and writes NCHW");
        assertEquals(32, plainPool.input(0).type().shape().dim(1).size(), "the plain value keeps the blocked value's zero-padded channels");

        PassContext planning = NativeTesting.context();
        new PlanMemory().apply(legal, planning);
        NativeTesting.Compiled c = NativeTesting.compile(legal, planning.result(MemoryPlan.class), dir);
        try (NativeModel m = c.load()) {
            NativeTesting.assertClose(want, m.run(inputs), 1e-5);
        }
    }

    @Test
    void aGraphWithNothingToMoveIsLeftAsItIs() {
        PassContext ctx = NativeTesting.context(CBackend.layout(NativeTesting.HOST));
        Graph optimised = Pipelines.forLevel(3, ctx.options()).run(convPoolConv(), ctx);
        assertSame(optimised, PlainFallback.apply(optimised, n -> false));
    }

    @Test
    void theTwinOfABlockedNodeIsPlain() {
        PassContext ctx = NativeTesting.context(CBackend.layout(NativeTesting.HOST));
        Graph optimised = Pipelines.forLevel(3, ctx.options()).run(convPoolConv(), ctx);
        Node pool = optimised.nodes().stream().filter(n -> n.op().equals("MaxPool")).findFirst().orElseThrow();
        Node twin = PlainFallback.plainTwin(pool);
        assertNotNull(twin);
        assertEquals("f32[1,32,4,4]", twin.output(0).type().toString().replace(" ", ""));
        Node conv = optimised.nodes().stream().filter(n -> n.op().equals("Conv") || n.op().equals("FusedConv"))
                .filter(PlainFallback::hasBlocked).filter(n -> !n.input(1).type().layout().isAny()).findFirst().orElseThrow();
        assertNull(PlainFallback.plainTwin(conv), "a blocked filter has no plain twin");
    }
}
