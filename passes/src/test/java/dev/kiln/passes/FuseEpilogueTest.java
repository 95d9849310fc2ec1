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

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static dev.kiln.passes.FoldBatchNormTest.logging;
import static dev.kiln.passes.FoldBatchNormTest.randomConstant;
import static org.junit.jupiter.api.Assertions.assertEquals;

class FuseEpilogueTest {
    private static final Set<String> ACTIVATIONS = Set.of("Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid",
            "HardSwish", "Swish", "Gelu", "Elu", "Softplus", "Mish");

    @Test
    void convTakesBiasAddAndRelu6() {
        PassTesting.assertRewrites(new FuseEpilogue(), """
                kiln.ir 1
                graph g {
                  input %x : f32[1,1,2,2]
                  const %w : f32[2,1,1,1] = [1.0, 2.0]
                  const %b : f32[2] = [0.5, 0.25]
                  const %lo : f32[] = [0.0]
                  const %hi : f32[] = [6.0]
                  const %shift : f32[1,2,1,1] = [1.0, -1.0]
                  node @conv %c = Conv(%x, %w, %b) : f32[1,2,2,2]
                  node @add %s = Add(%c, %shift) : f32[1,2,2,2]
                  node @relu6 %y = Clip(%s, %lo, %hi) : f32[1,2,2,2]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[1,1,2,2]
                  const %w : f32[2,1,1,1] = [1.0, 2.0]
                  const %b_fused : f32[2] = [1.5, -0.75]
                  node @conv %y = FusedConv(%x, %w, %b_fused) {activation = "Clip", activation_params = [0.0, 6.0]} : f32[1,2,2,2]
                  output %y
                }
                """);
    }

    @Test
    void convTakesResidualAddAndRelu() {
        PassTesting.assertRewrites(new FuseEpilogue(), """
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,4,4]
                  input %skip : f32[1,2,4,4]
                  const %w : f32[2,2,1,1] = [1.0, 2.0, 3.0, 4.0]
                  node @conv %c = Conv(%x, %w) : f32[1,2,4,4]
                  node @add %s = Add(%skip, %c) : f32[1,2,4,4]
                  node @relu %y = Relu(%s) : f32[1,2,4,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,4,4]
                  input %skip : f32[1,2,4,4]
                  const %w : f32[2,2,1,1] = [1.0, 2.0, 3.0, 4.0]
                  node @conv %y = FusedConv(%x, %w, _, %skip) {activation = "Relu"} : f32[1,2,4,4]
                  output %y
                }
                """);
    }

    @Test
    void aLoneBiasIsReshapedNotRecomputedSoAnyFloatDtypeFuses() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f16[1,1,2,2]
                  const %w : f16[2,1,1,1] = [0x3c00, 0x4000]
                  const %shift : f16[1,2,1,1] = [0x3c00, 0xbc00]
                  node @conv %c = Conv(%x, %w) : f16[1,2,2,2]
                  node @add %s = Add(%shift, %c) : f16[1,2,2,2]
                  node @relu %y = Relu(%s) : f16[1,2,2,2]
                  output %y
                }
                """;
        Graph out = PassTesting.assertRewrites(new FuseEpilogue(), before, """
                kiln.ir 1
                graph g {
                  input %x : f16[1,1,2,2]
                  const %w : f16[2,1,1,1] = [0x3c00, 0x4000]
                  const %shift_vector : f16[2] = [0x3c00, 0xbc00]
                  node @conv %y = FusedConv(%x, %w, %shift_vector) {activation = "Relu"} : f16[1,2,2,2]
                  output %y
                }
                """);
        PassTesting.assertSameOutputs(PassTesting.parse(before), out, 0);
    }

    @Test
    void matMulTakesBiasAndGelu() {
        PassTesting.assertRewrites(new FuseEpilogue(), """
                kiln.ir 1
                graph g {
                  input %a : f32[1,3,2]
                  input %b : f32[2,4]
                  const %bias : f32[4] = [1.0, 2.0, 3.0, 4.0]
                  node @mm %c = MatMul(%a, %b) : f32[1,3,4]
                  node @add %s = Add(%bias, %c) : f32[1,3,4]
                  node @gelu %y = Gelu(%s) {approximate = "tanh"} : f32[1,3,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %a : f32[1,3,2]
                  input %b : f32[2,4]
                  const %bias : f32[4] = [1.0, 2.0, 3.0, 4.0]
                  node @mm %y = FusedMatMul(%a, %b, %bias) {activation = "GeluTanh"} : f32[1,3,4]
                  output %y
                }
                """);
    }

    @Test
    void gemmTakesSiluWrittenAsMulOfSigmoid() {
        PassTesting.assertRewrites(new FuseEpilogue(), """
                kiln.ir 1
                graph g {
                  input %a : f32[2,3]
                  const %b : f32[4,3] = [1.0, 0.0, -1.0, 0.5, 0.5, 0.5, 2.0, -2.0, 0.0, 0.25, 0.0, 1.0]
                  const %c : f32[4] = [0.1, 0.2, 0.3, 0.4]
                  node @gemm %g = Gemm(%a, %b, %c) {transB = 1} : f32[2,4]
                  node @sig %s = Sigmoid(%g) : f32[2,4]
                  node @mul %y = Mul(%g, %s) : f32[2,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %a : f32[2,3]
                  const %b : f32[4,3] = [1.0, 0.0, -1.0, 0.5, 0.5, 0.5, 2.0, -2.0, 0.0, 0.25, 0.0, 1.0]
                  const %c : f32[4] = [0.1, 0.2, 0.3, 0.4]
                  node @gemm %y = FusedGemm(%a, %b, %c) {activation = "Swish", activation_params = [1.0], transB = 1} : f32[2,4]
                  output %y
                }
                """);
    }

    @Test
    void convTakesHardSwishWrittenAsMulOfHardSigmoid() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,3,3]
                  const %w : f32[2,2,1,1] = [1.0, -2.0, 3.0, 0.5]
                  const %b : f32[2] = [0.5, -0.25]
                  node @conv %c = Conv(%x, %w, %b) : f32[1,2,3,3]
                  node @gate %s = HardSigmoid(%c) {alpha = 0.16666667, beta = 0.5} : f32[1,2,3,3]
                  node @mul %y = Mul(%s, %c) : f32[1,2,3,3]
                  output %y
                }
                """;
        Graph out = PassTesting.assertRewrites(new FuseEpilogue(), before, """
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,3,3]
                  const %w : f32[2,2,1,1] = [1.0, -2.0, 3.0, 0.5]
                  const %b : f32[2] = [0.5, -0.25]
                  node @conv %y = FusedConv(%x, %w, %b) {activation = "HardSwish"} : f32[1,2,3,3]
                  output %y
                }
                """);
        PassTesting.assertSameOutputs(PassTesting.parse(before), out, 1e-6);
        // another HardSigmoid is no HardSwish: it stays as it is
        String other = before.replace("alpha = 0.16666667", "alpha = 0.2");
        Graph unfused = new FuseEpilogue().apply(PassTesting.parse(other), PassTesting.context());
        assertEquals(PassTesting.print(PassTesting.parse(other)), PassTesting.print(unfused));
    }

    @Test
    void leavesAloneAProducerWhoseOutputHasOtherUsesOrNoEpilogue() {
        String ir = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,4,4]
                  const %w : f32[2,2,1,1] = [1.0, 2.0, 3.0, 4.0]
                  node @conv %c = Conv(%x, %w) : f32[1,2,4,4]
                  node @relu %r = Relu(%c) : f32[1,2,4,4]
                  node @sm %y = Softmax(%c) : f32[1,2,4,4]
                  node @conv2 %c2 = Conv(%r, %w) : f32[1,2,4,4]
                  node @sm2 %z = Softmax(%c2) : f32[1,2,4,4]
                  output %y
                  output %z
                }
                """;
        List<String> log = new ArrayList<>();
        assertEquals(ir, PassTesting.print(new FuseEpilogue().apply(PassTesting.parse(ir), logging(log))));
        assertEquals(List.of("fuse-epilogue: Conv 'conv' left unfused: its output has 2 uses",
                "fuse-epilogue: Conv 'conv2' left unfused: Softmax 'sm2' is no bias, residual or activation it can take"), log);
    }

    @Test
    void everyActivationFusesWithTheSameOutputs() {
        Random r = new Random(11);
        List<Object[]> activations = List.of(
                new Object[] {"Relu", Map.of()}, new Object[] {"LeakyRelu", Map.of("alpha", Attribute.of(0.2f))},
                new Object[] {"Clip", Map.of()}, new Object[] {"Sigmoid", Map.of()}, new Object[] {"Tanh", Map.of()},
                new Object[] {"HardSigmoid", Map.of("alpha", Attribute.of(0.3f))}, new Object[] {"HardSwish", Map.of()},
                new Object[] {"Swish", Map.of("alpha", Attribute.of(1.5f))}, new Object[] {"Gelu", Map.of()},
                new Object[] {"Elu", Map.of()}, new Object[] {"Softplus", Map.of()}, new Object[] {"Mish", Map.of()});
        for (Object[] a : activations) {
            @SuppressWarnings("unchecked")
            Map<String, Attribute> attrs = (Map<String, Attribute>) a[1];
            assertFuses(r, "Conv", new long[] {1, 3, 6, 6}, new long[][] {{4, 3, 3, 3}, {4}}, Map.of("pads", Attribute.of(1L, 1L, 1L, 1L)),
                    new long[] {4, 1, 1}, true, (String) a[0], attrs);
        }
        assertFuses(r, "ConvTranspose", new long[] {1, 4, 3, 3}, new long[][] {{4, 2, 3, 3}}, Map.of("group", Attribute.of(2L)),
                new long[] {1, 4, 1, 1}, true, "LeakyRelu", Map.of());
        assertFuses(r, "Gemm", new long[] {3, 5}, new long[][] {{4, 5}, {1, 4}}, Map.of("transB", Attribute.of(1L), "beta", Attribute.of(0.5f)),
                new long[] {3, 1}, true, "HardSwish", Map.of());
        assertFuses(r, "MatMul", new long[] {2, 3, 5}, new long[][] {{5, 4}}, Map.of(), new long[] {4}, true, "Tanh", Map.of());
        assertFuses(r, "MatMul", new long[] {2, 3, 5}, new long[][] {{5, 4}}, Map.of(), new long[] {3, 1}, false, "Sigmoid", Map.of());
    }

    /** producer -> Add(constant) -> [Add(residual input)] -> activation: fused into one node with the same outputs. */
    private static void assertFuses(Random r, String op, long[] input, long[][] constants, Map<String, Attribute> attrs,
                                    long[] bias, boolean residual, String activation, Map<String, Attribute> activationAttrs) {
        Graph g = new Graph("g");
        List<Value> inputs = new ArrayList<>(List.of(g.addInput("x", TensorType.of(DType.F32, input))));
        for (int i = 0; i < constants.length; i++) inputs.add(randomConstant(g, "k" + i, r, -1, 1, constants[i]));
        Value y = g.addNode("producer", op, inputs, attrs, List.of("y")).output(0);
        Value z = g.addNode("bias", "Add", List.of(randomConstant(g, "bias", r, -1, 1, bias), y), Map.of(), List.of("z")).output(0);
        if (residual) {
            Value skip = g.addInput("skip", z.type());
            z = g.addNode("residual", "Add", List.of(z, skip), Map.of(), List.of("r")).output(0);
        }
        List<Value> actInputs = new ArrayList<>(List.of(z));
        if (activation.equals("Clip")) {
            actInputs.add(randomConstant(g, "lo", r, -0.5, -0.2));
            actInputs.add(randomConstant(g, "hi", r, 0.2, 0.5));
        }
        g.addOutput(g.addNode("act", activation, actInputs, activationAttrs, List.of("out")).output(0));
        Graph fused = new FuseEpilogue().apply(g, PassTesting.context());
        assertEquals(1, fused.nodes().size(), PassTesting.print(fused));
        assertEquals("Fused" + op, fused.nodes().get(0).op());
        PassTesting.assertSameOutputs(g, fused, 1e-5);
    }

    @ParameterizedTest
    @ValueSource(strings = {"squeezenet1_1", "mobilenet_v2", "resnet18", "transformer_encoder"})
    void fixtureModelsLeaveNoProducerFeedingAnActivation(String model) {
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is not present");
        Graph raw = PassTesting.fixture(model);
        Graph folded = new FoldBatchNorm().apply(raw, PassTesting.context());
        Graph fused = new FuseEpilogue().apply(folded, PassTesting.context());
        System.out.printf("fuse-epilogue %s: producers feeding an activation %d -> %d, nodes %d -> %d, fused ops %d%n", model,
                unfused(folded), unfused(fused), folded.nodes().size(), fused.nodes().size(),
                fused.nodes().stream().filter(n -> n.op().startsWith("Fused")).count());
        assertEquals(0, unfused(fused));
        PassTesting.assertSameOutputs(raw, fused, 1e-4);
        // On the raw import (BatchNormalization still in between) the pass is just as safe.
        PassTesting.assertSameOutputs(raw, new FuseEpilogue().apply(raw, PassTesting.context()), 1e-4);
    }

    /** Conv, ConvTranspose, Gemm and MatMul nodes whose output feeds an activation directly or through one Add. */
    static long unfused(Graph g) {
        Uses uses = Uses.of(g);
        return g.nodes().stream().filter(n -> Set.of("Conv", "ConvTranspose", "Gemm", "MatMul").contains(n.op()))
                .filter(n -> feedsActivation(n.output(0), uses, true)).count();
    }

    private static boolean feedsActivation(Value v, Uses uses, boolean throughAdd) {
        for (Node c : uses.consumers(v)) {
            if (ACTIVATIONS.contains(c.op())) return true;
            if (c.op().equals("Mul") && uses.consumers(v).stream().anyMatch(s -> s.op().equals("Sigmoid"))) return true;
            if (throughAdd && c.op().equals("Add") && feedsActivation(c.output(0), uses, false)) return true;
        }
        return false;
    }
}
