package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.kiln.backends.c.OpBatch.attrs;
import static dev.kiln.backends.c.ShapeTesting.ALL;
import static dev.kiln.backends.c.ShapeTesting.i64;
import static dev.kiln.backends.c.ShapeTesting.longs;
import static dev.kiln.backends.c.ShapeTesting.runtimeLongs;
import static dev.kiln.backends.c.ShapeTesting.runtimeShaped;
import static org.junit.jupiter.api.Assertions.assertFalse;

/** Concat and Split of every dtype, along any axis, with static and run-time shapes, against the interpreter. */
class JoinEmitterTest {
    @TempDir
    Path dir;

    @Test
    void concatOfEveryDtypeAlongEachAxis() {
        OpBatch b = new OpBatch("concat", 11);
        for (DType t : ALL) {
            Value x = b.input(t, 2, 3, 5);
            Value y = b.input(t, 2, 3, 5);
            for (long axis : new long[] {0, 1, 2, -1}) b.node("Concat", List.of(x, y, x), attrs("axis", axis));
            b.node("Concat", List.of(x, b.input(t, 2, 1, 5), b.input(t, 2, 0, 5)), attrs("axis", 1L));
        }
        Value v = b.input(DType.F32, 17);
        b.node("Concat", List.of(v, b.input(DType.F32, 3), v), attrs("axis", 0L));
        b.node("Concat", List.of(v), attrs("axis", 0L));
        Value five = b.input(DType.I16, 1, 2, 1, 3, 2);
        b.node("Concat", List.of(five, five), attrs("axis", 3L));
        b.node("Concat", List.of(five, b.input(DType.I16, 1, 2, 1, 3, 0)), attrs("axis", -1L));
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void splitOfEveryDtypeInEachForm() {
        OpBatch b = new OpBatch("split", 12);
        for (DType t : ALL) {
            Value x = b.input(t, 4, 7, 3);
            b.node("Split", List.of(x), attrs("axis", 1L, "num_outputs", 3L), 3);
            b.node("Split", List.of(x, longs(b, 2, 0, 5)), attrs("axis", -2L), 3);
            b.node("Split", List.of(x), attrs(), 2);
        }
        Value v = b.input(DType.F32, 17);
        b.node("Split", List.of(v), attrs("num_outputs", 4L), 4);
        b.node("Split", List.of(v, runtimeLongs(b, 0, 16, 1)), attrs(), 3);
        b.node("Split", List.of(b.input(DType.U64, 2, 3, 1, 2, 4, 5), runtimeLongs(b, 1, 3)), attrs("axis", 4L), 2);
        b.node("Split", List.of(b.input(DType.BOOL, 5, 2)), attrs("axis", 0L), 1);
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void valuesOfRunTimeShape() {
        OpBatch b = new OpBatch("joins of runtime shapes", 13);
        for (DType t : List.of(DType.F32, DType.F16, DType.I64, DType.U8)) {
            Value x = runtimeShaped(b, b.input(t, 3, 4));
            Value y = runtimeShaped(b, b.input(t, 3, 2));
            b.node("Concat", List.of(x, y, b.input(t, 3, 1)), attrs("axis", 1L));
            b.node("Concat", List.of(x, x), attrs("axis", 0L));
            b.node("Split", List.of(x), attrs("axis", 1L, "num_outputs", 3L), 3);
            b.node("Split", List.of(x, longs(b, 1, 2)), attrs("axis", 0L), 2);
            b.node("Split", List.of(b.input(t, 3, 5), runtimeLongs(b, 2, 3)), attrs("axis", 1L), 2);
        }
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void badSizesFailTheRun() {
        FailingRuns f = new FailingRuns("join_failures");
        f.node("Split", List.of(f.input(Tensor.allocate(DType.F32, 3, 5)), f.input(i64(5), i64(4), "split sizes do not add up")), attrs("axis", 1L));
        Value a = f.node("Reshape", List.of(f.input(Tensor.allocate(DType.I32, 3, 4)), f.input(i64(3, 4))), attrs());
        Value c = f.node("Reshape", List.of(f.input(Tensor.allocate(DType.I32, 3, 4)), f.input(i64(3, 4), i64(4, 3),
                "node concat_3 (Concat): input %reshape_2_y differs from input 0 off the axis")), attrs());
        f.node("Concat", List.of(a, c), attrs("axis", 1L));
        f.assertEachFails(dir);
    }

    @Test
    void blockedConcatThroughTheLevel3Pipeline() {
        OpBatch b = new OpBatch("blocked concat", 16);
        Value x = b.input(DType.F32, 1, 3, 9, 9);
        Value w1 = b.randomConstant(DType.F32, 32, 3, 3, 3);
        Value w2 = b.randomConstant(DType.F32, 16, 3, 3, 3);
        Value a = b.graph().addNode("conv_a", "Conv", List.of(x, w1), attrs("pads", new long[] {1, 1, 1, 1}), List.of("a")).output(0);
        Value c = b.graph().addNode("conv_c", "Conv", List.of(x, w2), attrs("pads", new long[] {1, 1, 1, 1}), List.of("c")).output(0);
        Value cat = b.graph().addNode("cat", "Concat", List.of(a, c), attrs("axis", 1L), List.of("cat_y")).output(0);
        b.node("Relu", List.of(cat), attrs());
        b.assertMatchesInterpreter(dir, 1e-4);
    }

    /**
     * DenseNet blocks: each layer's Concat begins with the previous layer's inputs, so the memory plan chains them
     * into one buffer and no Concat copies; growth of 8 channels (the Concats plain, between layout transforms) and
     * of 16 (blocked).
     */
    @Test
    void denseBlocksConcatenateWithoutCopies() {
        OpBatch b = new OpBatch("dense", 17);
        for (long growth : new long[] {8, 16}) {
            Value x = b.input(DType.F32, 1, 16, 6, 6);
            Value first = b.graph().addNode("stem" + growth, "Conv", List.of(x, b.randomConstant(DType.F32, 16, 16, 1, 1)), attrs(),
                    List.of("stem" + growth + "_y")).output(0);
            List<Value> features = new ArrayList<>(List.of(first));
            Value joined = first;
            for (int layer = 0; layer < 3; layer++) {
                String name = "g" + growth + "_" + layer;
                Value h = b.graph().addNode(name + "_relu", "Relu", List.of(joined), attrs(), List.of(name + "_h")).output(0);
                long channels = 16 + layer * growth;
                features.add(b.graph().addNode(name + "_conv", "Conv", List.of(h, b.randomConstant(DType.F32, growth, channels, 3, 3)),
                        attrs("pads", new long[] {1, 1, 1, 1}), List.of(name + "_c")).output(0));
                joined = b.graph().addNode(name + "_cat", "Concat", new ArrayList<>(features), attrs("axis", 1L), List.of(name + "_cat")).output(0);
            }
            b.node("Relu", List.of(joined), attrs());
        }
        String source = b.assertMatchesInterpreter(dir, 1e-4);
        String[] concats = source.split(": Concat \\*/");
        for (int i = 1; i < concats.length; i++) {
            String body = concats[i].substring(0, concats[i].indexOf("/* node"));
            assertFalse(body.contains("memcpy"), "a Concat copies:" + body);
        }
    }
}
