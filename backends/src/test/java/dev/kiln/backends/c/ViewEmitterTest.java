package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.passes.MemoryPlan;
import dev.kiln.runtime.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;
import static dev.kiln.backends.c.ShapeTesting.ALL;
import static dev.kiln.backends.c.ShapeTesting.i64;
import static dev.kiln.backends.c.ShapeTesting.longs;
import static dev.kiln.backends.c.ShapeTesting.runtimeLongs;
import static dev.kiln.backends.c.ShapeTesting.runtimeShaped;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** Reshape, Flatten, Squeeze, Unsqueeze and Identity of every dtype, static and run-time shapes, against the interpreter. */
class ViewEmitterTest {
    @TempDir
    Path dir;

    @Test
    void everyDtypeWithStaticShapes() {
        OpBatch b = new OpBatch("views", 1);
        for (DType t : ALL) {
            Value x = b.input(t, 2, 3, 5);
            b.node("Reshape", List.of(x, longs(b, 5, 0, -1)), attrs());
            b.node("Reshape", List.of(x, longs(b, 0, -1)), attrs());
            b.node("Reshape", List.of(x, longs(b, 30)), attrs());
            b.node("Flatten", List.of(x), attrs("axis", 2L));
            b.node("Unsqueeze", List.of(x, longs(b, -1, 0)), attrs());
            b.node("Identity", List.of(x), attrs());
            Value one = b.input(t, 1, 7, 1);
            b.node("Squeeze", List.of(one), attrs());
            b.node("Squeeze", List.of(one, longs(b, -1)), attrs());
        }
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void attributeFormsAndOddShapes() {
        OpBatch b = new OpBatch("view forms", 2);
        Value scalar = b.input(DType.F32);
        b.node("Reshape", List.of(scalar, longs(b, 1, 1)), attrs());
        b.node("Unsqueeze", List.of(scalar, longs(b, 0)), attrs());
        b.node("Flatten", List.of(scalar), attrs("axis", 0L));
        b.node("Identity", List.of(scalar), attrs());
        Value six = b.input(DType.I32, 1, 2, 1, 3, 1, 2);
        b.node("Squeeze", List.of(six), attrs());
        b.node("Flatten", List.of(six), attrs("axis", 0L));
        b.node("Flatten", List.of(six), attrs("axis", -2L));
        b.node("Flatten", List.of(six), attrs("axis", 6L));
        b.node("Reshape", List.of(six, longs(b, 0, 0, -1)), attrs());
        Value empty = b.input(DType.U8, 2, 0, 3);
        b.node("Reshape", List.of(empty, longs(b, 0, 5, 0)), attrs("allowzero", 1L));
        b.node("Reshape", List.of(empty, longs(b, 3, 0, 0)), attrs("allowzero", 0L));
        b.node("Flatten", List.of(empty), attrs());
        Value odd = b.input(DType.F16, 17, 1, 33);
        b.node("Reshape", List.of(odd, longs(b, 33, 17)), attrs());
        b.node("Unsqueeze", List.of(odd, longs(b, 1, 4)), attrs());
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void shapesReadAtRunTime() {
        OpBatch b = new OpBatch("runtime views", 3);
        for (DType t : List.of(DType.F32, DType.I64, DType.BF16, DType.BOOL, DType.U16)) {
            Value x = b.input(t, 2, 3, 4);
            b.node("Reshape", List.of(x, runtimeLongs(b, 4, 0, -1)), attrs());
            b.node("Reshape", List.of(x, runtimeLongs(b, 24)), attrs());
            b.node("Squeeze", List.of(b.input(t, 3, 1, 4, 1), runtimeLongs(b, -1, 1)), attrs());
            b.node("Unsqueeze", List.of(x, runtimeLongs(b, 3, 0)), attrs());
        }
        Value empty = b.input(DType.I8, 0, 4);
        b.node("Reshape", List.of(empty, runtimeLongs(b, 2, 0, 3)), attrs("allowzero", 1L));
        b.node("Reshape", List.of(empty, runtimeLongs(b, 4, 0)), attrs("allowzero", 1L));
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void valuesOfRunTimeShape() {
        OpBatch b = new OpBatch("views of runtime shapes", 4);
        for (DType t : List.of(DType.F64, DType.I32, DType.U8)) {
            Value x = runtimeShaped(b, b.input(t, 3, 1, 5));
            b.node("Reshape", List.of(x, longs(b, 5, -1)), attrs());
            b.node("Reshape", List.of(x, longs(b, 0, 5, -1)), attrs());
            b.node("Reshape", List.of(x, runtimeLongs(b, 15)), attrs());
            b.node("Flatten", List.of(x), attrs("axis", 2L));
            b.node("Squeeze", List.of(x, longs(b, 1)), attrs());
            b.node("Squeeze", List.of(x, runtimeLongs(b, 1)), attrs());
            b.node("Unsqueeze", List.of(x, longs(b, 0, 4)), attrs());
            b.node("Identity", List.of(x), attrs());
        }
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void viewOfAConcatPartHasBytesOfItsOwn() {
        OpBatch b = new OpBatch("view of a concat part", 8);
        Value a = b.graph().addNode("ta", "Transpose", List.of(b.input(DType.F32, 16, 1)), Map.of(), List.of("ta_y")).output(0);
        Value c = b.graph().addNode("tc", "Transpose", List.of(b.input(DType.F32, 16, 1)), Map.of(), List.of("tc_y")).output(0);
        Value cat = b.graph().addNode("cat", "Concat", List.of(a, c), attrs("axis", 0L), List.of("cat_y")).output(0);
        Value view = b.graph().addNode("view", "Reshape", List.of(a, longs(b, 4, 4)), Map.of(), List.of("view_y")).output(0);
        b.node("Transpose", List.of(cat), attrs());
        b.node("Transpose", List.of(view), attrs());
        b.node("Identity", List.of(b.input(DType.I16, 3, 5)), attrs());
        b.assertMatchesAsWritten(dir, 0);
        MemoryPlan plan = NativeTesting.plan(b.graph());
        assertEquals(MemoryPlan.Reuse.PART, plan.slot("ta_y").reuse());
        assertEquals(MemoryPlan.Reuse.OWN, plan.slot("view_y").reuse());
    }

    @Test
    void runTimeShapesThroughTheLevel3Pipeline() {
        OpBatch b = new OpBatch("runtime chain", 9);
        Value x = b.input(DType.F32, 2, 3, 4);
        Value flat = b.graph().addNode("flat", "Reshape", List.of(x, runtimeLongs(b, 6, -1)), Map.of(), List.of("flat_y")).output(0);
        Value t = b.graph().addNode("t", "Transpose", List.of(flat), Map.of(), List.of("t_y")).output(0);
        Value back = b.graph().addNode("back", "Reshape", List.of(t, longs(b, 2, 2, -1)), Map.of(), List.of("back_y")).output(0);
        b.node("Concat", List.of(back, back), attrs("axis", -1L));
        b.node("Unsqueeze", List.of(t, longs(b, 0)), attrs());
        b.node("Flatten", List.of(back), attrs("axis", 2L));
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void badShapesFailTheRun() {
        FailingRuns f = new FailingRuns("view_failures");
        f.node("Reshape", List.of(f.input(Tensor.allocate(DType.F32, 2, 3)), f.input(i64(3, -1), i64(4, -1), "node reshape_0 (Reshape): cannot reshape")), attrs());
        f.node("Squeeze", List.of(f.input(Tensor.allocate(DType.I64, 2, 1, 3)), f.input(i64(1), i64(2), "node squeeze_1 (Squeeze): cannot squeeze")), attrs());
        f.node("Unsqueeze", List.of(f.input(Tensor.allocate(DType.U8, 2)), f.input(i64(0, 2), i64(0, 0), "axis repeated")), attrs());
        f.assertEachFails(dir);
    }

    @Test
    void blockedValuesOnlyThroughIdentity() {
        Graph g = new Graph("blocked views");
        Value x = g.addInput("x", TensorType.of(DType.F32, 1, 2, 3, 3, 16).withLayout(Layout.of("NCHW16c")));
        Node flatten = g.addNode("flatten", "Flatten", List.of(x), Map.of(), List.of("flatten_y"));
        Node identity = g.addNode("identity", "Identity", List.of(x), Map.of(), List.of("identity_y"));
        assertEquals(" (layout NCHW16c)", new ViewEmitter().problem(flatten));
        assertNull(new ViewEmitter().problem(identity));
    }
}
