package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** BatchNormalization, InstanceNormalization, GroupNormalization and LRN against the interpreter; blocked layouts refused. */
class ChannelNormalizationEmitterTest {
    private static final List<DType> FLOATS = List.of(DType.F32, DType.F64, DType.F16, DType.BF16);

    @TempDir
    Path dir;

    /** X, scale, bias, mean and a positive variance for channels c; the parameters of dtype p. */
    private static List<Value> batchNorm(OpBatch b, DType t, DType p, long... shape) {
        long c = shape.length > 1 ? shape[1] : 1;
        return List.of(b.input(t, shape), b.input(p, c), b.input(p, c), b.input(p, c), b.input(p, new long[] {c}, () -> b.random().nextDouble() * 3));
    }

    @Test
    void batchNormalizationInferenceAndTraining() {
        OpBatch b = new OpBatch("batch_norm", 1);
        for (DType t : FLOATS) {
            b.node("BatchNormalization", batchNorm(b, t, t, 2, 3, 4, 5), Map.of());
            b.node("BatchNormalization", batchNorm(b, t, DType.F32, 3, 17), attrs("epsilon", 0.5f));
            b.node("BatchNormalization", batchNorm(b, t, t, 2, 3, 4, 5), attrs("training_mode", 1L, "momentum", 0.75f), 3);
            b.node("BatchNormalization", batchNorm(b, t, DType.F64, 2, 3, 2, 1, 3), attrs("training_mode", 1L));
        }
        b.node("BatchNormalization", batchNorm(b, DType.F32, DType.F32, 7), Map.of());
        b.node("BatchNormalization", batchNorm(b, DType.F32, DType.F32, 0, 3, 2), Map.of());
        b.node("BatchNormalization", batchNorm(b, DType.F16, DType.F32, 5, 2), attrs("training_mode", 1L), 3);
        b.assertMatchesAsWritten(dir, 1e-5);
    }

    @Test
    void instanceGroupNormalizationAndLrn() {
        OpBatch b = new OpBatch("group_norm", 2);
        for (DType t : FLOATS) {
            b.node("InstanceNormalization", List.of(b.input(t, 2, 3, 4, 5), b.input(t, 3), b.input(t, 3)), Map.of());
            b.node("InstanceNormalization", List.of(b.input(t, 2, 5, 17), b.input(t, 5), b.input(t, 5)), attrs("epsilon", 0.01f));
            for (long groups : new long[] {1, 2, 6}) {
                b.node("GroupNormalization", List.of(b.input(t, 2, 6, 3, 2), b.input(t, 6), b.input(t, 6)), attrs("num_groups", groups));
            }
            for (long size : new long[] {1, 2, 3, 5}) {
                b.node("LRN", List.of(b.input(t, 2, 7, 3, 2)), attrs("size", size, "alpha", 0.5f, "beta", 0.6f, "bias", 2f));
            }
            b.node("LRN", List.of(b.input(t, 1, 4, 5)), attrs("size", 3L));
        }
        b.node("InstanceNormalization", List.of(b.input(DType.F32, 1, 2, 1, 3, 1, 2), b.input(DType.F32, 2), b.input(DType.F32, 2)), Map.of());
        b.node("GroupNormalization", List.of(b.input(DType.F32, 3, 4), b.input(DType.F32, 4), b.input(DType.F32, 4)),
                attrs("num_groups", 2L, "stash_type", 11L));
        b.node("LRN", List.of(b.input(DType.F32, 2, 3)), attrs("size", 4L));
        b.assertMatchesAsWritten(dir, 1e-5);
    }

    @Test
    void inputsOfRunTimeShape() {
        OpBatch b = new OpBatch("channel_norm_run_time", 3);
        Value k = b.input(DType.I64, new long[] {1}, 3);
        Value x = b.node("TopK", List.of(b.input(DType.F32, 2, 4, 5), k), attrs("axis", 2L), 2).get(0);
        b.node("BatchNormalization", List.of(x, b.input(DType.F32, 4), b.input(DType.F32, 4), b.input(DType.F32, 4),
                b.input(DType.F32, new long[] {4}, () -> 1.5)), attrs("training_mode", 1L), 3);
        b.node("InstanceNormalization", List.of(x, b.input(DType.F32, 4), b.input(DType.F32, 4)), Map.of());
        b.node("GroupNormalization", List.of(x, b.input(DType.F32, 4), b.input(DType.F32, 4)), attrs("num_groups", 2L));
        b.node("LRN", List.of(x), attrs("size", 3L));
        Value channels = b.node("TopK", List.of(b.input(DType.F32, 2, 5, 3), k), attrs("axis", 1L), 2).get(0);
        b.node("LRN", List.of(channels), attrs("size", 2L));
        b.node("InstanceNormalization", List.of(channels, b.input(DType.F32, 3), b.input(DType.F32, 3)), Map.of());
        b.assertMatchesAsWritten(dir, 1e-5);
    }

    @Test
    void blockedLayoutsRunOnPlainValuesBetweenTransforms() {
        for (String op : List.of("BatchNormalization", "InstanceNormalization", "LRN")) {
            OpBatch b = new OpBatch("blocked_" + op, 4);
            Graph g = b.graph();
            Value x = g.addInput("x", new TensorType(DType.F32, Shape.of(1, 1, 4, 4, 16), Layout.of("NCHW16c")));
            List<Value> inputs = switch (op) {
                case "BatchNormalization" -> List.of(x, b.input(DType.F32, 16), b.input(DType.F32, 16), b.input(DType.F32, 16), b.input(DType.F32, 16));
                case "InstanceNormalization" -> List.of(x, b.input(DType.F32, 16), b.input(DType.F32, 16));
                default -> List.of(x);
            };
            Node n = g.addNode(op.toLowerCase(), op, inputs, op.equals("LRN") ? attrs("size", 3L) : Map.of(), List.of("y"));
            assertEquals(" (layout NCHW16c)", new ChannelNormalizationEmitter().problem(n));
            assertTrue(CCodeGenerator.supports(n), op + " runs on plain values");
        }
        // through the level-3 pipeline, which gives them blocked values between blocked convolutions
        OpBatch b = new OpBatch("blocked_between_convolutions", 5);
        Value x = b.input(DType.F32, 1, 16, 6, 6);
        for (String op : List.of("BatchNormalization", "InstanceNormalization", "LRN")) {
            Value conv = b.node("Conv", List.of(x, b.randomConstant(DType.F32, 16, 16, 3, 3)), attrs("pads", new long[] {1, 1, 1, 1}));
            Value relu = b.node("Relu", List.of(conv), Map.of());
            List<Value> inputs = switch (op) {
                case "BatchNormalization" -> List.of(relu, b.randomConstant(DType.F32, 16), b.randomConstant(DType.F32, 16),
                        b.randomConstant(DType.F32, 16), b.constant(DType.F32, new long[] {16}, new double[] {1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}));
                case "InstanceNormalization" -> List.of(relu, b.randomConstant(DType.F32, 16), b.randomConstant(DType.F32, 16));
                default -> List.of(relu);
            };
            Value norm = b.node(op, inputs, op.equals("LRN") ? attrs("size", 3L) : Map.of());
            b.node("Conv", List.of(norm, b.randomConstant(DType.F32, 16, 16, 1, 1)), Map.of());
        }
        b.assertMatchesInterpreter(dir, 1e-5);
    }
}
