package dev.kiln.cli;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.text.IrFiles;
import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KilnCliTest {
    @TempDir
    Path dir;

    record Result(int code, String out, String err) {}

    static Result kiln(String... argv) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Kiln.run(List.of(argv), new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** A one-error result: exit 2, one stderr line containing {@code expected}, no stack trace. */
    static void assertUserError(Result r, String expected) {
        assertEquals(2, r.code(), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("kiln: "), r.err());
        assertTrue(r.err().contains(expected), "expected '" + expected + "' in: " + r.err());
        assertFalse(r.err().contains("\tat "), r.err());
    }

    static OnnxMl.ValueInfoProto tensorInfo(String name, int elemType, long... dims) {
        OnnxMl.TensorShapeProto.Builder shape = OnnxMl.TensorShapeProto.newBuilder();
        for (long d : dims) shape.addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        return OnnxMl.ValueInfoProto.newBuilder().setName(name)
                .setType(OnnxMl.TypeProto.newBuilder().setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(shape)))
                .build();
    }

    static OnnxMl.NodeProto node(String op, String name, List<String> in, List<String> out) {
        return OnnxMl.NodeProto.newBuilder().setOpType(op).setName(name).addAllInput(in).addAllOutput(out).build();
    }

    static Path write(Path file, OnnxMl.GraphProto graph) throws Exception {
        OnnxMl.ModelProto m = OnnxMl.ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .setGraph(graph).build();
        Files.write(file, m.toByteArray());
        return file;
    }

    /** z = x + y, and w = Relu(z), over f32[2,3]; output names chosen by the caller. */
    Path addRelu(String sumName, String reluName) throws Exception {
        return write(dir.resolve("addrelu.onnx"), OnnxMl.GraphProto.newBuilder().setName("g")
                .addInput(tensorInfo("x", 1, 2, 3)).addInput(tensorInfo("y", 1, 2, 3))
                .addNode(node("Add", "add", List.of("x", "y"), List.of(sumName)))
                .addNode(node("Relu", "relu", List.of(sumName), List.of(reluName)))
                .addOutput(tensorInfo(sumName, 1, 2, 3)).addOutput(tensorInfo(reluName, 1, 2, 3)).build());
    }

    Path npy(String name, Tensor t) throws Exception {
        Path p = dir.resolve(name);
        Npy.write(p, t);
        return p;
    }

    @Test
    void runsAnOnnxModelAndWritesNpyOutputs() throws Exception {
        Path model = addRelu("z", "w");
        Path x = npy("x.npy", Tensor.ofFloats(new float[] {1, -2, 3, -4, 5, -6}, 2, 3));
        Path y = npy("y.npy", Tensor.ofFloats(new float[] {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, 2, 3));
        Result r = kiln("run", model.toString(), "--input", "x=" + x, "--input", "y=" + y, "--output-dir", dir.resolve("out").toString());
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(new float[] {1.5f, -1.5f, 3.5f, -3.5f, 5.5f, -5.5f}, Npy.read(dir.resolve("out/z.npy")).toFloatArray());
        assertArrayEquals(new float[] {1.5f, 0, 3.5f, 0, 5.5f, 0}, Npy.read(dir.resolve("out/w.npy")).toFloatArray());
    }

    @Test
    void repeatPrintsLatencyJson() throws Exception {
        Path model = addRelu("z", "w");
        Path x = npy("x.npy", Tensor.ofFloats(new float[6], 2, 3));
        Result r = kiln("run", model.toString(), "--input", "x=" + x, "--input", "y=" + x, "--output-dir", dir.toString(),
                "--warmup", "2", "--repeat", "5", "--threads", "1");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().strip().matches("\\{\"median_ms\":[0-9.]+,\"p90_ms\":[0-9.]+,\"min_ms\":[0-9.]+}"), r.out());
    }

    @Test
    void runsAnIrFile() throws Exception {
        Path ir = dir.resolve("m.ir");
        IrFiles.write(OnnxFrontend.load(addRelu("z", "w"), (String) null), ir);
        Path x = npy("x.npy", Tensor.ofFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
        Result r = kiln("run", ir.toString(), "--input", "x=" + x, "--input", "y=" + x, "--output-dir", dir.resolve("o").toString());
        assertEquals(0, r.code(), r.err());
        assertArrayEquals(new float[] {2, 4, 6, 8, 10, 12}, Npy.read(dir.resolve("o/w.npy")).toFloatArray());
    }

    @Test
    void outputNamesWithQuotesNewlinesAndSeparatorsStayInsideTheOutputDir() throws Exception {
        Path model = addRelu("../evil\"sum\n", "a/b\\c");
        Path x = npy("x.npy", Tensor.ofFloats(new float[6], 2, 3));
        Path out = dir.resolve("out");
        Result r = kiln("run", model.toString(), "--input", "x=" + x, "--input", "y=" + x, "--output-dir", out.toString());
        assertEquals(0, r.code(), r.err());
        List<String> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(out)) {
            s.forEach(p -> files.add(p.getFileName().toString()));
        }
        files.sort(null);
        assertEquals(List.of(".._evil_sum_.npy", "a_b_c.npy"), files);
    }

    @Test
    void garbageAndTruncatedModelsAreClearErrors() throws Exception {
        Path garbage = dir.resolve("garbage.onnx");
        Files.write(garbage, "this is not a model at all".getBytes(StandardCharsets.UTF_8));
        assertUserError(kiln("run", garbage.toString(), "--output-dir", dir.toString()), "garbage.onnx is not a valid ONNX model");

        byte[] whole = Files.readAllBytes(addRelu("z", "w"));
        Path truncated = dir.resolve("truncated.onnx");
        Files.write(truncated, java.util.Arrays.copyOf(whole, whole.length / 2));
        assertUserError(kiln("run", truncated.toString(), "--output-dir", dir.toString()), "truncated.onnx is not a valid ONNX model");
    }

    @Test
    void cyclesAndDanglingInputsAreClearErrors() throws Exception {
        Path cyclic = write(dir.resolve("cycle.onnx"), OnnxMl.GraphProto.newBuilder()
                .addInput(tensorInfo("x", 1, 2))
                .addNode(node("Add", "a", List.of("x", "b_out"), List.of("a_out")))
                .addNode(node("Relu", "b", List.of("a_out"), List.of("b_out")))
                .addOutput(tensorInfo("b_out", 1, 2)).build());
        assertUserError(kiln("run", cyclic.toString(), "--output-dir", dir.toString()), "the graph has a cycle");

        Path dangling = write(dir.resolve("dangling.onnx"), OnnxMl.GraphProto.newBuilder()
                .addInput(tensorInfo("x", 1, 2))
                .addNode(node("Add", "a", List.of("x", "nowhere"), List.of("y")))
                .addOutput(tensorInfo("y", 1, 2)).build());
        assertUserError(kiln("run", dangling.toString(), "--output-dir", dir.toString()),
                "node a (Add) uses value 'nowhere', which is neither a graph input, an initializer nor a node output");
    }

    static OnnxMl.TensorProto floats(String name, ByteString raw, long... dims) {
        OnnxMl.TensorProto.Builder t = OnnxMl.TensorProto.newBuilder().setName(name).setDataType(1).setRawData(raw);
        for (long d : dims) t.addDims(d);
        return t.build();
    }

    @Test
    void badInitializersAreClearErrors() throws Exception {
        Path shortData = write(dir.resolve("short.onnx"), OnnxMl.GraphProto.newBuilder()
                .addInput(tensorInfo("x", 1, 4))
                .addInitializer(floats("w", ByteString.copyFrom(new byte[12]), 4))
                .addNode(node("Add", "a", List.of("x", "w"), List.of("y")))
                .addOutput(tensorInfo("y", 1, 4)).build());
        assertUserError(kiln("run", shortData.toString(), "--output-dir", dir.toString()),
                "tensor 'w' of type f32[4] needs 16 bytes but its raw data has 12");

        Path overflow = write(dir.resolve("overflow.onnx"), OnnxMl.GraphProto.newBuilder()
                .addInput(tensorInfo("x", 1, 4))
                .addInitializer(floats("w", ByteString.EMPTY, 1L << 40, 1L << 40))
                .addNode(node("Add", "a", List.of("x", "w"), List.of("y")))
                .addOutput(tensorInfo("y", 1, 4)).build());
        assertUserError(kiln("run", overflow.toString(), "--output-dir", dir.toString()), "tensor 'w' has a shape whose size overflows");
    }

    @Test
    void unsupportedOpsAreAllListed() throws Exception {
        Path model = write(dir.resolve("ops.onnx"), OnnxMl.GraphProto.newBuilder()
                .addInput(tensorInfo("x", 1, 4))
                .addNode(node("FancyOp", "f1", List.of("x"), List.of("a")))
                .addNode(node("OtherOp", "f2", List.of("a"), List.of("b")))
                .addOutput(tensorInfo("b", 1, 4)).build());
        assertUserError(kiln("run", model.toString(), "--output-dir", dir.toString()),
                "OperatorNotImplemented: ONNX op FancyOp (ai.onnx, opset 17) at node f1; ONNX op OtherOp (ai.onnx, opset 17) at node f2");
    }

    @Test
    void missingExtraAndBadInputsAreClearErrors() throws Exception {
        Path model = addRelu("z", "w");
        Path good = npy("good.npy", Tensor.ofFloats(new float[6], 2, 3));
        String out = dir.resolve("out").toString();
        assertUserError(kiln("run", model.toString(), "--input", "x=" + good, "--output-dir", out), "missing --input y=FILE.npy (f32[2,3])");
        assertUserError(kiln("run", model.toString(), "--input", "x=" + good, "--input", "y=" + good, "--input", "q=" + good, "--output-dir", out),
                "the model has no input named 'q'; its inputs are [x, y]");

        Path ints = npy("ints.npy", Tensor.ofInts(new int[6], 2, 3));
        assertUserError(kiln("run", model.toString(), "--input", "x=" + good, "--input", "y=" + ints, "--output-dir", out),
                "input 'y' has dtype i32 but f32 is expected");
        Path wrongShape = npy("shape.npy", Tensor.ofFloats(new float[6], 3, 2));
        assertUserError(kiln("run", model.toString(), "--input", "x=" + good, "--input", "y=" + wrongShape, "--output-dir", out),
                "input 'y' has shape [3, 2] but [2,3] is expected");

        byte[] bytes = Files.readAllBytes(good);
        Path corrupt = dir.resolve("corrupt.npy");
        Files.write(corrupt, java.util.Arrays.copyOf(bytes, bytes.length - 5));
        assertUserError(kiln("run", model.toString(), "--input", "x=" + good, "--input", "y=" + corrupt, "--output-dir", out),
                "should hold 24 bytes of data for shape [2,3] and dtype f32 but holds 19");
        Path notNpy = dir.resolve("not.npy");
        Files.writeString(notNpy, "hello");
        assertUserError(kiln("run", model.toString(), "--input", "x=" + good, "--input", "y=" + notNpy, "--output-dir", out), "is not a .npy file");
    }

    @Test
    void verboseAddsTheStackTrace() throws Exception {
        Path garbage = dir.resolve("garbage.onnx");
        Files.write(garbage, new byte[] {1, 2, 3});
        Result r = kiln("run", garbage.toString(), "--output-dir", dir.toString(), "--verbose");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("\tat "), r.err());
    }

    @Test
    void usageMistakesAreClearErrors() {
        assertUserError(kiln("run"), "kiln run takes one MODEL, got 0");
        assertUserError(kiln("frobnicate"), "unknown command 'frobnicate'");
        assertUserError(kiln("run", "m.onnx", "--output-dir", "d", "--bogus"), "unknown option --bogus");
        assertUserError(kiln("run", dir.resolve("nope.onnx").toString(), "--output-dir", "d"), "does not exist");
    }

}
