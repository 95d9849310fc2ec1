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

class RecognizeGeluTest {
    private static final String GELU = """
            kiln.ir 1
            graph g {
              input %x : f32[2,8]
              node @Gelu %y = Gelu(%x) : f32[2,8]
              output %y
            }
            """;
    private static final String GELU_TANH = """
            kiln.ir 1
            graph g {
              input %x : f32[2,8]
              node @Gelu %y = Gelu(%x) {approximate = "tanh"} : f32[2,8]
              output %y
            }
            """;

    /** Checks the rewritten text and that it computes what the decomposed graph did. */
    private static void assertRecognizes(String before, String after) {
        Graph out = assertRewrites(new RecognizeGelu(), before, after);
        assertSameOutputs(parse(before), out, 1e-5);
    }

    private static void assertLeftAlone(String ir, String expectedLog) {
        List<String> log = new ArrayList<>();
        Graph g = parse(ir);
        Graph out = new RecognizeGelu().apply(g, PassContext.builder().debugLog(log::add).build());
        assertSame(g, out);
        assertTrue(log.stream().anyMatch(m -> m.contains(expectedLog)), "debug log " + log + " lacks '" + expectedLog + "'");
    }

    @Test
    void erfFormAsPyTorchExportsIt() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,8]
                  const %sqrt2 : f32[] = [1.4142135]
                  const %one : f32[] = [1.0]
                  const %half : f32[] = [0.5]
                  node @"/layers.0/Div" %t = Div(%x, %sqrt2) : f32[2,8]
                  node @"/layers.0/Erf" %e = Erf(%t) : f32[2,8]
                  node @"/layers.0/Add_1" %a = Add(%e, %one) : f32[2,8]
                  node @"/layers.0/Mul" %m = Mul(%x, %a) : f32[2,8]
                  node @"/layers.0/Mul_1" %y = Mul(%m, %half) : f32[2,8]
                  output %y
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,8]
                  node @"/layers.0/Gelu" %y = Gelu(%x) : f32[2,8]
                  output %y
                }
                """);
    }

    @Test
    void erfFormWithHalfTimesXFirstAndMulByInverseRoot() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,8]
                  const %invSqrt2 : f32[] = [0.70710677]
                  const %one : f32[] = [1.0]
                  const %half : f32[] = [0.5]
                  node @halfx %hx = Mul(%half, %x) : f32[2,8]
                  node @scale %t = Mul(%invSqrt2, %x) : f32[2,8]
                  node @erf %e = Erf(%t) : f32[2,8]
                  node @plus1 %a = Add(%one, %e) : f32[2,8]
                  node @mul %y = Mul(%a, %hx) : f32[2,8]
                  output %y
                }
                """, GELU);
    }

    @Test
    void erfFormWithHalfFoldedIntoTheSum() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,8]
                  const %sqrt2 : f32[] = [1.4142135]
                  const %one : f32[] = [1.0]
                  const %half : f32[] = [0.5]
                  node @div %t = Div(%x, %sqrt2) : f32[2,8]
                  node @erf %e = Erf(%t) : f32[2,8]
                  node @plus1 %a = Add(%e, %one) : f32[2,8]
                  node @halve %ha = Mul(%a, %half) : f32[2,8]
                  node @mul %y = Mul(%x, %ha) : f32[2,8]
                  output %y
                }
                """, GELU);
    }

    @Test
    void tanhFormWithPow() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,8]
                  const %three : f32[] = [3.0]
                  const %kappa : f32[] = [0.044715]
                  const %beta : f32[] = [0.7978846]
                  const %one : f32[] = [1.0]
                  const %half : f32[] = [0.5]
                  node @cube %x3 = Pow(%x, %three) : f32[2,8]
                  node @cubic %c = Mul(%kappa, %x3) : f32[2,8]
                  node @inner %s = Add(%x, %c) : f32[2,8]
                  node @scale %u = Mul(%s, %beta) : f32[2,8]
                  node @tanh %th = Tanh(%u) : f32[2,8]
                  node @plus1 %a = Add(%th, %one) : f32[2,8]
                  node @halfx %hx = Mul(%x, %half) : f32[2,8]
                  node @mul %y = Mul(%hx, %a) : f32[2,8]
                  output %y
                }
                """, GELU_TANH);
    }

    @Test
    void tanhFormWithCubeAsProducts() {
        assertRecognizes("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,8]
                  const %kappa : f32[] = [0.044715]
                  const %beta : f32[] = [0.7978846]
                  const %one : f32[] = [1.0]
                  const %half : f32[] = [0.5]
                  node @square %x2 = Mul(%x, %x) : f32[2,8]
                  node @cube %x3 = Mul(%x2, %x) : f32[2,8]
                  node @cubic %c = Mul(%x3, %kappa) : f32[2,8]
                  node @inner %s = Add(%c, %x) : f32[2,8]
                  node @scale %u = Mul(%beta, %s) : f32[2,8]
                  node @tanh %th = Tanh(%u) : f32[2,8]
                  node @plus1 %a = Add(%one, %th) : f32[2,8]
                  node @mul %m = Mul(%x, %a) : f32[2,8]
                  node @halve %y = Mul(%half, %m) : f32[2,8]
                  output %y
                }
                """, GELU_TANH);
    }

    /** x * 0.5 * (1 + erf(x / DIV)) with the last product by HALF of OTHER. */
    private static String erfGelu(String div, String half, String other, String outputs) {
        return """
                kiln.ir 1
                graph g {
                  input %x : f32[2,8]
                  input %z : f32[2,8]
                  const %div : f32[] = [DIV]
                  const %one : f32[] = [1.0]
                  const %half : f32[] = [HALF]
                  node @div %t = Div(%x, %div) : f32[2,8]
                  node @erf %e = Erf(%t) : f32[2,8]
                  node @plus1 %a = Add(%e, %one) : f32[2,8]
                  node @mul %m = Mul(%OTHER, %a) : f32[2,8]
                  node @halve %y = Mul(%m, %half) : f32[2,8]
                  output %y
                OUTPUTS}
                """.replace("DIV", div).replace("HALF", half).replace("OTHER", other).replace("OUTPUTS", outputs);
    }

    @Test
    void nearMissesAreLeftAlone() {
        assertLeftAlone(erfGelu("2.0", "0.5", "x", ""), "left Erf @erf alone: its argument is not x / sqrt(2)");
        assertLeftAlone(erfGelu("1.4142135", "0.25", "x", ""), "(1 + Erf) is not multiplied by exactly x and 0.5");
        assertLeftAlone(erfGelu("1.4142135", "0.5", "z", ""), "(1 + Erf) is not multiplied by exactly x and 0.5");
        assertLeftAlone(erfGelu("1.4142135", "0.5", "x", "  output %e\n"), "the intermediate %e is a graph output");
        // A product read elsewhere is a factor of its own, not x or 0.5 or the sum.
        assertLeftAlone(erfGelu("1.4142135", "0.5", "x", "  output %m\n"), "(1 + Erf) is not multiplied by exactly x and 0.5");
    }

    @Test
    void unknownOpsAreLeftAloneAndLogged() {
        String ir = """
                kiln.ir 1
                graph g {
                  input %x : f32[2,8]
                  node @custom %c = MyActivation(%x) : f32[2,8]
                  node @erf %y = Erf(%c) : f32[2,8]
                  output %y
                }
                """;
        List<String> log = new ArrayList<>();
        Graph g = parse(ir);
        Graph out = new RecognizeGelu().apply(g, PassContext.builder().verify(false).debugLog(log::add).build());
        assertSame(g, out);
        assertTrue(log.contains("recognize-gelu: left unknown op MyActivation @custom alone"), log.toString());
        assertTrue(log.contains("recognize-gelu: left Erf @erf alone: its argument is not x / sqrt(2) or x * (1 / sqrt(2)) for a constant"),
                log.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"squeezenet1_1", "mobilenet_v2", "transformer_encoder", "resnet18"})
    void fixturesKeepTheirOutputs(String model) {
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is not made");
        Graph before = fixture(model);
        Graph after = new RecognizeGelu().apply(fixture(model), PassTesting.context());
        long gelus = after.nodes().stream().map(Node::op).filter("Gelu"::equals).count();
        assertEquals(model.equals("transformer_encoder") ? 2 : 0, gelus);
        if (model.equals("transformer_encoder")) {
            assertEquals(0, after.nodes().stream().filter(n -> n.op().equals("Erf")).count());
            assertEquals(before.nodes().size() - 2 * 4, after.nodes().size());
        } else {
            assertEquals(PassTesting.print(before), PassTesting.print(after));
        }
        assertSameOutputs(before, after, 1e-4);
    }
}
