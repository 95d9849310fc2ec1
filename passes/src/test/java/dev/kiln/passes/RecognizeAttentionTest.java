package dev.kiln.passes;

import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;

import static dev.kiln.passes.PassTesting.assertRewrites;
import static dev.kiln.passes.PassTesting.assertSameOutputs;
import static dev.kiln.passes.PassTesting.fixture;
import static dev.kiln.passes.PassTesting.parse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RecognizeAttentionTest {

    /** Checks the rewritten text and that it computes what the decomposed graph did. */
    private static void assertRecognizes(String before, String after) {
        Graph out = assertRewrites(new RecognizeAttention(), before, after);
        assertSameOutputs(parse(before), out, 1e-5);
    }

    private static void assertLeftAlone(String ir, String expectedLog) {
        List<String> log = new ArrayList<>();
        Graph g = parse(ir);
        Graph out = new RecognizeAttention().apply(g, PassContext.builder().debugLog(log::add).build());
        assertSame(g, out);
        assertTrue(log.stream().anyMatch(m -> m.contains(expectedLog)), "debug log " + log + " lacks '" + expectedLog + "'");
    }

    @Test
    void multiheadAttentionWithHeadsFoldedIntoTheBatchAsPyTorchExportsIt() {
        // [sequence, batch * heads, head size] projections, as nn.MultiheadAttention reshapes them.
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %q : f32[5,4,8]
                  input %k : f32[5,4,8]
                  input %v : f32[5,4,8]
                  const %root : f32[] = [2.828427]
                  node @"/attn/Transpose_2" %qt = Transpose(%q) {perm = [1, 0, 2]} : f32[4,5,8]
                  node @"/attn/Transpose_3" %vt = Transpose(%v) {perm = [1, 0, 2]} : f32[4,5,8]
                  node @"/attn/Div_1" %qs = Div(%qt, %root) : f32[4,5,8]
                  node @"/attn/Transpose_4" %kt = Transpose(%k) {perm = [1, 2, 0]} : f32[4,8,5]
                  node @"/attn/MatMul_1" %s = MatMul(%qs, %kt) : f32[4,5,5]
                  node @"/attn/Softmax" %p = Softmax(%s) {axis = -1} : f32[4,5,5]
                  node @"/attn/MatMul_2" %y = MatMul(%p, %vt) : f32[4,5,8]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %q : f32[5,4,8]
                  input %k : f32[5,4,8]
                  input %v : f32[5,4,8]
                  node @"/attn/Transpose_2" %qt = Transpose(%q) {perm = [1, 0, 2]} : f32[4,5,8]
                  node @"/attn/Transpose_3" %vt = Transpose(%v) {perm = [1, 0, 2]} : f32[4,5,8]
                  node @"/attn/KeyTranspose" %"/attn/key" = Transpose(%k) {perm = [1, 0, 2]} : f32[4,5,8]
                  node @"/attn/Attention" %y = Attention(%qt, %"/attn/key", %vt) {kv_num_heads = 1, q_num_heads = 1, scale = 0.35355338} : f32[4,5,8]
                  output %y
                }
                """);
    }

    @Test
    void fourDimensionalWithScaledScoresAndMask() {
        // The key transpose cancels against Kt's: Attention reads K as it is.
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %q : f32[1,2,3,4]
                  input %k : f32[1,2,3,4]
                  input %v : f32[1,2,3,4]
                  input %mask : f32[1,1,3,3]
                  const %two : f32[] = [2.0]
                  node @kt %kt = Transpose(%k) {perm = [0, 1, 3, 2]} : f32[1,2,4,3]
                  node @qk %s = MatMul(%q, %kt) : f32[1,2,3,3]
                  node @scale %ss = Div(%s, %two) : f32[1,2,3,3]
                  node @mask %sm = Add(%mask, %ss) : f32[1,2,3,3]
                  node @softmax %p = Softmax(%sm) {axis = 3} : f32[1,2,3,3]
                  node @pv %y = MatMul(%p, %v) : f32[1,2,3,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %q : f32[1,2,3,4]
                  input %k : f32[1,2,3,4]
                  input %v : f32[1,2,3,4]
                  input %mask : f32[1,1,3,3]
                  node @Attention %y = Attention(%q, %k, %v, %mask) {scale = 0.5} : f32[1,2,3,4]
                  output %y
                }
                """);
    }

    @Test
    void causalMaskFilledWithMinusInfinityAsDecodersWriteIt() {
        // masked_fill(future, -inf) with the keys after each query masked out: the causal limit
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %q : f32[1,2,3,4]
                  input %kt : f32[1,2,4,3]
                  input %v : f32[1,2,3,4]
                  const %scale : f32[] = [0.5]
                  const %future : bool[3,3] = [false, true, true, false, false, true, false, false, false]
                  const %minus : f32[] = [-inf]
                  node @qk %s = MatMul(%q, %kt) : f32[1,2,3,3]
                  node @scale %ss = Mul(%s, %scale) : f32[1,2,3,3]
                  node @fill %sm = Where(%future, %minus, %ss) : f32[1,2,3,3]
                  node @softmax %p = Softmax(%sm) {axis = -1} : f32[1,2,3,3]
                  node @pv %y = MatMul(%p, %v) : f32[1,2,3,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %q : f32[1,2,3,4]
                  input %kt : f32[1,2,4,3]
                  input %v : f32[1,2,3,4]
                  node @KeyTranspose %key = Transpose(%kt) {perm = [0, 1, 3, 2]} : f32[1,2,3,4]
                  node @Attention %y = Attention(%q, %key, %v) {is_causal = 1, scale = 0.5} : f32[1,2,3,4]
                  output %y
                }
                """);
    }

    @Test
    void otherConstantMasksFilledWithMinusInfinityAreNegated() {
        // a sliding window of one key back: not the causal limit, so the keys attended to become attn_mask
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %q : f32[1,2,3,4]
                  input %kt : f32[1,2,4,3]
                  input %v : f32[1,2,3,4]
                  const %outside : bool[3,3] = [false, true, true, false, false, true, true, false, false]
                  const %minus : f32[] = [-inf]
                  node @qk %s = MatMul(%q, %kt) : f32[1,2,3,3]
                  node @fill %sm = Where(%outside, %minus, %s) : f32[1,2,3,3]
                  node @softmax %p = Softmax(%sm) {axis = -1} : f32[1,2,3,3]
                  node @pv %y = MatMul(%p, %v) : f32[1,2,3,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %q : f32[1,2,3,4]
                  input %kt : f32[1,2,4,3]
                  input %v : f32[1,2,3,4]
                  const %outside_attended : bool[3,3] = [true, false, false, true, true, false, false, true, true]
                  node @KeyTranspose %key = Transpose(%kt) {perm = [0, 1, 3, 2]} : f32[1,2,3,4]
                  node @Attention %y = Attention(%q, %key, %v, %outside_attended) {scale = 1.0} : f32[1,2,3,4]
                  output %y
                }
                """);
    }

    @Test
    void additiveCausalMaskBecomesTheCausalLimit() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %q : f32[2,3,4]
                  input %k : f32[2,3,4]
                  input %v : f32[2,3,4]
                  const %causal : f32[3,3] = [0.0, -inf, -inf, 0.0, 0.0, -inf, 0.0, 0.0, 0.0]
                  node @kt %kt = Transpose(%k) {perm = [0, 2, 1]} : f32[2,4,3]
                  node @qk %s = MatMul(%q, %kt) : f32[2,3,3]
                  node @mask %sm = Add(%s, %causal) : f32[2,3,3]
                  node @softmax %p = Softmax(%sm) {axis = -1} : f32[2,3,3]
                  node @pv %y = MatMul(%p, %v) : f32[2,3,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %q : f32[2,3,4]
                  input %k : f32[2,3,4]
                  input %v : f32[2,3,4]
                  node @Attention %y = Attention(%q, %k, %v) {is_causal = 1, kv_num_heads = 1, q_num_heads = 1, scale = 1.0} : f32[2,3,4]
                  output %y
                }
                """);
    }

    @Test
    void maskKeepingScoresWhereTrueIsTheAttendedKeys() {
        // Where(attended, scores, -inf) with a mask computed in the graph: it is attn_mask as it is
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %q : f32[2,3,4]
                  input %kt : f32[2,4,3]
                  input %v : f32[2,3,4]
                  input %ids : i64[2,1,3]
                  const %zero : i64[] = [0]
                  const %minus : f32[1] = [-inf]
                  node @pad %padding = Equal(%ids, %zero) : bool[2,1,3]
                  node @keep %attended = Not(%padding) : bool[2,1,3]
                  node @qk %s = MatMul(%q, %kt) : f32[2,3,3]
                  node @fill %sm = Where(%attended, %s, %minus) : f32[2,3,3]
                  node @softmax %p = Softmax(%sm) {axis = -1} : f32[2,3,3]
                  node @pv %y = MatMul(%p, %v) : f32[2,3,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %q : f32[2,3,4]
                  input %kt : f32[2,4,3]
                  input %v : f32[2,3,4]
                  input %ids : i64[2,1,3]
                  const %zero : i64[] = [0]
                  const %mask_axes : i64[1] = [1]
                  node @pad %padding = Equal(%ids, %zero) : bool[2,1,3]
                  node @keep %attended = Not(%padding) : bool[2,1,3]
                  node @KeyTranspose %key = Transpose(%kt) {perm = [0, 2, 1]} : f32[2,3,4]
                  node @MaskUnsqueeze %mask = Unsqueeze(%attended, %mask_axes) : bool[2,1,1,3]
                  node @Attention %y = Attention(%q, %key, %v, %mask) {kv_num_heads = 1, q_num_heads = 1, scale = 1.0} : f32[2,3,4]
                  output %y
                }
                """);
    }

    @Test
    void whereFillingWithAFiniteValueIsLeftAlone() {
        // a finite fill replaces scores where Add of a mask would shift them: not the same softmax for rows masked everywhere
        assertLeftAlone("""
                kiln.ir 1
                graph g {
                  input %q : f32[1,2,3,4]
                  input %kt : f32[1,2,4,3]
                  input %v : f32[1,2,3,4]
                  input %masked : bool[3,3]
                  const %fill : f32[] = [-10000.0]
                  node @qk %s = MatMul(%q, %kt) : f32[1,2,3,3]
                  node @fill %sm = Where(%masked, %fill, %s) : f32[1,2,3,3]
                  node @softmax %p = Softmax(%sm) {axis = -1} : f32[1,2,3,3]
                  node @pv %y = MatMul(%p, %v) : f32[1,2,3,4]
                  output %y
                }
                """, "fills with something other than -inf");
    }

    @Test
    void scaleSplitBetweenQueriesAndKeysAndUntransposedKeys() {
        // Kt arrives as a graph input, so K is its transpose; sqrt(scale) on each side multiplies out.
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %q : f32[1,2,3,4]
                  input %kt : f32[1,2,4,3]
                  input %v : f32[1,2,3,4]
                  const %c : f32[] = [0.70710677]
                  node @qs %qs = Mul(%q, %c) : f32[1,2,3,4]
                  node @ks %ks = Mul(%c, %kt) : f32[1,2,4,3]
                  node @qk %s = MatMul(%qs, %ks) : f32[1,2,3,3]
                  node @softmax %p = Softmax(%s) {axis = -1} : f32[1,2,3,3]
                  node @pv %y = MatMul(%p, %v) : f32[1,2,3,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %q : f32[1,2,3,4]
                  input %kt : f32[1,2,4,3]
                  input %v : f32[1,2,3,4]
                  node @KeyTranspose %key = Transpose(%kt) {perm = [0, 1, 3, 2]} : f32[1,2,3,4]
                  node @Attention %y = Attention(%q, %key, %v) {scale = 0.49999997} : f32[1,2,3,4]
                  output %y
                }
                """);
    }

    @Test
    void unscaledAttentionWithAThreeDimensionalMaskGainsAHeadsAxis() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %q : f32[2,3,4]
                  input %k : f32[2,3,4]
                  input %v : f32[2,3,2]
                  input %mask : f32[2,3,3]
                  node @kt %kt = Transpose(%k) {perm = [0, 2, 1]} : f32[2,4,3]
                  node @qk %s = MatMul(%q, %kt) : f32[2,3,3]
                  node @mask %sm = Add(%s, %mask) : f32[2,3,3]
                  node @softmax %p = Softmax(%sm) {axis = -1} : f32[2,3,3]
                  node @pv %y = MatMul(%p, %v) : f32[2,3,2]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %q : f32[2,3,4]
                  input %k : f32[2,3,4]
                  input %v : f32[2,3,2]
                  input %mask : f32[2,3,3]
                  const %mask_axes : i64[1] = [1]
                  node @MaskUnsqueeze %mask_1 = Unsqueeze(%mask, %mask_axes) : f32[2,1,3,3]
                  node @Attention %y = Attention(%q, %k, %v, %mask_1) {kv_num_heads = 1, q_num_heads = 1, scale = 1.0} : f32[2,3,2]
                  output %y
                }
                """);
    }

    @Test
    void constantThreeDimensionalMaskIsReshapedInPlace() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %q : f32[3,2,4]
                  input %k : f32[3,2,4]
                  input %v : f32[3,2,4]
                  const %causal : f32[1,2,2] = [0.0, -10000.0, 0.0, 0.0]
                  const %quarter : f32[] = [0.25]
                  node @kt %kt = Transpose(%k) {perm = [0, 2, 1]} : f32[3,4,2]
                  node @qs %qs = Mul(%quarter, %q) : f32[3,2,4]
                  node @qk %s = MatMul(%qs, %kt) : f32[3,2,2]
                  node @mask %sm = Add(%s, %causal) : f32[3,2,2]
                  node @softmax %p = Softmax(%sm) {axis = 2} : f32[3,2,2]
                  node @pv %y = MatMul(%p, %v) : f32[3,2,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %q : f32[3,2,4]
                  input %k : f32[3,2,4]
                  input %v : f32[3,2,4]
                  const %causal : f32[1,1,2,2] = [0.0, -10000.0, 0.0, 0.0]
                  node @Attention %y = Attention(%q, %k, %v, %causal) {kv_num_heads = 1, q_num_heads = 1, scale = 0.25} : f32[3,2,4]
                  output %y
                }
                """);
    }

    @Test
    void keyTransposeReadElsewhereStaysAndIsUndone() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %q : f32[2,3,4]
                  input %k : f32[2,3,4]
                  input %v : f32[2,3,4]
                  node @kt %kt = Transpose(%k) {perm = [0, 2, 1]} : f32[2,4,3]
                  node @qk %s = MatMul(%q, %kt) : f32[2,3,3]
                  node @softmax %p = Softmax(%s) {axis = -1} : f32[2,3,3]
                  node @pv %y = MatMul(%p, %v) : f32[2,3,4]
                  output %y
                  output %kt
                }
                """, """
                kiln.ir 1
                graph g {
                  input %q : f32[2,3,4]
                  input %k : f32[2,3,4]
                  input %v : f32[2,3,4]
                  node @kt %kt = Transpose(%k) {perm = [0, 2, 1]} : f32[2,4,3]
                  node @KeyTranspose %key = Transpose(%kt) {perm = [0, 2, 1]} : f32[2,3,4]
                  node @Attention %y = Attention(%q, %key, %v) {kv_num_heads = 1, q_num_heads = 1, scale = 1.0} : f32[2,3,4]
                  output %y
                  output %kt
                }
                """);
    }

    /** Attention over q, k : f32[2,3,4] with the given Softmax axis, mask, K shape and extra outputs. */
    private static String attention(String axis, String maskShape, String kShape, String scale, String outputs) {
        return """
                kiln.ir 1
                graph g {
                  input %q : f32[2,3,4]
                  input %kt : f32[KSHAPE]
                  input %v : f32[2,3,4]
                  input %mask : f32[MASK]
                  const %scale : f32[] = [SCALE]
                  node @qs %qs = Mul(%q, %scale) : f32[2,3,4]
                  node @qk %s = MatMul(%qs, %kt) : f32[2,3,3]
                  node @mask %sm = Add(%s, %mask) : f32[2,3,3]
                  node @softmax %p = Softmax(%sm) {axis = AXIS} : f32[2,3,3]
                  node @pv %y = MatMul(%p, %v) : f32[2,3,4]
                  output %y
                OUTPUTS}
                """.replace("AXIS", axis).replace("MASK", maskShape).replace("KSHAPE", kShape).replace("SCALE", scale).replace("OUTPUTS", outputs);
    }

    @Test
    void nearMissesAreLeftAlone() {
        assertRecognizes(attention("-1", "3,3", "2,4,3", "0.5", ""), """
                kiln.ir 1
                graph g {
                  input %q : f32[2,3,4]
                  input %kt : f32[2,4,3]
                  input %v : f32[2,3,4]
                  input %mask : f32[3,3]
                  node @KeyTranspose %key = Transpose(%kt) {perm = [0, 2, 1]} : f32[2,3,4]
                  node @Attention %y = Attention(%q, %key, %v, %mask) {kv_num_heads = 1, q_num_heads = 1, scale = 0.5} : f32[2,3,4]
                  output %y
                }
                """);
        assertLeftAlone(attention("1", "3,3", "2,4,3", "0.5", ""), "left Softmax @softmax alone: it is not over the last axis");
        assertLeftAlone(attention("-1", "3,1", "2,4,3", "0.5", ""), "the mask f32[3,1] does not cover each of the 3 keys");
        assertLeftAlone(attention("-1", "3,3", "1,4,3", "0.5", ""), "Q, K and V differ in their leading dimensions");
        assertLeftAlone(attention("-1", "3,3", "2,4,3", "-0.5", ""), "the scale -0.5 is not positive and finite");
        assertLeftAlone(attention("-1", "3,3", "2,4,3", "0.5", "  output %s\n"), "the intermediate %s is a graph output");
        assertLeftAlone(attention("-1", "3,3", "2,4,3", "0.5", "  output %p\n"), "the intermediate %p is a graph output");
    }

    @Test
    void unknownOpsAreLeftAloneAndLogged() {
        String ir = """
                kiln.ir 1
                graph g {
                  input %q : f32[2,3,4]
                  input %kt : f32[2,4,3]
                  input %v : f32[2,3,4]
                  node @qk %s = MyScores(%q, %kt) : f32[2,3,3]
                  node @softmax %p = Softmax(%s) {axis = -1} : f32[2,3,3]
                  node @pv %y = MatMul(%p, %v) : f32[2,3,4]
                  output %y
                }
                """;
        List<String> log = new ArrayList<>();
        Graph g = parse(ir);
        Graph out = new RecognizeAttention().apply(g, PassContext.builder().verify(false).debugLog(log::add).build());
        assertSame(g, out);
        assertTrue(log.contains("recognize-attention: left unknown op MyScores @qk alone"), log.toString());
        assertTrue(log.contains("recognize-attention: left Softmax @softmax alone: its input is not a (scaled) MatMul of queries and keys"),
                log.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"squeezenet1_1", "mobilenet_v2", "transformer_encoder", "resnet18"})
    void fixturesKeepTheirOutputs(String model) {
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is not made");
        Graph before = fixture(model);
        Graph after = new RecognizeAttention().apply(fixture(model), PassTesting.context());
        long attentions = after.nodes().stream().map(Node::op).filter("Attention"::equals).count();
        assertEquals(model.equals("transformer_encoder") ? 2 : 0, attentions);
        if (model.equals("transformer_encoder")) {
            assertEquals(0, after.nodes().stream().filter(n -> n.op().equals("Softmax")).count());
            // Per layer: Div, MatMul, Softmax, MatMul and the key Transpose become one Attention and one Transpose.
            assertEquals(before.nodes().size() - 2 * 3, after.nodes().size());
        } else {
            assertEquals(PassTesting.print(before), PassTesting.print(after));
        }
        assertSameOutputs(before, after, 1e-4);
    }
}
