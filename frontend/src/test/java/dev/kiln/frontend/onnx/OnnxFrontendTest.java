package dev.kiln.frontend.onnx;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import dev.kiln.frontend.ImportException;
import dev.kiln.ir.Constant;
import dev.kiln.ir.Graph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OnnxFrontendTest {
    @TempDir
    Path dir;

    static OnnxMl.ValueInfoProto input(String name, Object... dims) {
        OnnxMl.TensorShapeProto.Builder shape = OnnxMl.TensorShapeProto.newBuilder();
        for (Object d : dims) {
            OnnxMl.TensorShapeProto.Dimension.Builder b = OnnxMl.TensorShapeProto.Dimension.newBuilder();
            if (d instanceof String s) b.setDimParam(s);
            else if (d != null) b.setDimValue(((Number) d).longValue());
            shape.addDim(b);
        }
        return OnnxMl.ValueInfoProto.newBuilder().setName(name)
                .setType(OnnxMl.TypeProto.newBuilder().setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(1).setShape(shape)))
                .build();
    }

    static OnnxMl.ValueInfoProto output(String name) {
        return OnnxMl.ValueInfoProto.newBuilder().setName(name).build();
    }

    static ByteString floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        return ByteString.copyFrom(b.array());
    }

    Path save(OnnxMl.GraphProto.Builder graph, long irVersion, long opset) throws Exception {
        Path file = dir.resolve("model.onnx");
        Files.write(file, OnnxMl.ModelProto.newBuilder().setIrVersion(irVersion)
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(opset))
                .setGraph(graph.setName("g")).build().toByteArray());
        return file;
    }

    /** y = x + w with w an initializer of four floats. */
    OnnxMl.GraphProto.Builder addWeights(OnnxMl.TensorProto w) {
        return OnnxMl.GraphProto.newBuilder()
                .addInput(input("x", "batch", 4))
                .addInitializer(w)
                .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Add").setName("add").addInput("x").addInput("w").addOutput("y"))
                .addOutput(output("y"));
    }

    static OnnxMl.TensorProto.Builder weights() {
        return OnnxMl.TensorProto.newBuilder().setName("w").setDataType(1).addDims(4);
    }

    @Test
    void initializersStayOffHeapAndSymbolicDimsSurvive() throws Exception {
        Graph g = OnnxFrontend.load(save(addWeights(weights().setRawData(floats(1, 2, 3, 4)).build()), 8, 17), (String) null);
        Constant w = g.constants().get("w");
        assertTrue(w.data().isDirect(), "initializer bytes should alias the memory-mapped model file");
        assertEquals(3f, w.data().getFloat(8));
        assertEquals("f32[batch,4]", g.inputs().get(0).type().toString());
        assertEquals("f32[batch,4]", g.outputs().get(0).type().toString());
    }

    @Test
    void typedInitializerFieldsAreRead() throws Exception {
        Graph g = OnnxFrontend.load(save(addWeights(weights().addAllFloatData(List.of(5f, 6f, 7f, 8f)).build()), 3, 7), (String) null);
        assertEquals(8f, g.constants().get("w").data().getFloat(12));
    }

    @Test
    void externalDataIsMappedFromBesideTheModel() throws Exception {
        Files.write(dir.resolve("w.bin"), floats(0, 0, 9, 10, 11, 12).toByteArray());
        OnnxMl.TensorProto w = weights().setDataLocation(OnnxMl.TensorProto.DataLocation.EXTERNAL)
                .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("location").setValue("w.bin"))
                .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("offset").setValue("8"))
                .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("length").setValue("16")).build();
        Graph g = OnnxFrontend.load(save(addWeights(w), 8, 17), (String) null);
        ByteBuffer data = g.constants().get("w").data();
        assertEquals(9f, data.getFloat(0));
        assertEquals(12f, data.getFloat(12));
    }

    @Test
    void externalDataOutsideTheModelDirectoryIsRefused() throws Exception {
        OnnxMl.TensorProto w = weights().setDataLocation(OnnxMl.TensorProto.DataLocation.EXTERNAL)
                .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("location").setValue("../../etc/passwd")).build();
        ImportException e = assertThrows(ImportException.class, () -> OnnxFrontend.load(save(addWeights(w), 8, 17), (String) null));
        assertEquals("ClientError: tensor 'w' refers to external data outside the model directory: ../../etc/passwd", e.getMessage());
    }

    @Test
    void dataInputConfigFixesShapesInEveryForm() throws Exception {
        Path model = save(addWeights(weights().setRawData(floats(1, 2, 3, 4)).build()), 8, 17);
        assertEquals("f32[2,4]", OnnxFrontend.load(model, "{\"x\":[2,4]}").inputs().get(0).type().toString());
        assertEquals("f32[3,4]", OnnxFrontend.load(model, "[[3,4]]").inputs().get(0).type().toString());
        assertEquals("f32[5,4]", OnnxFrontend.load(model, "{\\\"x\\\":[5,4]}").outputs().get(0).type().toString());
    }

    @Test
    void dataInputConfigMistakesSayWhichInputAndWhatWasExpected() throws Exception {
        Path model = save(addWeights(weights().setRawData(floats(1, 2, 3, 4)).build()), 8, 17);
        assertEquals("ClientError: InputConfiguration: DataInputConfig names input 'data', but the model's inputs are [x]",
                assertThrows(ImportException.class, () -> OnnxFrontend.load(model, "{\"data\":[1,4]}")).getMessage());
        assertEquals("ClientError: InputConfiguration: input 'x' has rank 2 (f32[batch,4]) but DataInputConfig gives shape [1,3,4]".replace("f32[batch,4]", "[batch,4]"),
                assertThrows(ImportException.class, () -> OnnxFrontend.load(model, "{\"x\":[1,3,4]}")).getMessage());
        assertEquals("ClientError: InputConfiguration: input 'x' has shape [batch,4] but DataInputConfig gives [1,5]",
                assertThrows(ImportException.class, () -> OnnxFrontend.load(model, "{\"x\":[1,5]}")).getMessage());
        assertEquals("ClientError: DataInputConfig input 'x': dimension 0 must be a positive integer, got -1",
                assertThrows(ImportException.class, () -> OnnxFrontend.load(model, "{\"x\":[-1,4]}")).getMessage());
        assertTrue(assertThrows(ImportException.class, () -> OnnxFrontend.load(model, "{\"x\":[1,4]")).getMessage()
                .startsWith("ClientError: DataInputConfig is not valid JSON"));
    }

    @Test
    void versionsOutsideTheSupportedRangeAreRefused() throws Exception {
        OnnxMl.GraphProto.Builder g = addWeights(weights().setRawData(floats(1, 2, 3, 4)).build());
        assertEquals("ClientError: ONNX IR version 2 is not supported; Kiln reads IR versions 3 to 13",
                assertThrows(ImportException.class, () -> OnnxFrontend.load(save(g, 2, 17), (String) null)).getMessage());
        assertEquals("ClientError: ONNX opset 29 is not supported; Kiln reads opsets 1 to 28",
                assertThrows(ImportException.class, () -> OnnxFrontend.load(save(g, 8, 29), (String) null)).getMessage());
    }

    @Test
    void constantNodesBecomeConstants() throws Exception {
        OnnxMl.GraphProto.Builder g = OnnxMl.GraphProto.newBuilder()
                .addInput(input("x", 2))
                .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Constant").setName("c").addOutput("k")
                        .addAttribute(OnnxMl.AttributeProto.newBuilder().setName("value_floats").setType(OnnxMl.AttributeProto.AttributeType.FLOATS)
                                .addFloats(1.5f).addFloats(-2f)))
                .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Mul").setName("m").addInput("x").addInput("k").addOutput("y"))
                .addOutput(output("y"));
        Graph graph = OnnxFrontend.load(save(g, 8, 17), (String) null);
        assertEquals(1, graph.nodes().size());
        assertEquals(-2f, graph.constants().get("k").data().getFloat(4));
    }
}
