package dev.kiln.passes;

import dev.kiln.ir.Graph;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static dev.kiln.passes.PassTesting.assertRewrites;
import static dev.kiln.passes.PassTesting.assertSameOutputs;
import static dev.kiln.passes.PassTesting.context;
import static dev.kiln.passes.PassTesting.parse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FuseSqueezeExciteTest {
    /** Checks the rewritten text and that it computes what the unfused graph did. */
    private static void assertFuses(String before, String after) {
        Graph out = assertRewrites(new FuseSqueezeExcite(), before, after);
        assertSameOutputs(parse(before), out, 1e-6);
    }

    private static void assertLeftAlone(String ir, String expectedLog) {
        List<String> log = new ArrayList<>();
        Graph g = parse(ir);
        Graph out = new FuseSqueezeExcite().apply(g, PassContext.builder().debugLog(log::add).build());
        assertSame(g, out);
        assertTrue(log.stream().anyMatch(m -> m.contains(expectedLog)), "debug log " + log + " lacks '" + expectedLog + "'");
    }

    @Test
    void torchvisionBlockWithSiluAndSigmoid() {
        assertFuses("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,3,4,5]
                  const %w1 : f32[2,3,1,1] = [0.5, -1.0, 0.25, 1.5, 0.75, -0.5]
                  const %b1 : f32[2] = [0.1, -0.2]
                  const %w2 : f32[3,2,1,1] = [1.0, -2.0, 0.5, 0.5, -1.5, 2.0]
                  const %b2 : f32[3] = [0.0, 0.3, -0.3]
                  node @"/block.1/avgpool/GlobalAveragePool" %p = GlobalAveragePool(%x) : f32[1,3,1,1]
                  node @"/block.1/fc1/Conv" %h = FusedConv(%p, %w1, %b1) {activation = "Swish", activation_params = [1.0]} : f32[1,2,1,1]
                  node @"/block.1/fc2/Conv" %g = FusedConv(%h, %w2, %b2) {activation = "Sigmoid"} : f32[1,3,1,1]
                  node @"/block.1/Mul" %y = Mul(%g, %x) : f32[1,3,4,5]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[1,3,4,5]
                  const %w1_matrix : f32[2,3] = [0.5, -1.0, 0.25, 1.5, 0.75, -0.5]
                  const %w2_matrix : f32[3,2] = [1.0, -2.0, 0.5, 0.5, -1.5, 2.0]
                  const %b1 : f32[2] = [0.1, -0.2]
                  const %b2 : f32[3] = [0.0, 0.3, -0.3]
                  node @"/block.1/SqueezeExcite" %y = SqueezeExcite(%x, %w1_matrix, %w2_matrix, %b1, %b2) {activation = "Swish", activation_params = [1.0], gate = "Sigmoid"} : f32[1,3,4,5]
                  output %y
                }
                """);
    }

    @Test
    void reduceMeanWithoutBiasesAndHardSigmoidGateOnOneDimensionalInput() {
        assertFuses("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,2,6]
                  const %axes : i64[1] = [-1]
                  const %w1 : f32[1,2,1] = [0.5, -1.0]
                  const %w2 : f32[2,1,1] = [2.0, -3.0]
                  node @pool %p = ReduceMean(%x, %axes) : f32[2,2,1]
                  node @fc1 %h = Conv(%p, %w1) : f32[2,1,1]
                  node @fc2 %g = FusedConv(%h, %w2) {activation = "HardSigmoid", activation_params = [0.16666667, 0.5]} : f32[2,2,1]
                  node @scale %y = Mul(%x, %g) : f32[2,2,6]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,2,6]
                  const %w1_matrix : f32[1,2] = [0.5, -1.0]
                  const %w2_matrix : f32[2,1] = [2.0, -3.0]
                  node @SqueezeExcite %y = SqueezeExcite(%x, %w1_matrix, %w2_matrix) {activation = "None", gate = "HardSigmoid", gate_params = [0.16666667, 0.5]} : f32[2,2,6]
                  output %y
                }
                """);
    }

    @Test
    void aPooledValueReadElsewhereIsLeftAlone() {
        assertLeftAlone("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,3,3]
                  const %w1 : f32[1,2,1,1] = [0.5, -1.0]
                  const %w2 : f32[2,1,1,1] = [2.0, -3.0]
                  node @pool %p = GlobalAveragePool(%x) : f32[1,2,1,1]
                  node @fc1 %h = FusedConv(%p, %w1) {activation = "Relu"} : f32[1,1,1,1]
                  node @fc2 %g = FusedConv(%h, %w2) {activation = "Sigmoid"} : f32[1,2,1,1]
                  node @scale %y = Mul(%x, %g) : f32[1,2,3,3]
                  output %y
                  output %p
                }
                """, "the intermediate %p is a graph output");
    }

    @Test
    void aGateOverSeveralPositionsIsLeftAlone() {
        assertLeftAlone("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,2,3,3]
                  const %w1 : f32[1,2,1,1] = [0.5, -1.0]
                  const %w2 : f32[2,1,1,1] = [2.0, -3.0]
                  const %axes : i64[1] = [3]
                  node @pool %p = ReduceMean(%x, %axes) : f32[1,2,3,1]
                  node @fc1 %h = FusedConv(%p, %w1) {activation = "Relu"} : f32[1,1,3,1]
                  node @fc2 %g = FusedConv(%h, %w2) {activation = "Sigmoid"} : f32[1,2,3,1]
                  node @scale %y = Mul(%x, %g) : f32[1,2,3,3]
                  output %y
                }
                """, "the gate is not over one position");
    }
}
