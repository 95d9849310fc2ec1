package dev.kiln.passes;

import dev.kiln.ir.Graph;
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
import static dev.kiln.passes.PassTesting.print;
import static org.junit.jupiter.api.Assertions.assertEquals;

class EliminateDeadCodeTest {

    @Test
    void dropsNodesThatReachNoOutputAndUnusedConstants() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2]
                  const %a : f32[2] = [1.0, 2.0]
                  const %unused : f32[2] = [3.0, 4.0]
                  node @add %y = Add(%x, %a) : f32[2]
                  node @dead1 %d1 = Mul(%y, %a) : f32[2]
                  node @dead2 %d2 = Relu(%d1) : f32[2]
                  node @relu %z = Relu(%y) : f32[2]
                  output %z
                }
                """;
        Graph out = assertRewrites(new EliminateDeadCode(), before, """
                kiln.ir 1
                graph g {
                  input %x : f32[2]
                  const %a : f32[2] = [1.0, 2.0]
                  node @add %y = Add(%x, %a) : f32[2]
                  node @relu %z = Relu(%y) : f32[2]
                  output %z
                }
                """);
        assertSameOutputs(parse(before), out, 0);
    }

    @Test
    void keepsUnusedOutputsOfLiveNodesAndUnusedGraphInputs() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2,4]
                  input %unused : f32[1]
                  const %split : i64[2] = [1, 1]
                  node @split %a, %b = Split(%x, %split) : f32[1,4], f32[1,4]
                  output %a
                }
                """;
        assertRewrites(new EliminateDeadCode(), before, before);
    }

    @Test
    void unknownOpIsKeptAndReported() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2]
                  const %a : f32[2] = [1.0, 2.0]
                  node @add %y = Add(%x, %a) : f32[2]
                  node @custom %c = MyCustomOp(%y) : f32[2]
                  node @relu %z = Relu(%x) : f32[2]
                  output %z
                }
                """;
        List<String> log = new ArrayList<>();
        PassContext ctx = PassContext.builder().verify(false).debugLog(log::add).build();
        assertEquals(before, print(new EliminateDeadCode().apply(parse(before), ctx)));
        assertEquals(List.of("eliminate-dead-code: keeps node @custom: unknown op MyCustomOp"), log);
    }

    @ParameterizedTest
    @ValueSource(strings = {"squeezenet1_1", "mobilenet_v2", "transformer_encoder", "resnet18"})
    void fixturesKeepTheirOutputs(String model) {
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is not made");
        Graph before = fixture(model);
        Graph after = new EliminateDeadCode().apply(fixture(model), PassTesting.context());
        assertEquals(before.nodes().size(), after.nodes().size(), "imported models have no dead nodes");
        assertSameOutputs(before, after, 1e-4);
    }
}
