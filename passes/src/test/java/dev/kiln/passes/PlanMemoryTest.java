package dev.kiln.passes;

import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.passes.MemoryPlan.Reuse;
import dev.kiln.passes.MemoryPlan.Slot;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class PlanMemoryTest {

    private static MemoryPlan plan(Graph g, List<String> log) {
        PassContext ctx = PassContext.builder().debugLog(log::add).build();
        Graph out = new PlanMemory().apply(g, ctx);
        assertSame(g, out, "planning leaves the graph as it is");
        MemoryPlan plan = ctx.result(MemoryPlan.class);
        plan.verify();
        return plan;
    }

    private static MemoryPlan plan(String irText) { return plan(PassTesting.parse(irText), new ArrayList<>()); }

    private static Slot slot(String value, long offset, long bytes, int first, int last, Reuse reuse, String source) {
        return new Slot(value, offset, bytes, first, last, reuse, source);
    }

    @Test
    void chainReusesTheBytesOfDeadValues() {
        MemoryPlan p = plan("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,64]
                  const %starts : i64[1] = [0]
                  const %ends : i64[1] = [64]
                  const %axes : i64[1] = [1]
                  node @n0 %a = Softmax(%x) : f32[1,64]
                  node @n1 %b = Concat(%a, %a) {axis = 1} : f32[1,128]
                  node @n2 %c = Slice(%b, %starts, %ends, %axes) : f32[1,64]
                  node @n3 %y = Softmax(%c) : f32[1,64]
                  output %y
                }
                """);
        // Largest first: %b at 0; %a and %c each live with %b only, so both go above it, on the same bytes.
        assertEquals(List.of(
                slot("a", 512, 256, 0, 1, Reuse.OWN, null),
                slot("b", 0, 512, 1, 2, Reuse.OWN, null),
                slot("c", 512, 256, 2, 3, Reuse.OWN, null)), p.slots());
        assertEquals(768, p.arenaBytes());
        assertEquals(768, p.lowerBoundBytes());
        assertEquals(1024, p.naiveBytes());
        assertTrue(p.outsideArena().isEmpty());
        assertNull(p.slot("y"), "graph outputs live in the caller's buffers");
    }

    @Test
    void offsetsAreAligned() {
        MemoryPlan p = plan("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,3]
                  node @n0 %a = Softmax(%x) : f32[1,3]
                  node @n1 %b = Concat(%a, %a) {axis = 1} : f32[1,6]
                  node @n2 %y = Concat(%a, %b) {axis = 1} : f32[1,9]
                  output %y
                }
                """);
        assertEquals(List.of(
                slot("a", 64, 12, 0, 2, Reuse.OWN, null),
                slot("b", 0, 24, 1, 2, Reuse.OWN, null)), p.slots());
        assertEquals(128, p.arenaBytes());
        assertEquals(36, p.lowerBoundBytes());
    }

    @Test
    void concatInputsAreWrittenStraightIntoItsOutput() {
        MemoryPlan p = plan("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,16,4,4]
                  node @n0 %a = Relu(%x) : f32[1,16,4,4]
                  node @n1 %b = Sigmoid(%x) : f32[1,16,4,4]
                  node @n2 %c = Concat(%a, %b) {axis = 1} : f32[1,32,4,4]
                  node @n3 %y = Softmax(%c) : f32[1,32,4,4]
                  node @n4 %z = Relu(%a) : f32[1,16,4,4]
                  output %y
                  output %z
                }
                """);
        // %c's buffer lives from %a's node to %a's last reader, so @n4 does not write over %a.
        assertEquals(List.of(
                slot("a", 0, 1024, 0, 4, Reuse.PART, "c"),
                slot("b", 1024, 1024, 1, 2, Reuse.PART, "c"),
                slot("c", 0, 2048, 2, 3, Reuse.OWN, null)), p.slots());
        assertEquals(2048, p.arenaBytes());
        assertTrue(p.summary().contains("parts of a Concat: 2"), p.summary());
    }

    @Test
    void concatsThatBeginWithAnEarlierConcatsInputsShareItsBuffer() {
        MemoryPlan p = plan("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,16,2,2]
                  node @n0 %a = Relu(%x) : f32[1,16,2,2]
                  node @n1 %b = Sigmoid(%a) : f32[1,16,2,2]
                  node @n2 %c1 = Concat(%a, %b) {axis = 1} : f32[1,32,2,2]
                  node @n3 %d = Tanh(%c1) : f32[1,32,2,2]
                  node @n4 %f = Neg(%d) : f32[1,32,2,2]
                  node @n5 %h = Abs(%d) : f32[1,32,2,2]
                  node @n6 %c2 = Concat(%a, %b, %f) {axis = 1} : f32[1,64,2,2]
                  node @n7 %g = Concat(%a, %b, %h) {axis = 1} : f32[1,64,2,2]
                  node @n8 %y = Softmax(%c2) : f32[1,64,2,2]
                  node @n9 %z = Softmax(%g) : f32[1,64,2,2]
                  output %y
                  output %z
                }
                """);
        // %c1 is the first part of %c2, its own parts inside it; %g, which begins alike, copies.
        assertEquals(List.of(
                slot("a", 0, 256, 0, 7, Reuse.PART, "c1"),
                slot("b", 256, 256, 1, 7, Reuse.PART, "c1"),
                slot("c1", 0, 512, 2, 3, Reuse.PART, "c2"),
                slot("d", 2048, 512, 3, 5, Reuse.OWN, null),
                slot("f", 512, 512, 4, 6, Reuse.PART, "c2"),
                slot("h", 2048, 512, 5, 7, Reuse.IN_PLACE, "d"),
                slot("c2", 0, 1024, 6, 8, Reuse.OWN, null),
                slot("g", 1024, 1024, 7, 9, Reuse.OWN, null)), p.slots());
    }

    @Test
    void concatsWhoseInputsAreNotWholePiecesCopyThem() {
        MemoryPlan p = plan("""
                kiln.ir 1
                graph g {
                  input %x : f32[2,16,4]
                  node @n0 %a = Relu(%x) : f32[2,16,4]
                  node @n1 %b = Sigmoid(%x) : f32[2,16,4]
                  node @n2 %c = Concat(%a, %b) {axis = 1} : f32[2,32,4]
                  node @n3 %y = Softmax(%c) : f32[2,32,4]
                  output %y
                }
                """);
        for (Slot s : p.slots()) assertEquals(Reuse.OWN, s.reuse(), s.toString());
    }

    @Test
    void aPartOutsideItsConcatIsRefusedByVerification() {
        MemoryPlan bad = new MemoryPlan("g", List.of(slot("c", 0, 128, 2, 3, Reuse.OWN, null), slot("a", 128, 64, 0, 2, Reuse.PART, "c")),
                Map.of(), 256, 192);
        IllegalStateException e = assertThrows(IllegalStateException.class, bad::verify);
        assertTrue(e.getMessage().contains("does not sit inside the bytes of a later planned %c"), e.getMessage());
    }

    @Test
    void reluWritesOverItsInputWhenTheInputDiesThere() {
        MemoryPlan p = plan("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,64]
                  node @n0 %a = Softmax(%x) : f32[1,64]
                  node @n1 %r = Relu(%a) : f32[1,64]
                  node @n2 %y = Softmax(%r) : f32[1,64]
                  output %y
                }
                """);
        assertEquals(List.of(
                slot("a", 0, 256, 0, 1, Reuse.OWN, null),
                slot("r", 0, 256, 1, 2, Reuse.IN_PLACE, "a")), p.slots());
        assertEquals(256, p.arenaBytes());
        assertEquals(256, p.lowerBoundBytes());
        assertEquals(512, p.naiveBytes());
    }

    @Test
    void reluGetsItsOwnBufferWhenItsInputIsReadLater() {
        MemoryPlan p = plan("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,64]
                  node @n0 %a = Softmax(%x) : f32[1,64]
                  node @n1 %r = Relu(%a) : f32[1,64]
                  node @n2 %y = Add(%r, %a) : f32[1,64]
                  output %y
                }
                """);
        assertEquals(List.of(
                slot("a", 0, 256, 0, 2, Reuse.OWN, null),
                slot("r", 256, 256, 1, 2, Reuse.OWN, null)), p.slots());
        assertEquals(512, p.arenaBytes());
    }

    @Test
    void residualAddWritesOverTheOperandThatDies() {
        MemoryPlan p = plan("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,8,4,4]
                  const %bias : f32[1,8,1,1] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
                  node @n0 %a = Softmax(%x) : f32[1,8,4,4]
                  node @n1 %b = Add(%a, %bias) : f32[1,8,4,4]
                  node @n2 %s = Add(%b, %a) : f32[1,8,4,4]
                  node @n3 %y = Softmax(%s) : f32[1,8,4,4]
                  output %y
                }
                """);
        // %a is read again at n2, so the bias add needs its own buffer; the residual add then takes over %b's.
        assertEquals(List.of(
                slot("a", 0, 512, 0, 2, Reuse.OWN, null),
                slot("b", 512, 512, 1, 2, Reuse.OWN, null),
                slot("s", 512, 512, 2, 3, Reuse.IN_PLACE, "b")), p.slots());
        assertEquals(1024, p.arenaBytes());
        assertEquals(1024, p.lowerBoundBytes());
    }

    @Test
    void reshapeAliasesItsInputAndCostsNothing() {
        MemoryPlan p = plan("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,64]
                  const %shape : i64[2] = [8, 8]
                  node @n0 %a = Softmax(%x) : f32[1,64]
                  node @n1 %v = Reshape(%a, %shape) : f32[8,8]
                  node @n2 %s = Softmax(%v) : f32[8,8]
                  node @n3 %y = Add(%s, %v) : f32[8,8]
                  output %y
                }
                """);
        // %v keeps %a's bytes alive until n3, so %s must sit elsewhere.
        assertEquals(List.of(
                slot("a", 0, 256, 0, 1, Reuse.OWN, null),
                slot("v", 0, 256, 1, 3, Reuse.ALIAS, "a"),
                slot("s", 256, 256, 2, 3, Reuse.OWN, null)), p.slots());
        assertEquals(512, p.arenaBytes());
        assertEquals(512, p.lowerBoundBytes());
        assertEquals(768, p.naiveBytes());
    }

    @Test
    void viewsOfGraphInputsAndConstantsStayOutsideTheArena() {
        MemoryPlan p = plan("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,64]
                  const %shape : i64[2] = [8, 8]
                  node @n0 %v = Reshape(%x, %shape) : f32[8,8]
                  node @n1 %y = Softmax(%v) : f32[8,8]
                  output %y
                }
                """);
        assertTrue(p.slots().isEmpty());
        assertEquals(Map.of("v", "view of graph input %x"), p.outsideArena());
        assertEquals(0, p.arenaBytes());
    }

    @Test
    void symbolicShapesAreLeftOutOfTheArenaAndSaidSo() {
        List<String> log = new ArrayList<>();
        MemoryPlan p = plan(PassTesting.parse("""
                kiln.ir 1
                graph g {
                  input %x : f32[N,64]
                  input %z : f32[1,64]
                  node @n0 %a = Softmax(%x) : f32[N,64]
                  node @n1 %b = Softmax(%z) : f32[1,64]
                  node @n2 %y = Softmax(%a) : f32[N,64]
                  node @n3 %w = Softmax(%b) : f32[1,64]
                  output %y
                  output %w
                }
                """), log);
        assertEquals(Map.of("a", "symbolic shape f32[N,64]"), p.outsideArena());
        assertEquals(List.of(slot("b", 0, 256, 1, 3, Reuse.OWN, null)), p.slots());
        assertTrue(log.stream().anyMatch(m -> m.contains("%a") && m.contains("symbolic")), log.toString());
        assertTrue(p.summary().contains("outside the arena: 1"), p.summary());
    }

    @Test
    void unknownOpGetsBuffersOfItsOwnAndIsLogged() {
        Graph g = new Graph("g");
        Value x = g.addInput("x", TensorType.of(DType.F32, 1, 64));
        Value a = g.addNode("n0", "Softmax", List.of(x), Map.of(), List.of("a")).output(0);
        TensorType t = TensorType.of(DType.F32, 1, 64);
        Value b = g.addNode("n1", "MyElementwise", List.of(a), Map.of(), List.of("b"), List.of(t)).output(0);
        g.addOutput(g.addNode("n2", "Softmax", List.of(b), Map.of(), List.of("y")).output(0));
        List<String> log = new ArrayList<>();
        PassContext ctx = PassContext.builder().verify(false).debugLog(log::add).build();
        new PlanMemory().apply(g, ctx);
        MemoryPlan p = ctx.result(MemoryPlan.class);
        p.verify();
        assertEquals(Reuse.OWN, p.slot("b").reuse());
        assertEquals(512, p.arenaBytes());
        assertTrue(log.stream().anyMatch(m -> m.contains("MyElementwise") && m.contains("unknown")), log.toString());
    }

    @Test
    void blockedLayoutsArePaddedToWholeBlocks() {
        TensorType nchw16c = new TensorType(DType.F32, Shape.of(1, 3, 2, 2), Layout.of("NCHW16c"));
        assertEquals(4L * 16 * 2 * 2, PlanMemory.byteSize(nchw16c));
        TensorType spelledOut = new TensorType(DType.F32, Shape.of(1, 1, 2, 2, 16), Layout.of("NCHW16c"));
        assertEquals(4L * 16 * 2 * 2, PlanMemory.byteSize(spelledOut));
    }

    @Test
    void verifyRejectsLiveValuesThatShareBytes() {
        MemoryPlan overlapping = new MemoryPlan("g", List.of(
                slot("a", 0, 256, 0, 2, Reuse.OWN, null),
                slot("b", 128, 256, 1, 2, Reuse.OWN, null)), Map.of(), 512, 512);
        assertThrows(IllegalStateException.class, overlapping::verify);
        MemoryPlan earlyInPlace = new MemoryPlan("g", List.of(
                slot("a", 0, 256, 0, 3, Reuse.OWN, null),
                slot("r", 0, 256, 1, 2, Reuse.IN_PLACE, "a")), Map.of(), 256, 256);
        IllegalStateException e = assertThrows(IllegalStateException.class, earlyInPlace::verify);
        assertTrue(e.getMessage().contains("%a") && e.getMessage().contains("%r"), e.getMessage());
        MemoryPlan outside = new MemoryPlan("g", List.of(slot("a", 64, 256, 0, 1, Reuse.OWN, null)), Map.of(), 256, 256);
        assertThrows(IllegalStateException.class, outside::verify);
    }

    @ParameterizedTest
    @ValueSource(strings = {"squeezenet1_1", "mobilenet_v2", "resnet18", "transformer_encoder"})
    void fixturePlansAreNearTheLowerBound(String model) {
        assumeTrue(Fixtures.isPresent(model), model + " is not made (" + Fixtures.makeCommand(model) + ")");
        checkFixturePlan(model + " imported", PassTesting.fixture(model));
    }

    @ParameterizedTest
    @ValueSource(strings = {"squeezenet1_1", "mobilenet_v2", "resnet18", "transformer_encoder"})
    void fixturePlansAfterCleanupsAreNearTheLowerBound(String model) {
        assumeTrue(Fixtures.isPresent(model), model + " is not made (" + Fixtures.makeCommand(model) + ")");
        Pipeline cleanups = new Pipeline(List.of(new InferShapes(), new FoldConstants(), new SimplifyAlgebra(),
                new EliminateCommonSubexpressions(), new EliminateDeadCode(), new FoldBatchNorm()));
        checkFixturePlan(model + " after cleanups", cleanups.run(PassTesting.fixture(model), PassTesting.context()));
    }

    private static void checkFixturePlan(String label, Graph g) {
        MemoryPlan p = plan(g, new ArrayList<>());
        System.out.printf(Locale.ROOT, "%-40s arena %8.3f MB  lower bound %8.3f MB  naive %8.3f MB  (x%.3f of bound, naive x%.1f)%n",
                label, p.arenaBytes() / 1e6, p.lowerBoundBytes() / 1e6, p.naiveBytes() / 1e6,
                (double) p.arenaBytes() / p.lowerBoundBytes(), (double) p.naiveBytes() / p.arenaBytes());
        System.out.println("    " + p.summary());
        assertTrue(p.outsideArena().values().stream().noneMatch(why -> why.startsWith("symbolic")), label + ": " + p.outsideArena());
        assertTrue(p.arenaBytes() <= 1.10 * p.lowerBoundBytes(), label + ": " + p.summary());
        assertTrue(2 * p.arenaBytes() <= p.naiveBytes(), label + ": " + p.summary());
    }
}
