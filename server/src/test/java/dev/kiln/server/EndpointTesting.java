package dev.kiln.server;

import ai.onnx.proto.OnnxMl;
import dev.kiln.jobs.ModelArchiveWriter;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What the endpoint tests share: a model small enough that many jobs compile quickly. */
final class EndpointTesting {
    private EndpointTesting() {}

    /** model.tar.gz holding y = Relu(x) over f32[1,8]. */
    static Path tinyModelArchive(Path dir) throws IOException {
        OnnxMl.TensorShapeProto.Builder shape = OnnxMl.TensorShapeProto.newBuilder()
                .addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(1))
                .addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(8));
        OnnxMl.TypeProto type = OnnxMl.TypeProto.newBuilder()
                .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(1).setShape(shape)).build();
        OnnxMl.GraphProto graph = OnnxMl.GraphProto.newBuilder().setName("tiny")
                .addInput(OnnxMl.ValueInfoProto.newBuilder().setName("x").setType(type))
                .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Relu").setName("relu").addInput("x").addOutput("y"))
                .addOutput(OnnxMl.ValueInfoProto.newBuilder().setName("y").setType(type)).build();
        OnnxMl.ModelProto model = OnnxMl.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).setGraph(graph).build();
        Files.createDirectories(dir);
        Path onnx = Files.write(dir.resolve("tiny.onnx"), model.toByteArray());
        Path archive = dir.resolve("tiny.tar.gz");
        ModelArchiveWriter.write(onnx, archive);
        return archive;
    }

    /** A CreateCompilationJob body for an ONNX archive with one input named x or input0, compiled for ml_c5. */
    static String createBody(String name, Path archive, String shapes, Path output) {
        return "{\"CompilationJobName\":\"" + name + "\",\"RoleArn\":\"arn:aws:iam::123456789012:role/kiln\","
                + "\"InputConfig\":{\"S3Uri\":\"" + archive + "\",\"DataInputConfig\":" + quote(shapes) + ",\"Framework\":\"ONNX\"},"
                + "\"OutputConfig\":{\"S3OutputLocation\":\"" + output + "\",\"TargetDevice\":\"ml_c5\"},"
                + "\"StoppingCondition\":{\"MaxRuntimeInSeconds\":600}}";
    }

    private static String quote(String s) { return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\""; }
}
