package dev.kiln.passes;

import dev.kiln.ir.Graph;
import dev.kiln.ir.GraphEvaluator;
import dev.kiln.runtime.interpreter.InterpreterEvaluator;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.kiln.passes.PassTesting.assertRewrites;
import static dev.kiln.passes.PassTesting.assertSameOutputs;
import static dev.kiln.passes.PassTesting.fixture;
import static dev.kiln.passes.PassTesting.parse;
import static dev.kiln.passes.PassTesting.print;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FoldConstantsTest {
    /** What exporters emit for x.reshape(x.shape[0], -1), typed as imported with a symbolic batch. */
    private static final String SHAPE_SUBGRAPH = """
            kiln.ir 1
            graph g {
              input %x : f32[2,3,4]
              const %zero : i64[] = [0]
              const %axes : i64[1] = [0]
              const %minus_one : i64[1] = [-1]
              node @shape %s = Shape(%x) : i64[3]
              node @gather %batch = Gather(%s, %zero) : i64[]
              node @unsqueeze %batch1 = Unsqueeze(%batch, %axes) : i64[1]
              node @concat %target = Concat(%batch1, %minus_one) {axis = 0} : i64[2]
              node @reshape %y = Reshape(%x, %target) : f32[N,M]
              node @relu %z = Relu(%y) : f32[N,M]
              output %z
            }
            """;

    private static final String SHAPE_SUBGRAPH_FOLDED = """
            kiln.ir 1
            graph g {
              input %x : f32[2,3,4]
              const %target : i64[2] = [2, -1]
              node @reshape %y = Reshape(%x, %target) : f32[2,12]
              node @relu %z = Relu(%y) : f32[2,12]
              output %z
            }
            """;

    @Test
    void shapeSubgraphCollapsesToAConstantShape() {
        Graph out = assertRewrites(new FoldConstants(), SHAPE_SUBGRAPH, SHAPE_SUBGRAPH_FOLDED);
        assertSameOutputs(parse(SHAPE_SUBGRAPH), out, 0);
    }

    @Test
    void shapeArithmeticFoldsWithoutAnEvaluator() {
        Graph out = new FoldConstants().apply(parse(SHAPE_SUBGRAPH), PassContext.builder().build());
        assertEquals(SHAPE_SUBGRAPH_FOLDED, print(out));
    }

    @Test
    void weightTransposeIsEvaluatedOncePerNode() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,3]
                  const %w : f32[2,3] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
                  node @transpose %wt = Transpose(%w) {perm = [1, 0]} : f32[3,2]
                  node @matmul %y = MatMul(%x, %wt) : f32[1,2]
                  output %y
                }
                """;
        AtomicInteger runs = new AtomicInteger();
        GraphEvaluator interpreter = new InterpreterEvaluator();
        PassContext counting = PassContext.builder().evaluator((g, in) -> {
            runs.incrementAndGet();
            return interpreter.run(g, in);
        }).build();
        Graph out = new FoldConstants().apply(parse(before), counting);
        assertEquals("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,3]
                  const %wt : f32[3,2] = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
                  node @matmul %y = MatMul(%x, %wt) : f32[1,2]
                  output %y
                }
                """, print(out));
        assertEquals(1, runs.get());
        assertSameOutputs(parse(before), out, 0);
        // Without an evaluator the float Transpose stays.
        assertEquals(print(parse(before)), print(new FoldConstants().apply(parse(before), PassContext.builder().build())));
    }

    @Test
    void reshapingAConstantSharesItsBytesWithoutEvaluating() {
        AtomicInteger runs = new AtomicInteger();
        PassContext counting = PassContext.builder().evaluator((g, in) -> {
            runs.incrementAndGet();
            return new InterpreterEvaluator().run(g, in);
        }).build();
        Graph out = new FoldConstants().apply(parse("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,3]
                  const %w : f32[6] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
                  const %shape : i64[2] = [2, 3]
                  node @reshape %w2 = Reshape(%w, %shape) : f32[2,3]
                  node @id %w3 = Identity(%w2) : f32[2,3]
                  node @add %y = Add(%x, %w3) : f32[2,3]
                  output %y
                }
                """), counting);
        assertEquals("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,3]
                  const %w3 : f32[2,3] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
                  node @add %y = Add(%x, %w3) : f32[2,3]
                  output %y
                }
                """, print(out));
        assertEquals(0, runs.get());
    }

    @Test
    void foldedGraphOutputsBecomeConstants() {
        Graph out = assertRewrites(new FoldConstants(), """
                kiln.ir 1
                graph g {
                  input %x : f32[2]
                  const %a : f32[2] = [1.0, -2.0]
                  node @abs %y = Abs(%a) : f32[2]
                  node @add %z = Add(%x, %y) : f32[2]
                  output %y
                  output %z
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[2]
                  const %y : f32[2] = [1.0, 2.0]
                  node @add %z = Add(%x, %y) : f32[2]
                  output %y
                  output %z
                }
                """);
        assertEquals(2, new dev.kiln.runtime.interpreter.Interpreter(out).run(PassTesting.randomInputs(out, 1)).size());
    }

    @Test
    void nodesThatWouldGrowTheWeightsStay() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[1024,1024]
                  const %one : f32[1] = [1.0]
                  const %shape : i64[2] = [1024, 1024]
                  node @expand %ones = Expand(%one, %shape) : f32[1024,1024]
                  node @add %y = Add(%x, %ones) : f32[1024,1024]
                  output %y
                }
                """;
        List<String> log = new ArrayList<>();
        PassContext ctx = PassContext.builder().evaluator(new InterpreterEvaluator()).debugLog(log::add).build();
        Graph out = new FoldConstants().apply(parse(before), ctx);
        assertEquals(print(parse(before)), print(out));
        assertEquals(List.of("fold-constants: leaves Expand node @expand to run time: its 4194304 bytes of output would outweigh the 20 bytes of constants it frees"), log);
    }

    @Test
    void trainingDropoutIsNotFolded() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[4]
                  const %a : f32[4] = [1.0, 2.0, 3.0, 4.0]
                  const %ratio : f32[] = [0.5]
                  const %training : bool[] = [true]
                  node @dropout %d = Dropout(%a, %ratio, %training) : f32[4]
                  node @add %y = Add(%x, %d) : f32[4]
                  output %y
                }
                """;
        assertRewrites(new FoldConstants(), before, print(parse(before)));
    }

    @Test
    void unknownOpIsLeftAloneAndReported() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2]
                  const %a : f32[2] = [1.0, 2.0]
                  node @custom %c = MyCustomOp(%a) : f32[2]
                  node @add %y = Add(%x, %c) : f32[2]
                  output %y
                }
                """;
        List<String> log = new ArrayList<>();
        PassContext ctx = PassContext.builder().verify(false).evaluator(new InterpreterEvaluator()).debugLog(log::add).build();
        assertEquals(before, print(new FoldConstants().apply(parse(before), ctx)));
        assertEquals(List.of("fold-constants: leaves node @custom alone: unknown op MyCustomOp"), log);
    }

    @ParameterizedTest
    @ValueSource(strings = {"squeezenet1_1", "mobilenet_v2", "transformer_encoder", "resnet18"})
    void fixturesKeepTheirOutputs(String model) {
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is not made");
        Graph after = new FoldConstants().apply(fixture(model), PassTesting.context());
        assertSameOutputs(fixture(model), after, 1e-4);
        for (var n : after.nodes()) {
            assertTrue(n.inputs().stream().anyMatch(v -> v != null && !v.isConstant()), n + " reads only constants");
        }
    }
}
