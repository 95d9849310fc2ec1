package dev.kiln.passes;

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
import java.util.List;
import java.util.Map;

import static dev.kiln.passes.PassTesting.assertRewrites;
import static dev.kiln.passes.PassTesting.assertSameOutputs;
import static dev.kiln.passes.PassTesting.fixture;
import static dev.kiln.passes.PassTesting.parse;
import static dev.kiln.passes.PassTesting.print;
import static org.junit.jupiter.api.Assertions.assertEquals;

class EliminateCommonSubexpressionsTest {

    @Test
    void sameOpInputsAndAttributesComputeOnce() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3]
                  node @t1 %a = Transpose(%x) {perm = [1, 0]} : f32[3,2]
                  node @t2 %b = Transpose(%x) {perm = [1, 0]} : f32[3,2]
                  node @s1 %c = Softmax(%a) : f32[3,2]
                  node @s2 %d = Softmax(%b) {axis = -1} : f32[3,2]
                  node @s3 %e = Softmax(%b) {axis = 0} : f32[3,2]
                  node @add %y = Add(%c, %d) : f32[3,2]
                  node @mul %z = Mul(%y, %e) : f32[3,2]
                  output %z
                }
                """;
        Graph out = assertRewrites(new EliminateCommonSubexpressions(), before, """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3]
                  node @t1 %a = Transpose(%x) {perm = [1, 0]} : f32[3,2]
                  node @s1 %c = Softmax(%a) : f32[3,2]
                  node @s3 %e = Softmax(%a) {axis = 0} : f32[3,2]
                  node @add %y = Add(%c, %c) : f32[3,2]
                  node @mul %z = Mul(%y, %e) : f32[3,2]
                  output %z
                }
                """);
        assertSameOutputs(parse(before), out, 0);
    }

    @Test
    void identicalConstantsMerge() {
        assertRewrites(new EliminateCommonSubexpressions(), """
                kiln.ir 1
                graph g {
                  input %x : f32[2]
                  const %a : f32[2] = [1.0, 2.0]
                  const %b : f32[2] = [1.0, 2.0]
                  const %c : f32[2] = [1.0, 3.0]
                  const %d : i32[2] = [1, 2]
                  node @add1 %y1 = Add(%x, %a) : f32[2]
                  node @add2 %y2 = Add(%x, %b) : f32[2]
                  node @add3 %y3 = Add(%y1, %c) : f32[2]
                  node @cast %dc = Cast(%d) {to = 1} : f32[2]
                  node @mul %z = Mul(%y2, %y3) : f32[2]
                  node @mul2 %w = Mul(%z, %dc) : f32[2]
                  output %w
                }
                """, """
                kiln.ir 1
                graph g {
                  input %x : f32[2]
                  const %a : f32[2] = [1.0, 2.0]
                  const %c : f32[2] = [1.0, 3.0]
                  const %d : i32[2] = [1, 2]
                  node @add1 %y1 = Add(%x, %a) : f32[2]
                  node @add3 %y3 = Add(%y1, %c) : f32[2]
                  node @cast %dc = Cast(%d) {to = 1} : f32[2]
                  node @mul %z = Mul(%y1, %y3) : f32[2]
                  node @mul2 %w = Mul(%z, %dc) : f32[2]
                  output %w
                }
                """);
    }

    @Test
    void largeConstantsMergeOnlyWhenEveryByteAgrees() {
        Graph g = new Graph("g");
        Value x = g.addInput("x", TensorType.of(DType.F32, 4096));
        float[] base = new float[4096];
        for (int i = 0; i < base.length; i++) base[i] = i * 0.5f;
        float[] differsInOneElement = base.clone();
        differsInOneElement[1001] = -1;
        Value a = g.addConstant("a", TensorType.of(DType.F32, 4096), floats(base));
        Value b = g.addConstant("b", TensorType.of(DType.F32, 4096), floats(base));
        Value c = g.addConstant("c", TensorType.of(DType.F32, 4096), floats(differsInOneElement));
        Value ya = g.addNode("add_a", "Add", List.of(x, a), Map.of(), List.of("ya")).output(0);
        Value yb = g.addNode("add_b", "Add", List.of(x, b), Map.of(), List.of("yb")).output(0);
        Value yc = g.addNode("add_c", "Add", List.of(x, c), Map.of(), List.of("yc")).output(0);
        Value ab = g.addNode("mul", "Mul", List.of(ya, yb), Map.of(), List.of("ab")).output(0);
        g.addOutput(g.addNode("sub", "Sub", List.of(ab, yc), Map.of(), List.of("y")).output(0));
        Graph out = new EliminateCommonSubexpressions().apply(g, PassTesting.context());
        assertEquals(List.of("a", "c"), List.copyOf(out.constants().keySet()));
        assertEquals(List.of("add_a", "add_c", "mul", "sub"), out.nodes().stream().map(Node::name).toList());
        assertSameOutputs(g, out, 0);
    }

    private static ByteBuffer floats(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return b.flip();
    }

    @Test
    void trainingDropoutAndGraphOutputsAreNotMerged() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[4]
                  input %training : bool[]
                  node @d1 %a = Dropout(%x, _, %training) : f32[4]
                  node @d2 %b = Dropout(%x, _, %training) : f32[4]
                  node @r1 %c = Relu(%x) : f32[4]
                  node @r2 %d = Relu(%x) : f32[4]
                  node @add %y = Add(%a, %b) : f32[4]
                  output %y
                  output %c
                  output %d
                }
                """;
        assertRewrites(new EliminateCommonSubexpressions(), before, before);
    }

    @Test
    void unknownOpIsLeftAloneAndReported() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2]
                  node @c1 %a = MyCustomOp(%x) : f32[2]
                  node @c2 %b = MyCustomOp(%x) : f32[2]
                  node @add %y = Add(%a, %b) : f32[2]
                  output %y
                }
                """;
        List<String> log = new ArrayList<>();
        PassContext ctx = PassContext.builder().verify(false).debugLog(log::add).build();
        assertEquals(before, print(new EliminateCommonSubexpressions().apply(parse(before), ctx)));
        assertEquals(List.of("eliminate-common-subexpressions: leaves node @c1 alone: unknown op MyCustomOp",
                "eliminate-common-subexpressions: leaves node @c2 alone: unknown op MyCustomOp"), log);
    }

    @ParameterizedTest
    @ValueSource(strings = {"squeezenet1_1", "mobilenet_v2", "transformer_encoder", "resnet18"})
    void fixturesKeepTheirOutputs(String model) {
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is not made");
        Graph after = new EliminateCommonSubexpressions().apply(fixture(model), PassTesting.context());
        assertSameOutputs(fixture(model), after, 1e-4);
    }
}
