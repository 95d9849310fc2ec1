package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FoldBatchNormTest {
    /** gamma / sqrt(var + 1) = [1, 2] and beta - mean * that = [-0.5, -5]. */
    private static final String STATISTICS = """
              const %gamma : f32[2] = [2.0, 6.0]
              const %beta : f32[2] = [0.5, -1.0]
              const %mean : f32[2] = [1.0, 2.0]
              const %var : f32[2] = [3.0, 8.0]
            """;

    @Test
    void foldsIntoConvWeightsAndBias() {
        PassTesting.assertRewrites(new FoldBatchNorm(), """
                kiln.ir 1
                graph g {
                  input %x : f32[1,1,2,2]
                  const %w : f32[2,1,1,1] = [1.0, 2.0]
                """ + STATISTICS + """
                  node @conv %c = Conv(%x, %w) : f32[1,2,2,2]
                  node @bn %y = BatchNormalization(%c, %gamma, %beta, %mean, %var) {epsilon = 1.0} : f32[1,2,2,2]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[1,1,2,2]
                  const %w_folded : f32[2,1,1,1] = [1.0, 4.0]
                  const %bn_bias : f32[2] = [-0.5, -5.0]
                  node @conv %y = Conv(%x, %w_folded, %bn_bias) : f32[1,2,2,2]
                  output %y
                }
                """);
    }

    @Test
    void scalesMatMulColumnsAndAddsTheShift() {
        PassTesting.assertRewrites(new FoldBatchNorm(), """
                kiln.ir 1
                graph g {
                  input %a : f32[3,2]
                  const %b : f32[2,2] = [1.0, 2.0, 3.0, 4.0]
                """ + STATISTICS + """
                  node @mm %c = MatMul(%a, %b) : f32[3,2]
                  node @bn %y = BatchNormalization(%c, %gamma, %beta, %mean, %var) {epsilon = 1.0} : f32[3,2]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %a : f32[3,2]
                  const %b_folded : f32[2,2] = [1.0, 4.0, 3.0, 8.0]
                  const %bn_shift : f32[2] = [-0.5, -5.0]
                  node @mm %c = MatMul(%a, %b_folded) : f32[3,2]
                  node @bn %y = Add(%c, %bn_shift) : f32[3,2]
                  output %y
                }
                """);
    }

    @Test
    void batchNormWithoutProducerBecomesMulAndAdd() {
        List<String> log = new ArrayList<>();
        Graph out = new FoldBatchNorm().apply(PassTesting.parse("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,3]
                """ + STATISTICS + """
                  node @bn %y = BatchNormalization(%x, %gamma, %beta, %mean, %var) {epsilon = 1.0} : f32[1,2,3]
                  output %y
                }
                """), logging(log));
        assertEquals("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,3]
                  const %bn_scale : f32[2,1] = [1.0, 2.0]
                  const %bn_shift : f32[2,1] = [-0.5, -5.0]
                  node @bn_mul %y_scaled = Mul(%x, %bn_scale) : f32[1,2,3]
                  node @bn_add %y = Add(%y_scaled, %bn_shift) : f32[1,2,3]
                  output %y
                }
                """, PassTesting.print(out));
        assertEquals(List.of("fold-batch-norm: BatchNormalization 'bn' becomes Mul and Add: its input is not made by a Conv, "
                + "ConvTranspose, Gemm or MatMul"), log);
    }

    @Test
    void leavesAloneWhatItCannotFold() {
        String ir = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,3]
                  input %running_mean : f32[2]
                  const %gamma : f32[2] = [2.0, 6.0]
                  const %beta : f32[2] = [0.5, -1.0]
                  const %var : f32[2] = [3.0, 8.0]
                  const %mean : f32[2] = [1.0, 2.0]
                  node @live %y = BatchNormalization(%x, %gamma, %beta, %running_mean, %var) : f32[1,2,3]
                  node @training %z = BatchNormalization(%y, %gamma, %beta, %mean, %var) {training_mode = 1} : f32[1,2,3]
                  output %z
                }
                """;
        List<String> log = new ArrayList<>();
        Graph out = new FoldBatchNorm().apply(PassTesting.parse(ir), logging(log));
        assertEquals(ir, PassTesting.print(out));
        assertEquals(List.of("fold-batch-norm: BatchNormalization 'live' left alone: input %running_mean is not an f32/f64 constant",
                "fold-batch-norm: BatchNormalization 'training' left alone: it is in training mode"), log);
    }

    @Test
    void foldsEveryProducerKindNumerically() {
        Random r = new Random(7);
        Map<String, Attribute> grouped = Map.of("group", Attribute.of(2L), "pads", Attribute.of(1L, 1L, 1L, 1L));
        assertFoldsExactly(r, "Conv", new long[] {1, 4, 5, 5}, new long[][] {{6, 2, 3, 3}, {6}}, grouped);
        Map<String, Attribute> transposed = Map.of("group", Attribute.of(2L), "strides", Attribute.of(2L, 2L));
        assertFoldsExactly(r, "ConvTranspose", new long[] {1, 4, 3, 3}, new long[][] {{4, 3, 3, 3}, {6}}, transposed);
        assertFoldsExactly(r, "Gemm", new long[] {3, 5}, new long[][] {{5, 4}, {4}}, Map.of("beta", Attribute.of(0.5f)));
        assertFoldsExactly(r, "Gemm", new long[] {3, 5}, new long[][] {{4, 5}, {3, 4}}, Map.of("transB", Attribute.of(1L), "alpha", Attribute.of(2f)));
        assertFoldsExactly(r, "Gemm", new long[] {5, 3}, new long[][] {{5, 4}}, Map.of("transA", Attribute.of(1L)));
        assertFoldsExactly(r, "MatMul", new long[] {3, 5}, new long[][] {{5, 4}}, Map.of());
    }

    /** producer(x, constants...) then BatchNormalization: the fold leaves no BatchNormalization and the same numbers. */
    private static void assertFoldsExactly(Random r, String op, long[] input, long[][] constants, Map<String, Attribute> attrs) {
        Graph g = new Graph("g");
        List<Value> inputs = new ArrayList<>(List.of(g.addInput("x", TensorType.of(DType.F32, input))));
        for (int i = 0; i < constants.length; i++) inputs.add(randomConstant(g, "k" + i, r, -1, 1, constants[i]));
        Value y = g.addNode("producer", op, inputs, attrs, List.of("y")).output(0);
        long channels = y.type().shape().dim(1).size();
        List<Value> bn = new ArrayList<>(List.of(y));
        bn.add(randomConstant(g, "gamma", r, 0.5, 2, channels));
        bn.add(randomConstant(g, "beta", r, -1, 1, channels));
        bn.add(randomConstant(g, "mean", r, -1, 1, channels));
        bn.add(randomConstant(g, "var", r, 0.1, 3, channels));
        g.addOutput(g.addNode("bn", "BatchNormalization", bn, Map.of(), List.of("z")).output(0));
        Graph folded = new FoldBatchNorm().apply(g, PassTesting.context());
        assertEquals(0, count(folded, "BatchNormalization"), op + ": " + PassTesting.print(folded));
        PassTesting.assertSameOutputs(g, folded, 1e-5);
    }

    @ParameterizedTest
    @ValueSource(strings = {"squeezenet1_1", "mobilenet_v2", "resnet18", "transformer_encoder"})
    void fixtureModelsLoseEveryBatchNormWithTheSameOutputs(String model) {
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is not present");
        Graph before = PassTesting.fixture(model);
        Graph after = new FoldBatchNorm().apply(before, PassTesting.context());
        System.out.printf("fold-batch-norm %s: BatchNormalization %d -> %d, nodes %d -> %d%n", model,
                count(before, "BatchNormalization"), count(after, "BatchNormalization"), before.nodes().size(), after.nodes().size());
        assertEquals(0, count(after, "BatchNormalization"));
        assertTrue(count(after, "Mul") <= count(before, "Mul"), "every BatchNormalization of the fixtures folds into its producer");
        PassTesting.assertSameOutputs(before, after, 1e-4);
    }

    static int count(Graph g, String op) {
        Map<String, Integer> counts = new HashMap<>();
        for (Node n : g.nodes()) counts.merge(n.op(), 1, Integer::sum);
        return counts.getOrDefault(op, 0);
    }

    static PassContext logging(List<String> log) {
        return PassContext.builder().debugLog(log::add).build();
    }

    /** An f32 constant of uniform random values in [lo, hi). */
    static Value randomConstant(Graph g, String name, Random r, double lo, double hi, long... shape) {
        TensorType type = TensorType.of(DType.F32, shape);
        int n = (int) type.shape().elementCount();
        ByteBuffer b = ByteBuffer.allocate(n * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) b.putFloat((float) (lo + (hi - lo) * r.nextDouble()));
        return g.addConstant(name, type, b.flip());
    }
}
