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

class RecognizeLayerNormTest {

    /** Checks the rewritten text and that it computes what the decomposed graph did. */
    private static void assertRecognizes(String before, String after) {
        Graph out = assertRewrites(new RecognizeLayerNorm(), before, after);
        assertSameOutputs(parse(before), out, 1e-5);
    }

    /** Checks the pass leaves the graph alone and logs why. */
    private static void assertLeftAlone(String ir, String expectedLog) {
        List<String> log = new ArrayList<>();
        Graph g = parse(ir);
        Graph out = new RecognizeLayerNorm().apply(g, PassContext.builder().debugLog(log::add).build());
        assertSame(g, out);
        assertTrue(log.stream().anyMatch(m -> m.contains(expectedLog)), "debug log " + log + " lacks '" + expectedLog + "'");
    }

    @Test
    void layerNormWithScaleAndBiasAsPyTorchExportsIt() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  const %axes : i64[1] = [-1]
                  const %two : f32[] = [2.0]
                  const %eps : f32[] = [1.0E-5]
                  const %gamma : f32[4] = [1.0, 2.0, 0.5, -1.0]
                  const %beta : f32[4] = [0.1, 0.2, 0.3, 0.4]
                  node @"/norm/ReduceMean" %mean = ReduceMean(%x, %axes) : f32[2,3,1]
                  node @"/norm/Sub" %d = Sub(%x, %mean) : f32[2,3,4]
                  node @"/norm/Pow" %sq = Pow(%d, %two) : f32[2,3,4]
                  node @"/norm/ReduceMean_1" %var = ReduceMean(%sq, %axes) : f32[2,3,1]
                  node @"/norm/Add" %ve = Add(%var, %eps) : f32[2,3,1]
                  node @"/norm/Sqrt" %std = Sqrt(%ve) : f32[2,3,1]
                  node @"/norm/Div" %n = Div(%d, %std) : f32[2,3,4]
                  node @"/norm/Mul" %scaled = Mul(%n, %gamma) : f32[2,3,4]
                  node @"/norm/Add_1" %y = Add(%scaled, %beta) : f32[2,3,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  const %gamma : f32[4] = [1.0, 2.0, 0.5, -1.0]
                  const %beta : f32[4] = [0.1, 0.2, 0.3, 0.4]
                  node @"/norm/LayerNormalization" %y = LayerNormalization(%x, %gamma, %beta) {axis = -1, epsilon = 1.0E-5} : f32[2,3,4]
                  output %y
                }
                """);
    }

    @Test
    void layerNormWithSquareAsMulReciprocalAndSwappedOperands() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  input %gamma : f32[4]
                  input %beta : f32[4]
                  const %axes : i64[1] = [2]
                  const %eps : f32[] = [1.0E-6]
                  node @mean %mean = ReduceMean(%x, %axes) : f32[2,3,1]
                  node @sub %d = Sub(%x, %mean) : f32[2,3,4]
                  node @square %sq = Mul(%d, %d) : f32[2,3,4]
                  node @var %var = ReduceMean(%sq, %axes) : f32[2,3,1]
                  node @plus_eps %ve = Add(%eps, %var) : f32[2,3,1]
                  node @sqrt %std = Sqrt(%ve) : f32[2,3,1]
                  node @inv %inv = Reciprocal(%std) : f32[2,3,1]
                  node @normalize %n = Mul(%inv, %d) : f32[2,3,4]
                  node @scale %scaled = Mul(%gamma, %n) : f32[2,3,4]
                  node @shift %y = Add(%beta, %scaled) : f32[2,3,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  input %gamma : f32[4]
                  input %beta : f32[4]
                  node @LayerNormalization %y = LayerNormalization(%x, %gamma, %beta) {axis = -1, epsilon = 1.0E-6} : f32[2,3,4]
                  output %y
                }
                """);
    }

    @Test
    void layerNormWithoutScaleOrBiasGetsUnitScale() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,4]
                  const %axes : i64[1] = [-1]
                  const %half : f32[] = [-0.5]
                  const %eps : f32[] = [1.0E-5]
                  node @mean %mean = ReduceMean(%x, %axes) : f32[2,1]
                  node @sub %d = Sub(%x, %mean) : f32[2,4]
                  node @square %sq = Mul(%d, %d) : f32[2,4]
                  node @var %var = ReduceMean(%sq, %axes) : f32[2,1]
                  node @plus_eps %ve = Add(%var, %eps) : f32[2,1]
                  node @rsqrt %inv = Pow(%ve, %half) : f32[2,1]
                  node @normalize %y = Mul(%d, %inv) : f32[2,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,4]
                  const %ones : f32[4] = [1.0, 1.0, 1.0, 1.0]
                  node @LayerNormalization %y = LayerNormalization(%x, %ones) {axis = -1, epsilon = 1.0E-5} : f32[2,4]
                  output %y
                }
                """);
    }

    @Test
    void layerNormWithBiasOnlyGetsUnitScale() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,4]
                  const %axes : i64[1] = [-1]
                  const %two : f32[] = [2.0]
                  const %eps : f32[] = [1.0E-5]
                  const %beta : f32[4] = [0.1, 0.2, 0.3, 0.4]
                  node @mean %mean = ReduceMean(%x, %axes) : f32[2,1]
                  node @sub %d = Sub(%x, %mean) : f32[2,4]
                  node @pow %sq = Pow(%d, %two) : f32[2,4]
                  node @var %var = ReduceMean(%sq, %axes) : f32[2,1]
                  node @plus_eps %ve = Add(%var, %eps) : f32[2,1]
                  node @sqrt %std = Sqrt(%ve) : f32[2,1]
                  node @div %n = Div(%d, %std) : f32[2,4]
                  node @shift %y = Add(%n, %beta) : f32[2,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,4]
                  const %ones : f32[4] = [1.0, 1.0, 1.0, 1.0]
                  const %beta : f32[4] = [0.1, 0.2, 0.3, 0.4]
                  node @LayerNormalization %y = LayerNormalization(%x, %ones, %beta) {axis = -1, epsilon = 1.0E-5} : f32[2,4]
                  output %y
                }
                """);
    }

    @Test
    void layerNormOverTheLastTwoAxes() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  const %axes : i64[2] = [-1, 1]
                  const %two : f32[] = [2.0]
                  const %eps : f32[] = [1.0E-5]
                  const %gamma : f32[3,1] = [1.0, 2.0, 3.0]
                  node @mean %mean = ReduceMean(%x, %axes) : f32[2,1,1]
                  node @sub %d = Sub(%x, %mean) : f32[2,3,4]
                  node @pow %sq = Pow(%d, %two) : f32[2,3,4]
                  node @var %var = ReduceMean(%sq, %axes) : f32[2,1,1]
                  node @plus_eps %ve = Add(%var, %eps) : f32[2,1,1]
                  node @sqrt %std = Sqrt(%ve) : f32[2,1,1]
                  node @div %n = Div(%d, %std) : f32[2,3,4]
                  node @scale %y = Mul(%n, %gamma) : f32[2,3,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  const %gamma : f32[3,1] = [1.0, 2.0, 3.0]
                  node @LayerNormalization %y = LayerNormalization(%x, %gamma) {axis = -2, epsilon = 1.0E-5} : f32[2,3,4]
                  output %y
                }
                """);
    }

    @Test
    void rmsNormWithScale() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  const %axes : i64[1] = [-1]
                  const %two : f32[] = [2.0]
                  const %eps : f32[] = [1.0E-6]
                  const %gamma : f32[4] = [1.0, 2.0, 0.5, -1.0]
                  node @"/rms/Pow" %sq = Pow(%x, %two) : f32[2,3,4]
                  node @"/rms/ReduceMean" %ms = ReduceMean(%sq, %axes) : f32[2,3,1]
                  node @"/rms/Add" %mse = Add(%ms, %eps) : f32[2,3,1]
                  node @"/rms/Sqrt" %rms = Sqrt(%mse) : f32[2,3,1]
                  node @"/rms/Reciprocal" %inv = Reciprocal(%rms) : f32[2,3,1]
                  node @"/rms/Mul" %n = Mul(%x, %inv) : f32[2,3,4]
                  node @"/rms/Mul_1" %y = Mul(%gamma, %n) : f32[2,3,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  const %gamma : f32[4] = [1.0, 2.0, 0.5, -1.0]
                  node @"/rms/RMSNormalization" %y = RMSNormalization(%x, %gamma) {axis = -1, epsilon = 1.0E-6} : f32[2,3,4]
                  output %y
                }
                """);
    }

    @Test
    void rmsNormLeavesTheFollowingAddAlone() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,4]
                  const %axes : i64[1] = [-1]
                  const %eps : f32[] = [1.0E-6]
                  const %beta : f32[4] = [0.1, 0.2, 0.3, 0.4]
                  node @square %sq = Mul(%x, %x) : f32[2,4]
                  node @ms %ms = ReduceMean(%sq, %axes) : f32[2,1]
                  node @plus_eps %mse = Add(%ms, %eps) : f32[2,1]
                  node @sqrt %rms = Sqrt(%mse) : f32[2,1]
                  node @div %n = Div(%x, %rms) : f32[2,4]
                  node @shift %y = Add(%n, %beta) : f32[2,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,4]
                  const %ones : f32[4] = [1.0, 1.0, 1.0, 1.0]
                  const %beta : f32[4] = [0.1, 0.2, 0.3, 0.4]
                  node @RMSNormalization %n = RMSNormalization(%x, %ones) {axis = -1, epsilon = 1.0E-6} : f32[2,4]
                  node @shift %y = Add(%n, %beta) : f32[2,4]
                  output %y
                }
                """);
    }

    @Test
    void scaleVaryingOverANonNormalizedAxisStaysAMul() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,4]
                  const %axes : i64[1] = [-1]
                  const %two : f32[] = [2.0]
                  const %eps : f32[] = [1.0E-5]
                  const %rowScale : f32[2,1] = [2.0, 3.0]
                  node @mean %mean = ReduceMean(%x, %axes) : f32[2,1]
                  node @sub %d = Sub(%x, %mean) : f32[2,4]
                  node @pow %sq = Pow(%d, %two) : f32[2,4]
                  node @var %var = ReduceMean(%sq, %axes) : f32[2,1]
                  node @plus_eps %ve = Add(%var, %eps) : f32[2,1]
                  node @sqrt %std = Sqrt(%ve) : f32[2,1]
                  node @div %n = Div(%d, %std) : f32[2,4]
                  node @scale %y = Mul(%n, %rowScale) : f32[2,4]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,4]
                  const %ones : f32[4] = [1.0, 1.0, 1.0, 1.0]
                  const %rowScale : f32[2,1] = [2.0, 3.0]
                  node @LayerNormalization %n = LayerNormalization(%x, %ones) {axis = -1, epsilon = 1.0E-5} : f32[2,4]
                  node @scale %y = Mul(%n, %rowScale) : f32[2,4]
                  output %y
                }
                """);
    }

    /** The decomposed layer norm over {@code axes} of x : f32[2,3,4], with {@code eps} as its epsilon and {@code extra} lines before the output. */
    private static String layerNorm(String axes, String eps, String extra, String outputs) {
        return """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3,4]
                  input %e : f32[]
                  const %axes : i64[1] = [AXES]
                  const %two : f32[] = [2.0]
                  const %eps : f32[] = [1.0E-5]
                  node @mean %mean = ReduceMean(%x, %axes) : f32[MEAN]
                  node @sub %d = Sub(%x, %mean) : f32[2,3,4]
                  node @pow %sq = Pow(%d, %two) : f32[2,3,4]
                  node @var %var = ReduceMean(%sq, %axes) : f32[MEAN]
                  node @plus_eps %ve = Add(%var, %EPS) : f32[MEAN]
                  node @sqrt %std = Sqrt(%ve) : f32[MEAN]
                  node @div %y = Div(%d, %std) : f32[2,3,4]
                EXTRA  output %y
                OUTPUTS}
                """.replace("AXES", axes).replace("MEAN", axes.equals("1") ? "2,1,4" : "2,3,1")
                .replace("EPS", eps).replace("EXTRA", extra).replace("OUTPUTS", outputs);
    }

    @Test
    void nearMissesAreLeftAlone() {
        assertLeftAlone(layerNorm("1", "eps", "", ""), "it does not average over the last axes");
        assertLeftAlone(layerNorm("-1", "e", "", ""), "not followed by an Add of a constant epsilon");
        assertLeftAlone(layerNorm("-1", "eps", "  node @other %o = Neg(%std) : f32[2,3,1]\n", "  output %o\n"),
                "the intermediate %std is also used by @other");
        assertLeftAlone(layerNorm("-1", "eps", "", "  output %var\n"), "the intermediate %var is a graph output");
    }

    @Test
    void unknownOpsAreLeftAloneAndLogged() {
        String ir = """
                kiln.ir 1
                graph g {
                  input %x : f32[2,4]
                  const %axes : i64[1] = [-1]
                  node @custom %c = MyNorm(%x) : f32[2,4]
                  node @mean %y = ReduceMean(%c, %axes) : f32[2,1]
                  output %y
                }
                """;
        List<String> log = new ArrayList<>();
        Graph g = parse(ir);
        Graph out = new RecognizeLayerNorm().apply(g, PassContext.builder().verify(false).debugLog(log::add).build());
        assertSame(g, out);
        assertTrue(log.contains("recognize-layer-norm: left unknown op MyNorm @custom alone"), log.toString());
        assertTrue(log.contains("recognize-layer-norm: left ReduceMean @mean alone: its input is not Pow(d, 2) or Mul(d, d): not a variance"), log.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"squeezenet1_1", "mobilenet_v2", "transformer_encoder", "resnet18"})
    void fixturesKeepTheirOutputs(String model) {
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is not made");
        Graph before = fixture(model);
        Graph after = new RecognizeLayerNorm().apply(fixture(model), PassTesting.context());
        long norms = after.nodes().stream().map(Node::op).filter("LayerNormalization"::equals).count();
        assertEquals(model.equals("transformer_encoder") ? 4 : 0, norms);
        if (model.equals("transformer_encoder")) {
            assertEquals(0, after.nodes().stream().filter(n -> n.op().equals("ReduceMean") || n.op().equals("Sqrt")).count());
            assertEquals(before.nodes().size() - 4 * 8, after.nodes().size());
        } else {
            assertEquals(PassTesting.print(before), PassTesting.print(after));
        }
        assertSameOutputs(before, after, 1e-4);
    }
}
