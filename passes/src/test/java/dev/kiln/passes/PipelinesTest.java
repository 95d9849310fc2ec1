package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CancellationException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The whole pipelines on the real models: what must be gone, what must be fused, and the same numbers. */
class PipelinesTest {
    private static final Set<String> ACTIVATIONS = Set.of("Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSwish", "HardSigmoid",
            "Gelu", "Tanh", "Swish", "Elu");
    private static final Set<String> PRODUCERS = Set.of("Conv", "ConvTranspose", "Gemm", "MatMul");

    @Test
    void levelsAreExplicitLists() {
        PassOptions o = PassOptions.defaults();
        assertEquals(List.of(), names(0, o));
        assertEquals(List.of("infer-shapes", "fold-constants", "simplify-algebra", "eliminate-common-subexpressions", "eliminate-dead-code"),
                names(1, o));
        assertEquals(List.of("infer-shapes", "fold-constants", "simplify-algebra", "eliminate-common-subexpressions", "eliminate-dead-code",
                "recognize-layer-norm", "recognize-gelu", "recognize-attention", "fold-batch-norm", "fold-quantize-dequantize", "fuse-epilogue",
                "fuse-squeeze-excite",
                "fuse-elementwise", "simplify-algebra", "eliminate-dead-code", "convert-layout", "eliminate-dead-code", "plan-memory"), names(3, o));
        assertTrue(names(3, o.withDtype(PassOptions.Precision.FP16)).contains("convert-precision"));
        assertTrue(names(3, o.withDtype(PassOptions.Precision.INT8)).contains("quantize-int8"));
        assertTrue(!names(2, o.withDtype(PassOptions.Precision.FP16)).contains("convert-precision"), "dtype transforms are level 3");
    }

    @Test
    void anInterruptedThreadStopsBetweenPasses() {
        Graph g = PassTesting.parse("""
                kiln.ir 1
                graph g {
                  input %x : f32[2]
                  node @relu %y = Relu(%x) : f32[2]
                  output %y
                }
                """);
        Thread.currentThread().interrupt();
        try {
            var e = assertThrows(CancellationException.class,
                    () -> Pipelines.forLevel(1, PassOptions.defaults()).run(g, PassTesting.context()));
            assertEquals("interrupted before pass infer-shapes", e.getMessage());
        } finally {
            Thread.interrupted();
        }
    }

    private static List<String> names(int level, PassOptions o) {
        return Pipelines.forLevel(level, o).passes().stream().map(Pass::name).toList();
    }

    @ParameterizedTest
    @FieldSource("dev.kiln.testmodels.Fixtures#MODELS")
    void levelThreeLeavesNothingToFoldOrFuseAndKeepsTheNumbers(String model) {
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is made on demand: " + Fixtures.makeCommand(model));
        Graph before = PassTesting.fixture(model);
        PassOptions options = PassOptions.defaults().withLayout("NCHW16c");
        PassContext ctx = PassTesting.context(options);
        long t0 = System.nanoTime();
        Graph after = Pipelines.forLevel(3, options).run(PassTesting.fixture(model), ctx);
        double seconds = (System.nanoTime() - t0) / 1e9;

        Map<String, Integer> ops = opCounts(after);
        for (String gone : List.of("BatchNormalization", "Identity", "Dropout", "Shape", "Size", "ConstantOfShape")) {
            assertEquals(0, ops.getOrDefault(gone, 0), model + " still has " + gone + ": " + ops);
        }
        Uses uses = Uses.of(after);
        for (Node n : after.nodes()) {
            if (!PRODUCERS.contains(n.op())) continue;
            for (Node c : uses.consumers(n.output(0))) {
                assertTrue(!ACTIVATIONS.contains(c.op()), model + ": " + n.op() + " @" + n.name() + " feeds " + c.op() + " unfused");
            }
            if (n.op().equals("Reshape")) assertTrue(n.input(1).isConstant(), "Reshape @" + n.name() + " has a computed shape");
        }
        PassTesting.assertSameOutputs(before, after, 1e-4);
        System.out.printf("%s: level 3 (NCHW16c) %d -> %d nodes in %.2f s: %s%n  %s%n", model, before.nodes().size(),
                after.nodes().size(), seconds, ops, ctx.result(MemoryPlan.class).summary());
    }

    @Test
    void theEncoderComesOutWithFusedLayerNormGeluAndAttention() {
        Graph after = Pipelines.forLevel(3, PassOptions.defaults()).run(PassTesting.fixture("transformer_encoder"), PassTesting.context());
        Map<String, Integer> ops = opCounts(after);
        assertEquals(4, ops.getOrDefault("LayerNormalization", 0), ops.toString());
        assertEquals(2, ops.getOrDefault("Attention", 0), ops.toString());
        long gelus = after.nodes().stream().filter(n -> n.op().equals("Gelu")
                || new Attribute.Str("Gelu").equals(n.attribute("activation"))).count();
        assertEquals(2, gelus, ops.toString());
        for (String decomposed : List.of("ReduceMean", "Erf", "Softmax", "Sqrt", "Pow")) {
            assertEquals(0, ops.getOrDefault(decomposed, 0), decomposed + " left: " + ops);
        }
    }

    private static Map<String, Integer> opCounts(Graph g) {
        Map<String, Integer> m = new TreeMap<>();
        for (Node n : g.nodes()) m.merge(n.op(), 1, Integer::sum);
        return m;
    }

}
