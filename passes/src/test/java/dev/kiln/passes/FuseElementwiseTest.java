package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.kiln.passes.FoldBatchNormTest.count;
import static dev.kiln.passes.FoldBatchNormTest.logging;
import static dev.kiln.passes.FoldBatchNormTest.randomConstant;
import static org.junit.jupiter.api.Assertions.assertEquals;

class FuseElementwiseTest {
    @Test
    void fusesMulAddReluWithConstants() {
        PassTesting.assertRewrites(new FuseElementwise(), """
                kiln.ir 1
                graph g {
                  input %x : f32[1,3,2,2]
                  const %scale : f32[3,1,1] = [1.0, 2.0, 3.0]
                  const %half : f32[] = [0.5]
                  node @mul %m = Mul(%x, %scale) : f32[1,3,2,2]
                  node @add %a = Add(%m, %half) : f32[1,3,2,2]
                  node @relu %y = Relu(%a) : f32[1,3,2,2]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[1,3,2,2]
                  const %scale : f32[3,1,1] = [1.0, 2.0, 3.0]
                  node @mul %y = FusedElementwise(%x, %scale) {program = ["Mul(x, $1)", "Add(x, 0.5)", "Relu(x)"]} : f32[1,3,2,2]
                  output %y
                }
                """);
    }

    @Test
    void fusesSigmoidAndMulThatRereadTheInput() {
        PassTesting.assertRewrites(new FuseElementwise(), """
                kiln.ir 1
                graph g {
                  input %x : f32[2,5]
                  node @sig %s = Sigmoid(%x) : f32[2,5]
                  node @mul %y = Mul(%x, %s) : f32[2,5]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,5]
                  node @sig %y = FusedElementwise(%x) {program = ["Sigmoid(x)", "Mul($0, x)"]} : f32[2,5]
                  output %y
                }
                """);
    }

    @Test
    void twoChainsMeetingAtABinaryOpKeepTheirOrder() {
        PassTesting.assertRewrites(new FuseElementwise(), """
                kiln.ir 1
                graph g {
                  input %x : f32[4]
                  input %y : f32[4]
                  node @neg %a = Neg(%x) : f32[4]
                  node @relu %p = Relu(%y) : f32[4]
                  node @abs %b = Abs(%a) : f32[4]
                  node @sig %q = Sigmoid(%p) : f32[4]
                  node @mul %m = Mul(%b, %q) : f32[4]
                  node @tanh %z = Tanh(%m) : f32[4]
                  output %z
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[4]
                  input %y : f32[4]
                  node @relu %q = FusedElementwise(%y) {program = ["Relu(x)", "Sigmoid(x)"]} : f32[4]
                  node @neg %z = FusedElementwise(%x, %q) {program = ["Neg(x)", "Abs(x)", "Mul(x, $1)", "Tanh(x)"]} : f32[4]
                  output %z
                }
                """);
    }

    @Test
    void leavesAloneWhatWouldBroadcastTheChainOrNeedsF32() {
        String ir = """
                kiln.ir 1
                graph g {
                  input %x : f32[2,1]
                  input %wide : f32[2,3]
                  node @sig %s = Sigmoid(%x) : f32[2,1]
                  node @mul %m = Mul(%s, %wide) : f32[2,3]
                  node @exp %e = Exp(%m) : f32[2,3]
                  node @neg %y = Neg(%e) : f32[2,3]
                  node @abs %z = Abs(%y) : f32[2,3]
                  output %y
                  output %z
                }
                """;
        List<String> log = new ArrayList<>();
        assertEquals(ir, PassTesting.print(new FuseElementwise().apply(PassTesting.parse(ir), logging(log))));
        assertEquals(List.of("fuse-elementwise: Mul 'mul' left out of the chain before it: it would broadcast or retype the running value, "
                        + "or a bound is not constant",
                "fuse-elementwise: Exp 'exp' left out of the chain before it: its precision policy is KEEP_FP32, not REDUCED_OK, "
                        + "or it has other than one floating-point output"), log);
    }

    @Test
    void longChainKeepsItsNumbers() {
        Random r = new Random(5);
        Graph g = new Graph("g");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2, 3, 4));
        Value other = g.addInput("other", TensorType.of(DType.F32, 2, 3, 4));
        Value v = x;
        v = node(g, "Mul", Map.of(), v, randomConstant(g, "c4", r, -2, 2, 4));
        v = node(g, "Sub", Map.of(), randomConstant(g, "one", r, 1, 1), v);
        v = node(g, "LeakyRelu", Map.of("alpha", Attribute.of(0.2f)), v);
        v = node(g, "Add", Map.of(), v, other);
        v = node(g, "Clip", Map.of(), v, randomConstant(g, "lo", r, -1, -1), randomConstant(g, "hi", r, 1, 1));
        v = node(g, "Div", Map.of(), v, randomConstant(g, "c31", r, 0.5, 2, 3, 1));
        v = node(g, "Pow", Map.of(), v, randomConstant(g, "two", r, 2, 2));
        v = node(g, "HardSigmoid", Map.of("beta", Attribute.of(0.1f)), v);
        v = node(g, "Max", Map.of(), other, v);
        v = node(g, "PRelu", Map.of(), v, randomConstant(g, "slope", r, 0, 1, 4));
        v = node(g, "Tanh", Map.of(), v);
        v = node(g, "Gelu", Map.of(), v);
        v = node(g, "Mul", Map.of(), v, v);
        g.addOutput(v);
        Graph fused = new FuseElementwise().apply(g, PassTesting.context());
        assertEquals(1, fused.nodes().size(), PassTesting.print(fused));
        PassTesting.assertSameOutputs(g, fused, 1e-6);
    }

    private static Value node(Graph g, String op, Map<String, Attribute> attrs, Value... inputs) {
        String name = op.toLowerCase() + g.nodes().size();
        return g.addNode(name, op, List.of(inputs), attrs, List.of(name + "_out")).output(0);
    }

    @ParameterizedTest
    @ValueSource(strings = {"squeezenet1_1", "mobilenet_v2", "resnet18", "transformer_encoder"})
    void fixtureModelsKeepTheirOutputsAfterAllFusion(String model) {
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is not present");
        Graph raw = PassTesting.fixture(model);
        Graph folded = new FoldBatchNorm().apply(raw, PassTesting.context());
        Graph epilogues = new FuseEpilogue().apply(folded, PassTesting.context());
        Graph fused = new FuseElementwise().apply(epilogues, PassTesting.context());
        System.out.printf("fuse-elementwise %s: nodes %d (import) -> %d (fold-batch-norm) -> %d (fuse-epilogue) -> %d, FusedElementwise %d%n",
                model, raw.nodes().size(), folded.nodes().size(), epilogues.nodes().size(), fused.nodes().size(),
                count(fused, "FusedElementwise"));
        PassTesting.assertSameOutputs(raw, fused, 1e-4);
        // On the raw import alone, too.
        PassTesting.assertSameOutputs(raw, new FuseElementwise().apply(raw, PassTesting.context()), 1e-4);
    }
}
