package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.GraphEvaluator;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.interpreter.InterpreterEvaluator;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
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

    /**
     * Rows [from, to) of w sliced, as PyTorch's LSTM and GRU exports reorder their gates; x times the parts
     * concatenated in the order {@code parts} gives, with the weight also read by a MatMul when {@code alsoWhole}.
     */
    private static Graph gatesReordered(long rows, long[][] parts, boolean alsoWhole) {
        Graph g = new Graph("gates");
        Value x = g.addInput("x", TensorType.of(DType.F32, 8, 2));
        ByteBuffer data = ByteBuffer.allocate((int) rows * 8 * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < rows * 8; i++) data.putFloat(i % 97 * 0.25f - 3);
        Value w = g.addConstant("w", TensorType.of(DType.F32, rows, 8), data.flip());
        Value axis = g.addConstant("axis", TensorType.of(DType.I64, 1), ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0).flip());
        List<Value> slices = new ArrayList<>();
        for (long[] part : parts) {
            Value from = g.addConstant("from" + slices.size(), TensorType.of(DType.I64, 1), ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(part[0]).flip());
            Value to = g.addConstant("to" + slices.size(), TensorType.of(DType.I64, 1), ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(part[1]).flip());
            slices.add(g.addNode("slice" + slices.size(), "Slice", List.of(w, from, to, axis), Map.of(), List.of("part" + slices.size())).output(0));
        }
        Value gates = g.addNode("concat", "Concat", slices, Map.of("axis", Attribute.of(0L)), List.of("gates")).output(0);
        g.addOutput(g.addNode("matmul", "MatMul", List.of(gates, x), Map.of(), List.of("y")).output(0));
        if (alsoWhole) g.addOutput(g.addNode("whole", "MatMul", List.of(w, x), Map.of(), List.of("z")).output(0));
        return g;
    }

    @Test
    void partsOfAConstantFoldWhileTogetherNoLargerThanIt() {
        // two 96 KiB halves of a 192 KiB weight, swapped: each frees nothing alone, together the whole weight
        long[][] swapped = {{3072, 6144}, {0, 3072}};
        Graph out = new FoldConstants().apply(gatesReordered(6144, swapped, false), PassTesting.context());
        assertEquals(List.of("MatMul"), out.nodes().stream().map(Node::op).toList());
        assertEquals(1, out.constants().size());
        assertSameOutputs(gatesReordered(6144, swapped, false), out, 0);
        // overlapping parts would outgrow the weight: the second stays, and the weight with it
        long[][] overlapping = {{0, 4096}, {2048, 6144}};
        Graph kept = new FoldConstants().apply(gatesReordered(6144, overlapping, false), PassTesting.context());
        assertEquals(List.of("Slice", "Concat", "MatMul"), kept.nodes().stream().map(Node::op).toList());
        // a weight also read whole stays whole: its slices would copy it
        Graph shared = new FoldConstants().apply(gatesReordered(6144, swapped, true), PassTesting.context());
        assertEquals(List.of("Slice", "Slice", "Concat", "MatMul", "MatMul"), shared.nodes().stream().map(Node::op).toList());
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
