package dev.kiln.frontend.onnx;

import ai.onnx.proto.OnnxMl;
import ai.onnx.proto.OnnxMl.AttributeProto.AttributeType;
import com.google.protobuf.ByteString;
import dev.kiln.frontend.ImportException;
import dev.kiln.ir.text.IrPrinter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The importer's rewrites of older ONNX opset forms into the IR's (newest) form, pinned as IR text:
 * each case builds a small model at an old opset and states the exact graph it imports as.
 */
class OnnxConvertersTest {
    @TempDir
    Path dir;

    // ---- building small ONNX models ----

    /** An ONNX node named after its op in lower case; inputs as given, outputs and attributes added fluently. */
    static final class Node {
        final OnnxMl.NodeProto.Builder proto;

        Node(String op, String... inputs) {
            proto = OnnxMl.NodeProto.newBuilder().setOpType(op).setName(op.toLowerCase());
            for (String in : inputs) proto.addInput(in);
        }

        Node named(String name) { proto.setName(name); return this; }
        Node domain(String domain) { proto.setDomain(domain); return this; }

        Node to(String... outputs) {
            for (String out : outputs) proto.addOutput(out);
            return this;
        }

        Node attr(String name, long v) { return add(attribute(name, AttributeType.INT).setI(v)); }
        Node attr(String name, float v) { return add(attribute(name, AttributeType.FLOAT).setF(v)); }
        Node attr(String name, String v) { return add(attribute(name, AttributeType.STRING).setS(ByteString.copyFromUtf8(v))); }

        Node ints(String name, long... v) {
            OnnxMl.AttributeProto.Builder a = attribute(name, AttributeType.INTS);
            for (long x : v) a.addInts(x);
            return add(a);
        }

        Node floats(String name, float... v) {
            OnnxMl.AttributeProto.Builder a = attribute(name, AttributeType.FLOATS);
            for (float x : v) a.addFloats(x);
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

    /** A model importing the default domain at one opset: f32 inputs unless told, initializers, nodes, outputs. */
    static final class Model {
        final OnnxMl.ModelProto.Builder proto = OnnxMl.ModelProto.newBuilder().setIrVersion(7);
        final OnnxMl.GraphProto.Builder graph = OnnxMl.GraphProto.newBuilder().setName("g");

        Model(int opset) { imports("", opset); }

        Model imports(String domain, int opset) {
            proto.addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain(domain).setVersion(opset));
            return this;
        }

        /** An f32 input; a String dim is symbolic. */
        Model input(String name, Object... dims) { return input(name, OnnxMl.TensorProto.DataType.FLOAT, dims); }

        Model input(String name, OnnxMl.TensorProto.DataType type, Object... dims) {
            OnnxMl.TensorShapeProto.Builder shape = OnnxMl.TensorShapeProto.newBuilder();
            for (Object d : dims) {
                OnnxMl.TensorShapeProto.Dimension.Builder dim = OnnxMl.TensorShapeProto.Dimension.newBuilder();
                if (d instanceof String symbol) dim.setDimParam(symbol);
                else dim.setDimValue(((Number) d).longValue());
                shape.addDim(dim);
            }
            graph.addInput(OnnxMl.ValueInfoProto.newBuilder().setName(name).setType(OnnxMl.TypeProto.newBuilder()
                    .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(type.getNumber()).setShape(shape))));
            return this;
        }

        /** An f32 initializer; dims {@code null} makes a scalar. */
        Model floats(String name, long[] dims, float... values) {
            ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (float v : values) b.putFloat(v);
            return initializer(name, OnnxMl.TensorProto.DataType.FLOAT, dims, b);
        }

        Model longs(String name, long[] dims, long... values) {
            ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
            for (long v : values) b.putLong(v);
            return initializer(name, OnnxMl.TensorProto.DataType.INT64, dims, b);
        }

        private Model initializer(String name, OnnxMl.TensorProto.DataType type, long[] dims, ByteBuffer data) {
            OnnxMl.TensorProto.Builder t = OnnxMl.TensorProto.newBuilder().setName(name).setDataType(type.getNumber())
                    .setRawData(ByteString.copyFrom(data.array()));
            if (dims != null) for (long d : dims) t.addDims(d);
            graph.addInitializer(t);
            return this;
        }

        Model node(Node n) {
            graph.addNode(n.proto);
            return this;
        }

        Model output(String... names) {
            for (String n : names) graph.addOutput(OnnxMl.ValueInfoProto.newBuilder().setName(n));
            return this;
        }
    }

    static long[] dims(long... d) { return d; }

    /** The IR text the model imports as. */
    String imported(Model m) throws Exception {
        Path file = dir.resolve("model.onnx");
        Files.write(file, m.proto.setGraph(m.graph).build().toByteArray());
        return IrPrinter.print(OnnxFrontend.load(file, (String) null));
    }

    /** IR text from lines, so that the expected graphs read as blocks. */
    static String ir(String... lines) { return String.join("\n", lines) + "\n"; }

    // ---- shape family ----

    @Test
    void slice9AttributesBecomeConstantInputs() throws Exception {
        Model m = new Model(9).input("x", 4, 6)
                .node(node("Slice", "x").to("y").ints("starts", 1, 0).ints("ends", 3, -1).ints("axes", 0, 1))
                .node(node("Slice", "x").named("head").to("z").ints("starts", 0).ints("ends", 2))
                .output("y", "z");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[4,6]",
                "  const %slice_starts : i64[2] = [1, 0]",
                "  const %slice_ends : i64[2] = [3, -1]",
                "  const %slice_axes : i64[2] = [0, 1]",
                "  const %head_starts : i64[1] = [0]",
                "  const %head_ends : i64[1] = [2]",
                "  node @slice %y = Slice(%x, %slice_starts, %slice_ends, %slice_axes) : f32[2,5]",
                "  node @head %z = Slice(%x, %head_starts, %head_ends) : f32[2,6]",
                "  output %y",
                "  output %z",
                "}"), imported(m));
    }

    @Test
    void split1FloatSizesInputBecomesAConstantI64Input() throws Exception {
        Model m = new Model(1).input("x", 6, 4)
                .floats("sizes", dims(2), 1, 5)
                .node(node("Split", "x", "sizes").to("a", "b").attr("axis", 0L))
                .output("a", "b");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[6,4]",
                "  const %sizes : f32[2] = [1.0, 5.0]",
                "  const %split_split : i64[2] = [1, 5]",
                "  node @split %a, %b = Split(%x, %split_split) {axis = 0} : f32[1,4], f32[5,4]",
                "  output %a",
                "  output %b",
                "}"), imported(m));
    }

    @Test
    void split11SizesAttributeBecomesAnInput() throws Exception {
        Model m = new Model(11).input("x", 6, 4)
                .node(node("Split", "x").to("a", "b").attr("axis", 0L).ints("split", 2, 4))
                .node(node("Split", "x").named("halves").to("c", "d").attr("axis", -1L))
                .output("a", "b", "c", "d");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[6,4]",
                "  const %split_split : i64[2] = [2, 4]",
                "  node @split %a, %b = Split(%x, %split_split) {axis = 0} : f32[2,4], f32[4,4]",
                "  node @halves %c, %d = Split(%x) {axis = -1} : f32[6,2], f32[6,2]",
                "  output %a",
                "  output %b",
                "  output %c",
                "  output %d",
                "}"), imported(m));
    }

    @Test
    void split18NumOutputsPassesThrough() throws Exception {
        Model m = new Model(18).input("x", 5, 4)
                .node(node("Split", "x").to("a", "b", "c").attr("num_outputs", 3L))
                .output("a", "b", "c");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[5,4]",
                "  node @split %a, %b, %c = Split(%x) {num_outputs = 3} : f32[2,4], f32[2,4], f32[1,4]",
                "  output %a",
                "  output %b",
                "  output %c",
                "}"), imported(m));
    }

    @Test
    void squeeze11AndUnsqueeze11AxesBecomeInputs() throws Exception {
        Model m = new Model(11).input("x", 1, 3, 1)
                .node(node("Squeeze", "x").to("s").ints("axes", 0))
                .node(node("Unsqueeze", "s").to("u").ints("axes", 0, 3))
                .node(node("Squeeze", "x").named("squeeze_all").to("all"))
                .output("u", "all");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[1,3,1]",
                "  const %squeeze_axes : i64[1] = [0]",
                "  const %unsqueeze_axes : i64[2] = [0, 3]",
                "  node @squeeze %s = Squeeze(%x, %squeeze_axes) : f32[3,1]",
                "  node @unsqueeze %u = Unsqueeze(%s, %unsqueeze_axes) : f32[1,3,1,1]",
                "  node @squeeze_all %all = Squeeze(%x) : f32[3]",
                "  output %u",
                "  output %all",
                "}"), imported(m));
    }

    @Test
    void pad2AttributesBecomeInputs() throws Exception {
        Model m = new Model(2).input("x", 2, 3)
                .node(node("Pad", "x").to("r").attr("mode", "reflect").ints("pads", 0, 1, 0, 2))
                .node(node("Pad", "x").named("filled").to("f").ints("pads", 1, 0, 0, 0).attr("value", 1.5f))
                .node(node("Pad", "x").named("zeros").to("z").ints("pads", 0, 0, 1, 0).attr("value", 0f))
                .output("r", "f", "z");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[2,3]",
                "  const %pad_pads : i64[4] = [0, 1, 0, 2]",
                "  const %filled_pads : i64[4] = [1, 0, 0, 0]",
                "  const %filled_value : f32[] = [1.5]",
                "  const %zeros_pads : i64[4] = [0, 0, 1, 0]",
                "  node @pad %r = Pad(%x, %pad_pads) {mode = \"reflect\"} : f32[2,6]",
                "  node @filled %f = Pad(%x, %filled_pads, %filled_value) : f32[3,3]",
                "  node @zeros %z = Pad(%x, %zeros_pads) : f32[3,3]",
                "  output %r",
                "  output %f",
                "  output %z",
                "}"), imported(m));
    }

    @Test
    void pad11PassesThrough() throws Exception {
        Model m = new Model(11).input("x", 2, 3)
                .longs("pads", dims(4), 1, 0, 0, 2)
                .floats("value", null, 1.5f)
                .node(node("Pad", "x", "pads", "value").to("y"))
                .output("y");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[2,3]",
                "  const %pads : i64[4] = [1, 0, 0, 2]",
                "  const %value : f32[] = [1.5]",
                "  node @pad %y = Pad(%x, %pads, %value) : f32[3,5]",
                "  output %y",
                "}"), imported(m));
    }

    @Test
    void upsample7ScalesAttributeAndBilinearBecomeLinearResize() throws Exception {
        Model m = new Model(7).input("x", 1, 1, 2, 2)
                .node(node("Upsample", "x").to("y").attr("mode", "bilinear").floats("scales", 1, 1, 2, 2))
                .output("y");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[1,1,2,2]",
                "  const %upsample_scales : f32[4] = [1.0, 1.0, 2.0, 2.0]",
                "  node @upsample %y = Resize(%x, _, %upsample_scales) {coordinate_transformation_mode = \"asymmetric\", mode = \"linear\"} : f32[1,1,4,4]",
                "  output %y",
                "}"), imported(m));
    }

    @Test
    void upsample9BecomesAsymmetricFlooringResize() throws Exception {
        Model m = new Model(9).input("x", 1, 1, 2, 2)
                .floats("scales", dims(4), 1, 1, 2, 3)
                .node(node("Upsample", "x", "scales").to("y").attr("mode", "nearest"))
                .output("y");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[1,1,2,2]",
                "  const %scales : f32[4] = [1.0, 1.0, 2.0, 3.0]",
                "  node @upsample %y = Resize(%x, _, %scales) {coordinate_transformation_mode = \"asymmetric\", mode = \"nearest\", nearest_mode = \"floor\"} : f32[1,1,4,6]",
                "  output %y",
                "}"), imported(m));
    }

    @Test
    void resize10BecomesAsymmetricFlooringResize() throws Exception {
        Model m = new Model(10).input("x", 1, 1, 4, 4)
                .floats("scales", dims(4), 1, 1, 0.5f, 2)
                .node(node("Resize", "x", "scales").to("y").attr("mode", "nearest"))
                .output("y");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[1,1,4,4]",
                "  const %scales : f32[4] = [1.0, 1.0, 0.5, 2.0]",
                "  node @resize %y = Resize(%x, _, %scales) {coordinate_transformation_mode = \"asymmetric\", mode = \"nearest\", nearest_mode = \"floor\"} : f32[1,1,2,8]",
                "  output %y",
                "}"), imported(m));
    }

    @Test
    void reshape1And4ShapeAttributeBecomesAnInput() throws Exception {
        for (int opset : new int[] {1, 4}) {
            Model m = new Model(opset).input("x", 2, 3, 4)
                    .node(node("Reshape", "x").to("y").ints("shape", 4, -1).ints("consumed_inputs", 0))
                    .output("y");
            assertEquals(ir(
                    "kiln.ir 1",
                    "graph g {",
                    "  input %x : f32[2,3,4]",
                    "  const %reshape_shape : i64[2] = [4, -1]",
                    "  node @reshape %y = Reshape(%x, %reshape_shape) : f32[4,6]",
                    "  output %y",
                    "}"), imported(m), "opset " + opset);
        }
    }

    // ---- reduction family ----

    @Test
    void reduceSum11AxesAttributeBecomesAnInput() throws Exception {
        Model m = new Model(11).input("x", 2, 3, 4)
                .node(node("ReduceSum", "x").to("y").ints("axes", 1).attr("keepdims", 0L))
                .node(node("ReduceSum", "x").named("total").to("t"))
                .output("y", "t");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[2,3,4]",
                "  const %reducesum_axes : i64[1] = [1]",
                "  node @reducesum %y = ReduceSum(%x, %reducesum_axes) {keepdims = 0} : f32[2,4]",
                "  node @total %t = ReduceSum(%x) : f32[1,1,1]",
                "  output %y",
                "  output %t",
                "}"), imported(m));
    }

    @Test
    void reduceMean13AxesAttributeBecomesAnInput() throws Exception {
        Model m = new Model(13).input("x", 2, 3, 4)
                .node(node("ReduceMean", "x").to("y").ints("axes", 0, -1))
                .output("y");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[2,3,4]",
                "  const %reducemean_axes : i64[2] = [0, -1]",
                "  node @reducemean %y = ReduceMean(%x, %reducemean_axes) : f32[1,3,1]",
                "  output %y",
                "}"), imported(m));
    }

    @Test
    void softmax11OverAMiddleAxisFlattensFromThatAxis() throws Exception {
        Model m = new Model(11).input("x", 2, 3, 4)
                .node(node("Softmax", "x").to("y").attr("axis", 1L))
                .node(node("LogSoftmax", "x").to("z").attr("axis", 2L))
                .output("y", "z");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[2,3,4]",
                "  const %softmax_shape : i64[3] = [2, 3, 4]",
                "  node @softmax_flatten %softmax_flatten_out = Flatten(%x) {axis = 1} : f32[2,12]",
                "  node @softmax %softmax_out = Softmax(%softmax_flatten_out) {axis = -1} : f32[2,12]",
                "  node @softmax_reshape %y = Reshape(%softmax_out, %softmax_shape) : f32[2,3,4]",
                "  node @logsoftmax %z = LogSoftmax(%x) {axis = -1} : f32[2,3,4]",
                "  output %y",
                "  output %z",
                "}"), imported(m));
    }

    @Test
    void softmax11OnDynamicShapesKeepsTheBatchSymbolWhereItCan() throws Exception {
        Model m = new Model(11).input("x", "N", 3, 4).input("v", "N", 3, "L")
                .node(node("Softmax", "x").to("y"))
                .node(node("Softmax", "v").named("both").to("w"))
                .output("y", "w");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[N,3,4]",
                "  input %v : f32[N,3,L]",
                "  const %softmax_shape : i64[3] = [0, 3, 4]",
                "  node @softmax_flatten %softmax_flatten_out = Flatten(%x) {axis = 1} : f32[N,12]",
                "  node @softmax %softmax_out = Softmax(%softmax_flatten_out) {axis = -1} : f32[N,12]",
                "  node @softmax_reshape %y = Reshape(%softmax_out, %softmax_shape) : f32[N,3,4]",
                "  node @both_flatten %both_flatten_out = Flatten(%v) {axis = 1} : f32[N,both_flatten_d0]",
                "  node @both %both_out = Softmax(%both_flatten_out) {axis = -1} : f32[N,both_flatten_d0]",
                "  node @both_shape %both_shape_out = Shape(%v) : i64[3]",
                "  node @both_reshape %w = Reshape(%both_out, %both_shape_out) {allowzero = 1} : f32[both_reshape_d0,both_reshape_d1,both_reshape_d2]",
                "  output %y",
                "  output %w",
                "}"), imported(m));
    }

    @Test
    void topK9KAttributeBecomesAnInput() throws Exception {
        Model m = new Model(9).input("x", 3, 5)
                .node(node("TopK", "x").to("values", "indices").attr("k", 2L).attr("axis", 1L))
                .output("values", "indices");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[3,5]",
                "  const %topk_k : i64[1] = [2]",
                "  node @topk %values, %indices = TopK(%x, %topk_k) {axis = 1} : f32[3,2], i64[3,2]",
                "  output %values",
                "  output %indices",
                "}"), imported(m));
    }

    // ---- elementwise family ----

    @Test
    void clip6BoundsBecomeScalarInputs() throws Exception {
        Model m = new Model(6).input("x", 2, 3)
                .node(node("Clip", "x").to("y").attr("min", -1f).attr("max", 1f))
                .node(node("Clip", "x").named("capped").to("z").attr("max", 6f))
                .output("y", "z");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[2,3]",
                "  const %clip_min : f32[] = [-1.0]",
                "  const %clip_max : f32[] = [1.0]",
                "  const %capped_max : f32[] = [6.0]",
                "  node @clip %y = Clip(%x, %clip_min, %clip_max) : f32[2,3]",
                "  node @capped %z = Clip(%x, _, %capped_max) : f32[2,3]",
                "  output %y",
                "  output %z",
                "}"), imported(m));
    }

    @Test
    void clip6OnHalfFloatsCastsTheBounds() throws Exception {
        Model m = new Model(6).input("x", OnnxMl.TensorProto.DataType.FLOAT16, 2)
                .node(node("Clip", "x").to("y").attr("min", 0f))
                .output("y");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f16[2]",
                "  const %clip_min : f32[] = [0.0]",
                "  node @clip_min_cast %clip_min_cast_out = Cast(%clip_min) {to = 10} : f16[]",
                "  node @clip %y = Clip(%x, %clip_min_cast_out) : f16[2]",
                "  output %y",
                "}"), imported(m));
    }

    @Test
    void dropout7DropsRatioAndCastsTheMaskToTheDataType() throws Exception {
        Model m = new Model(7).input("x", 2, 3)
                .node(node("Dropout", "x").to("y", "mask").attr("ratio", 0.3f))
                .output("y", "mask");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[2,3]",
                "  node @dropout %y, %dropout_unused1 = Dropout(%x) : f32[2,3], bool[2,3]",
                "  node @dropout_mask %mask = Cast(%dropout_unused1) {to = 1} : f32[2,3]",
                "  output %y",
                "  output %mask",
                "}"), imported(m));
    }

    @Test
    void cast5TypeNameBecomesTheTypeCode() throws Exception {
        Model m = new Model(5).input("x", OnnxMl.TensorProto.DataType.INT32, 2, 3)
                .node(node("Cast", "x").to("y").attr("to", "FLOAT"))
                .output("y");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : i32[2,3]",
                "  node @cast %y = Cast(%x) {to = 1} : f32[2,3]",
                "  output %y",
                "}"), imported(m));
    }

    // ---- nn family ----

    @Test
    void batchNormalization6DropsTestModeAndConsumedInputs() throws Exception {
        Model m = new Model(6).input("x", 2, 3, 4, 4)
                .floats("scale", dims(3), 1, 2, 3).floats("bias", dims(3), 0, 1, 2)
                .floats("mean", dims(3), 0.5f, 0, -0.5f).floats("var", dims(3), 1, 4, 9)
                .node(node("BatchNormalization", "x", "scale", "bias", "mean", "var").named("bn").to("y")
                        .attr("epsilon", 1e-3f).attr("is_test", 1L).attr("spatial", 1L).ints("consumed_inputs", 0, 0, 0, 1, 1))
                .output("y");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[2,3,4,4]",
                "  const %scale : f32[3] = [1.0, 2.0, 3.0]",
                "  const %bias : f32[3] = [0.0, 1.0, 2.0]",
                "  const %mean : f32[3] = [0.5, 0.0, -0.5]",
                "  const %var : f32[3] = [1.0, 4.0, 9.0]",
                "  node @bn %y = BatchNormalization(%x, %scale, %bias, %mean, %var) {epsilon = 0.001} : f32[2,3,4,4]",
                "  output %y",
                "}"), imported(m));
    }

    @Test
    void batchNormalization6TrainingOutputsAreTheEstimates() throws Exception {
        Model m = new Model(6).input("x", 2, 3)
                .floats("scale", dims(3), 1, 2, 3).floats("bias", dims(3), 0, 1, 2)
                .floats("mean", dims(3), 0.5f, 0, -0.5f).floats("var", dims(3), 1, 4, 9)
                .node(node("BatchNormalization", "x", "scale", "bias", "mean", "var").named("bn").to("y", "running_mean", "running_var"))
                .output("y", "running_mean", "running_var");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[2,3]",
                "  const %scale : f32[3] = [1.0, 2.0, 3.0]",
                "  const %bias : f32[3] = [0.0, 1.0, 2.0]",
                "  const %mean : f32[3] = [0.5, 0.0, -0.5]",
                "  const %var : f32[3] = [1.0, 4.0, 9.0]",
                "  node @bn %y = BatchNormalization(%x, %scale, %bias, %mean, %var) : f32[2,3]",
                "  output %y",
                "  output %mean",
                "  output %var",
                "}"), imported(m));
    }

    @Test
    void batchNormalization7PerActivationBecomesArithmetic() throws Exception {
        Model m = new Model(7).input("x", 2, 3, 2)
                .floats("scale", dims(3, 2), 1, 2, 3, 4, 5, 6).floats("bias", dims(3, 2), 0, 0, 1, 1, 2, 2)
                .floats("mean", dims(3, 2), 0, 1, 2, 3, 4, 5).floats("var", dims(3, 2), 1, 1, 4, 4, 9, 9)
                .node(node("BatchNormalization", "x", "scale", "bias", "mean", "var").named("bn").to("y").attr("spatial", 0L))
                .output("y");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[2,3,2]",
                "  const %scale : f32[3,2] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]",
                "  const %bias : f32[3,2] = [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]",
                "  const %mean : f32[3,2] = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]",
                "  const %var : f32[3,2] = [1.0, 1.0, 4.0, 4.0, 9.0, 9.0]",
                "  const %bn_epsilon : f32[] = [1.0E-5]",
                "  node @bn_var_eps %bn_var_eps_out = Add(%var, %bn_epsilon) : f32[3,2]",
                "  node @bn_std %bn_std_out = Sqrt(%bn_var_eps_out) : f32[3,2]",
                "  node @bn_centered %bn_centered_out = Sub(%x, %mean) : f32[2,3,2]",
                "  node @bn_normalized %bn_normalized_out = Div(%bn_centered_out, %bn_std_out) : f32[2,3,2]",
                "  node @bn_scaled %bn_scaled_out = Mul(%bn_normalized_out, %scale) : f32[2,3,2]",
                "  node @bn %y = Add(%bn_scaled_out, %bias) : f32[2,3,2]",
                "  output %y",
                "}"), imported(m));
    }

    @Test
    void gemm6DropsTheBroadcastFlag() throws Exception {
        Model m = new Model(6).input("a", 2, 3).input("b", 3, 4)
                .floats("c", dims(4), 1, 2, 3, 4)
                .node(node("Gemm", "a", "b", "c").to("y").attr("broadcast", 1L).attr("alpha", 0.5f))
                .output("y");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %a : f32[2,3]",
                "  input %b : f32[3,4]",
                "  const %c : f32[4] = [1.0, 2.0, 3.0, 4.0]",
                "  node @gemm %y = Gemm(%a, %b, %c) {alpha = 0.5} : f32[2,4]",
                "  output %y",
                "}"), imported(m));
    }

    @Test
    void convTranspose9OutputShapeBecomesPadsWithTheOddOneAtTheEnd() throws Exception {
        Model m = new Model(9).input("x", 1, 1, 3, 3)
                .floats("w", dims(1, 1, 3, 3), 1, 1, 1, 1, 1, 1, 1, 1, 1)
                .node(node("ConvTranspose", "x", "w").named("up").to("y").ints("strides", 2, 2).ints("output_shape", 6, 6))
                .output("y");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[1,1,3,3]",
                "  const %w : f32[1,1,3,3] = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]",
                "  node @up %y = ConvTranspose(%x, %w) {pads = [0, 0, 1, 1], strides = [2, 2]} : f32[1,1,6,6]",
                "  output %y",
                "}"), imported(m));
    }

    @Test
    void convTranspose9SameUpperOutputShapePutsTheOddOneAtTheStart() throws Exception {
        Model m = new Model(9).input("x", 1, 1, 3)
                .floats("w", dims(1, 1, 3), 1, 1, 1)
                .node(node("ConvTranspose", "x", "w").named("up").to("y").ints("strides", 2).ints("output_shape", 1, 1, 6)
                        .attr("auto_pad", "SAME_UPPER"))
                .output("y");
        assertEquals(ir(
                "kiln.ir 1",
                "graph g {",
                "  input %x : f32[1,1,3]",
                "  const %w : f32[1,1,3] = [1.0, 1.0, 1.0]",
                "  node @up %y = ConvTranspose(%x, %w) {pads = [1, 0], strides = [2]} : f32[1,1,6]",
                "  output %y",
                "}"), imported(m));
    }

    // ---- whole models ----

    @Test
    void everyUnsupportedOpIsListedAtOnce() throws Exception {
        Model m = new Model(17).imports("com.example", 1).input("x", 1, 4)
                .node(node("Relu", "x").to("r"))
                .node(node("DFT", "r").to("d"))
                .node(node("FancyOp", "d").domain("com.example").named("fancy").to("f"))
                .node(node("Abs", "f").to("a"))
                .node(node("Col2Im", "a").to("c"))
                .output("c");
        ImportException e = assertThrows(ImportException.class, () -> imported(m));
        assertEquals("OperatorNotImplemented: ONNX op DFT (ai.onnx, opset 17) at node dft; ONNX op FancyOp (com.example, opset 1) at node fancy; ONNX op Col2Im (ai.onnx, opset 17) at node col2im",
                e.getMessage());
    }
}
