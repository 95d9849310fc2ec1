package dev.kiln.server;

import ai.onnx.proto.OnnxMl;
import ai.onnx.proto.OnnxMl.AttributeProto.AttributeType;
import com.google.protobuf.ByteString;
import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.Interpreter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * Old ONNX opset forms whose semantics differ from the newest op, imported and run by the
 * interpreter. The expected values were computed with numpy following the old operator's spec
 * (ONNX Changelog.md); each case says the rule it checks.
 */
class OldOpsetNumericsTest {
    private static final float TOLERANCE = 1e-6f;

    @TempDir
    Path dir;

    // ---- building and running small ONNX models ----

    /** An ONNX node named after its op in lower case, with one output "y" unless told otherwise. */
    static final class Node {
        final OnnxMl.NodeProto.Builder proto;

        Node(String op, String... inputs) {
            proto = OnnxMl.NodeProto.newBuilder().setOpType(op).setName(op.toLowerCase()).addOutput("y");
            for (String in : inputs) proto.addInput(in);
        }

        Node attr(String name, long v) { return add(attribute(name, AttributeType.INT).setI(v)); }
        Node attr(String name, String v) { return add(attribute(name, AttributeType.STRING).setS(ByteString.copyFromUtf8(v))); }

        Node ints(String name, long... v) {
            OnnxMl.AttributeProto.Builder a = attribute(name, AttributeType.INTS);
            for (long x : v) a.addInts(x);
            return add(a);
        }

        private static OnnxMl.AttributeProto.Builder attribute(String name, AttributeType type) {
            return OnnxMl.AttributeProto.newBuilder().setName(name).setType(type);
        }

        private Node add(OnnxMl.AttributeProto.Builder a) {
            proto.addAttribute(a);
            return this;
        }
    }

    static Node node(String op, String... inputs) { return new Node(op, inputs); }

    /** A one-node model at an opset: f32 input "x" (a String dim is symbolic), f32 initializers, output "y". */
    static final class Model {
        final int opset;
        final OnnxMl.GraphProto.Builder graph = OnnxMl.GraphProto.newBuilder().setName("g");

        Model(int opset, Object... inputDims) {
            this.opset = opset;
            OnnxMl.TensorShapeProto.Builder shape = OnnxMl.TensorShapeProto.newBuilder();
            for (Object d : inputDims) {
                OnnxMl.TensorShapeProto.Dimension.Builder dim = OnnxMl.TensorShapeProto.Dimension.newBuilder();
                if (d instanceof String symbol) dim.setDimParam(symbol);
                else dim.setDimValue(((Number) d).longValue());
                shape.addDim(dim);
            }
            graph.addInput(OnnxMl.ValueInfoProto.newBuilder().setName("x").setType(OnnxMl.TypeProto.newBuilder()
                    .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(OnnxMl.TensorProto.DataType.FLOAT_VALUE).setShape(shape))));
            graph.addOutput(OnnxMl.ValueInfoProto.newBuilder().setName("y"));
        }

        Model floats(String name, long[] dims, float... values) {
            ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : values) b.putFloat(v);
            OnnxMl.TensorProto.Builder t = OnnxMl.TensorProto.newBuilder().setName(name)
                    .setDataType(OnnxMl.TensorProto.DataType.FLOAT_VALUE).setRawData(ByteString.copyFrom(b.array()));
            for (long d : dims) t.addDims(d);
            graph.addInitializer(t);
            return this;
        }

        Model node(Node n) {
            graph.addNode(n.proto);
            return this;
        }
    }

    static long[] dims(long... d) { return d; }

    /** Imports the model, runs it on x and checks output y's shape and values. */
    void assertRuns(Model m, Tensor x, long[] expectedShape, float... expected) throws Exception {
        Path file = dir.resolve("model.onnx");
        Files.write(file, OnnxMl.ModelProto.newBuilder().setIrVersion(7)
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(m.opset))
                .setGraph(m.graph).build().toByteArray());
        Tensor y = new Interpreter(OnnxFrontend.load(file, (String) null)).run(Map.of("x", x)).get("y");
        assertArrayEquals(expectedShape, y.shape());
        assertArrayEquals(expected, y.toFloatArray(), TOLERANCE);
    }

    // ---- cases ----

    /** x[2,3,4]: the values ((i * 7) % 11) / 2 - 2, so that the two batch rows differ. */
    static final float[] SOFTMAX_X = {
            -2.0f, 1.5f, -0.5f, 3.0f, 1.0f, -1.0f, 2.5f, 0.5f, -1.5f, 2.0f, 0.0f, -2.0f,
            1.5f, -0.5f, 3.0f, 1.0f, -1.0f, 2.5f, 0.5f, -1.5f, 2.0f, 0.0f, -2.0f, 1.5f};

    /** Softmax 11 coerces x to 2-D at axis 1, [2,12], and normalises each row of 12 (not along axis 1 alone). */
    static final float[] SOFTMAX_Y = {
            0.0026549871545284986f, 0.08792109787464142f, 0.01189882680773735f, 0.3940350115299225f,
            0.053326841443777084f, 0.007217003032565117f, 0.2389943152666092f, 0.03234436362981796f,
            0.004377333447337151f, 0.14495737850666046f, 0.019617848098278046f, 0.0026549871545284986f,
            0.08101339638233185f, 0.010963971726596355f, 0.3630768656730652f, 0.04913711175322533f,
            0.006649984512478113f, 0.2202172428369522f, 0.029803164303302765f, 0.004033419769257307f,
            0.13356851041316986f, 0.01807653345167637f, 0.0024463925510644913f, 0.08101339638233185f};

    @Test
    void softmax11WithAxis1OnRank3NormalisesOverTheFlattenedTail() throws Exception {
        assertRuns(new Model(11, 2, 3, 4).node(node("Softmax", "x").attr("axis", 1L)),
                Tensor.ofFloats(SOFTMAX_X, 2, 3, 4), dims(2, 3, 4), SOFTMAX_Y);
    }

    @Test
    void softmax11OnADynamicBatchRestoresTheShape() throws Exception {
        assertRuns(new Model(11, "N", 3, 4).node(node("Softmax", "x")),
                Tensor.ofFloats(SOFTMAX_X, 2, 3, 4), dims(2, 3, 4), SOFTMAX_Y);
    }

    /** Upsample 9 nearest: out[i] = x[floor(i / scale)] on every axis. */
    @Test
    void upsample9NearestRepeatsByFlooring() throws Exception {
        Model m = new Model(9, 1, 1, 2, 2).floats("scales", dims(4), 1, 1, 2, 3)
                .node(node("Upsample", "x", "scales").attr("mode", "nearest"));
        assertRuns(m, Tensor.ofFloats(new float[] {1, 2, 3, 4}, 1, 1, 2, 2), dims(1, 1, 4, 6),
                1, 1, 1, 2, 2, 2,
                1, 1, 1, 2, 2, 2,
                3, 3, 3, 4, 4, 4,
                3, 3, 3, 4, 4, 4);
    }

    /** Resize 10 nearest with a fractional scale: columns floor(j / 1.5) = 0, 0, 1, 2 of floor(3 * 1.5) = 4. */
    @Test
    void resize10NearestSamplesAsymmetricallyByFlooring() throws Exception {
        Model m = new Model(10, 1, 1, 2, 3).floats("scales", dims(4), 1, 1, 2, 1.5f)
                .node(node("Resize", "x", "scales").attr("mode", "nearest"));
        assertRuns(m, Tensor.ofFloats(new float[] {0, 1, 2, 3, 4, 5}, 1, 1, 2, 3), dims(1, 1, 4, 4),
                0, 0, 1, 2,
                0, 0, 1, 2,
                3, 3, 4, 5,
                3, 3, 4, 5);
    }

    /** BatchNormalization 7 with spatial=0: statistics per activation (C x D1); y = (x - mean) / sqrt(var + 1e-5) * scale + B. */
    @Test
    void batchNormalization7PerActivationUsesStatisticsPerElement() throws Exception {
        Model m = new Model(7, 2, 3, 2)
                .floats("scale", dims(3, 2), 1, 2, 3, 4, 5, 6).floats("bias", dims(3, 2), 0, 0, 1, 1, 2, 2)
                .floats("mean", dims(3, 2), 0, 1, 2, 3, 4, 5).floats("var", dims(3, 2), 1, 1, 4, 4, 9, 9)
                .node(node("BatchNormalization", "x", "scale", "bias", "mean", "var").attr("spatial", 0L));
        assertRuns(m, Tensor.ofFloats(new float[] {-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6}, 2, 3, 2), dims(2, 3, 2),
                -4.999975204467773f, -9.999950408935547f, -6.499991416931152f, -8.999988555908203f,
                -6.333329200744629f, -7.999994277954102f, 0.9999949932098389f, 1.9999899864196777f,
                2.499998092651367f, 2.999997615814209f, 3.666665554046631f, 3.9999988079071045f);
    }

    /** Pad 2 reflect with pads [0, 1, 0, 2]: one column mirrored before, two after (numpy's "reflect"). */
    @Test
    void pad2ReflectMirrorsWithoutTheEdge() throws Exception {
        Model m = new Model(2, 2, 3).node(node("Pad", "x").attr("mode", "reflect").ints("pads", 0, 1, 0, 2));
        assertRuns(m, Tensor.ofFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3), dims(2, 6),
                2, 1, 2, 3, 2, 1,
                5, 4, 5, 6, 5, 4);
    }

    /**
     * ConvTranspose 9 with strides 2 and output_shape [6, 6]: the full result is 7x7, and opset 1's
     * rule puts the odd padding element at the end, so the output is its top-left 6x6
     * (opset 11's rule would keep the bottom-right 6x6).
     */
    @Test
    void convTranspose9OutputShapeCropsAtTheEnd() throws Exception {
        Model m = new Model(9, 1, 1, 3, 3).floats("w", dims(1, 1, 3, 3), 1, 0, -1, 2, 1, 0, 0, 1, 3)
                .node(node("ConvTranspose", "x", "w").ints("strides", 2, 2).ints("output_shape", 6, 6));
        assertRuns(m, Tensor.ofFloats(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3), dims(1, 1, 6, 6),
                1, 0, 1, 0, 1, 0,
                2, 1, 4, 2, 6, 3,
                4, 1, 4, 2, 7, 3,
                8, 4, 10, 5, 12, 6,
                7, 4, 13, 5, 16, 6,
                14, 7, 16, 8, 18, 9);
    }
}
