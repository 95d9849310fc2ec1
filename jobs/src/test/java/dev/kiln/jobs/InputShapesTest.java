package dev.kiln.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.frontend.DataInputConfig;
import dev.kiln.jobs.InputShapes.Dim;
import dev.kiln.jobs.InputShapes.Input;
import dev.kiln.jobs.InputShapes.InputType;
import java.math.BigDecimal;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class InputShapesTest {
    private static final String PREFIX = "ClientError: InputConfiguration: ";

    private static InputShapes parse(String text, Framework framework) { return InputShapes.parse(text, framework, false); }

    private static InputShapes coreml(String text, Framework framework) { return InputShapes.parse(text, framework, true); }

    private static String refuse(String text, Framework framework, boolean coreml) {
        CompilationJobException e = assertThrows(CompilationJobException.class,
                () -> InputShapes.parse(text, framework, coreml));
        assertEquals(CompilationJobException.Error.VALIDATION, e.error());
        assertTrue(e.getMessage().startsWith(PREFIX), e.getMessage());
        return e.getMessage().substring(PREFIX.length());
    }

    private static String refuse(String text, Framework framework) { return refuse(text, framework, false); }

    @Test
    void tensorflowTakesADictionaryOfNhwcShapes() {
        InputShapes one = parse("{\"input\":[1,1024,1024,3]}", Framework.TENSORFLOW);
        assertEquals("{\"input\":[1,1024,1024,3]}", one.canonicalJson());
        InputShapes two = parse("{\"data1\": [1,28,28,1], \"data2\":[1,28,28,1]}", Framework.TENSORFLOW);
        assertEquals("{\"data1\":[1,28,28,1],\"data2\":[1,28,28,1]}", two.canonicalJson());
        assertEquals("Input shapes should be provided in NHWC format. Input 'input': expected a list of positive "
                + "integers such as [1,224,224,3], got [1,\"a\"]", refuse("{\"input\":[1,\"a\"]}", Framework.TENSORFLOW));
        assertEquals("TENSORFLOW takes input shapes in the dictionary format, not the list format (which is for "
                + "PYTORCH). Please provide input shapes for all inputs in the dictionary format {\"input_name\": "
                + "[1,224,224,3]}", refuse("[[1,224,224,3]]", Framework.TENSORFLOW));
    }

    @Test
    void kerasTakesADictionaryOfNchwShapes() {
        InputShapes shapes = parse("{\"input_1\": [1,3,224,224], \"input_2\":[1,3,224,224]}", Framework.KERAS);
        assertEquals(List.of("input_1", "input_2"), shapes.inputs().stream().map(Input::name).toList());
        assertEquals("Input shapes should be provided in NCHW format. Input 'input_2': expected a list of positive "
                + "integers such as [1,3,224,224], got [1,3,-224,224]",
                refuse("{\"input_1\": [1,3,224,224], \"input_2\":[1,3,-224,224]}", Framework.KERAS));
    }

    @Test
    void mxnetOnnxAndDarknetKeepTheDictionaryOrder() {
        for (Framework f : List.of(Framework.MXNET, Framework.ONNX, Framework.DARKNET)) {
            InputShapes shapes = parse("{\"var2\": [1,1,28,28], \"var1\":[1,1,28,28]}", f);
            assertEquals("{\"var2\":[1,1,28,28],\"var1\":[1,1,28,28]}", shapes.canonicalJson());
            DataInputConfig frontend = shapes.toFrontend();
            assertEquals(List.of("var2", "var1"), frontend.entries().stream().map(DataInputConfig.Entry::name).toList());
            assertArrayEquals(new long[] {1, 1, 28, 28}, frontend.entries().get(0).shape());
            assertTrue(frontend.isNamed());
            assertTrue(refuse("[[1,3,224,224]]", f).startsWith(f + " takes input shapes in the dictionary format"));
        }
    }

    @Test
    void pytorchTakesTheDictionaryOrTheListForm() {
        assertEquals("{\"input0\":[1,3,224,224],\"input1\":[1,3,224,224]}",
                parse("{\"input0\":[1,3,224,224], \"input1\":[1,3,224,224]}", Framework.PYTORCH).canonicalJson());
        InputShapes list = parse("[[1,3,224,224], [1,3,160,160]]", Framework.PYTORCH);
        assertEquals("[[1,3,224,224],[1,3,160,160]]", list.canonicalJson());
        DataInputConfig frontend = list.toFrontend();
        assertFalse(frontend.isNamed());
        assertNull(frontend.entries().get(1).name());
        assertArrayEquals(new long[] {1, 3, 160, 160}, frontend.entries().get(1).shape());
        assertEquals("Input shapes should be provided in NCHW format. Input 1: expected a list of positive integers "
                + "such as [1,3,224,224], got [[1,3]]", refuse("[[1,3,224,224], [[1,3]]]", Framework.PYTORCH));
        assertEquals("DataInputConfig names no inputs. Please provide input shapes for all inputs in the dictionary "
                + "format {\"input_name\": [1,3,224,224]} or the list format [[1,3,224,224]]",
                refuse("[]", Framework.PYTORCH));
    }

    @Test
    void theCliEscapedFormReadsLikeTheConsoleForm() {
        assertEquals("{\"input\":[1,1024,1024,3]}",
                parse("{\\\"input\\\":[1,1024,1024,3]}", Framework.TENSORFLOW).canonicalJson());
        assertEquals("{\"input0\":[1,3,224,224],\"input1\":[1,3,224,224]}",
                parse("{\\\"input0\\\":[1,3,224,224], \\\"input1\\\":[1,3,224,224]}", Framework.PYTORCH).canonicalJson());
        assertEquals("{\"input_1\":{\"shape\":[1,224,224,3]}}",
                coreml("{\\\"input_1\\\": {\\\"shape\\\": [1,224,224,3]}}", Framework.TENSORFLOW).canonicalJson());
        assertEquals("Input shapes should be provided in NCHW format. Input 'data': expected a list of positive "
                + "integers such as [1,3,224,224], got [1,3,0]", refuse("{\\\"data\\\":[1,3,0]}", Framework.ONNX));
        // A name that itself holds an escaped quote is read as given.
        assertEquals("a\"b", parse("{\"a\\\"b\":[1]}", Framework.ONNX).inputs().get(0).name());
    }

    @Test
    void frameworksThatNeedNoShapes() {
        for (Framework f : List.of(Framework.XGBOOST, Framework.SKLEARN)) {
            assertTrue(parse(null, f).isEmpty());
            assertTrue(parse("{}", f).isEmpty());
            assertTrue(parse(" [ ] ", f).isEmpty());
            assertEquals("{}", parse(null, f).canonicalJson());
            assertEquals("input data name and shape are not needed for " + f + "; leave DataInputConfig out",
                    refuse("{\"data\":[1,4]}", f));
        }
    }

    @Test
    void tfliteShapesAreOptional() {
        assertTrue(parse(null, Framework.TFLITE).isEmpty());
        assertTrue(parse("{}", Framework.TFLITE).isEmpty());
        assertEquals("{\"input\":[1,224,224,3]}", parse("{\"input\": [1,224,224,3]}", Framework.TFLITE).canonicalJson());
        assertTrue(refuse("{\"input\": [1,224,224,0]}", Framework.TFLITE).startsWith("Input shapes should be provided "
                + "in NHWC format."));
    }

    @Test
    void shapesAreRequiredWhereTheFrameworkBindsThem() {
        for (Framework f : List.of(Framework.TENSORFLOW, Framework.KERAS, Framework.MXNET, Framework.ONNX,
                Framework.DARKNET, Framework.PYTORCH)) {
            assertTrue(refuse(null, f).startsWith("DataInputConfig is required for " + f + ". Please provide input "
                    + "shapes for all inputs in the dictionary format"));
            assertTrue(refuse("{}", f).startsWith("DataInputConfig names no inputs."));
        }
        assertEquals("DataInputConfig is required for TENSORFLOW. Please provide input shapes for all inputs in the "
                + "dictionary format {\"input_name\": {\"shape\": [1,224,224,3]}}", refuse(null, Framework.TENSORFLOW, true));
    }

    @Test
    void dimensionsArePositiveIntegersAndShapesHaveRankOneOrMore() {
        assertEquals("{\"x\":[7]}", parse("{\"x\":[7]}", Framework.ONNX).canonicalJson());
        assertEquals("{\"x\":[1,2,3,4,5,6]}", parse("{\"x\":[1,2,3,4,5,6]}", Framework.ONNX).canonicalJson());
        for (String bad : List.of("[]", "[0]", "[-1]", "[1.5]", "[1.0]", "[\"1\"]", "[null]", "[true]",
                "[99999999999999999999]", "[[1]]", "7", "\"1,3\"")) {
            assertEquals("Input shapes should be provided in NCHW format. Input 'x': expected a list of positive "
                    + "integers such as [1,3,224,224], got " + bad, refuse("{\"x\":" + bad + "}", Framework.ONNX));
        }
    }

    @Test
    void namesAreNonEmptyAndUnique() {
        assertEquals("Input names must not be empty. Please provide input shapes in the dictionary format "
                + "{\"input_name\": [1,3,224,224]}", refuse("{\"\":[1,3,224,224]}", Framework.ONNX));
        assertTrue(refuse("{\" \":[1]}", Framework.ONNX).startsWith("Input names must not be empty."));
        assertEquals("Input 'data' is given more than once; each input name may appear once",
                refuse("{\"data\":[1,3,224,224], \"data\":[1,3,160,160]}", Framework.ONNX));
    }

    @Test
    void documentsThatAreNotADictionaryOfShapes() {
        assertEquals("DataInputConfig must be a JSON dictionary, got 42. Please provide input shapes for all inputs in "
                + "the dictionary format {\"input_name\": [1,3,224,224]}", refuse("42", Framework.ONNX));
        assertEquals("Input 'data': expected a shape such as [1,3,224,224], got {\"shape\":[1,3,224,224]}; input "
                + "descriptions with \"shape\", \"default_shape\" and \"type\" are for the coreml TargetDevice",
                refuse("{\"data\": {\"shape\": [1,3,224,224]}}", Framework.ONNX));
        String notJson = refuse("{data: [1,3,224,224]}", Framework.ONNX);
        assertTrue(notJson.startsWith("DataInputConfig is not valid JSON (Unexpected character ('d'"), notJson);
        assertTrue(notJson.endsWith("at line 1, column 2). Please provide input shapes for all inputs in the "
                + "dictionary format {\"input_name\": [1,3,224,224]}"), notJson);
        assertTrue(refuse("{\"data\": [1,3,224,224]", Framework.ONNX).startsWith("DataInputConfig is not valid JSON"));
        assertTrue(refuse("{\"data\": [1,3,224,224]} {}", Framework.ONNX)
                .startsWith("DataInputConfig is not valid JSON (unexpected text after the JSON value"));
        assertTrue(refuse("   ", Framework.ONNX).startsWith("DataInputConfig is not valid JSON (no JSON value"));
        assertTrue(refuse("{\\\"data\\\": [1,3,224,224}", Framework.ONNX).startsWith("DataInputConfig is not valid JSON"));
    }

    @Test
    void coremlStaticShapes() {
        InputShapes shapes = coreml("{\"input_1\": {\"shape\": [1,224,224,3]}}", Framework.TENSORFLOW);
        Input input = shapes.inputs().get(0);
        assertEquals(List.of(List.of(Dim.of(1), Dim.of(224), Dim.of(224), Dim.of(3))), input.shapes());
        assertEquals(InputType.TENSOR, input.type());
        assertFalse(input.flexible());
        assertEquals("{\"input_1\":{\"shape\":[1,224,224,3]}}", shapes.canonicalJson());
        // The plain form is a static shape for CoreML too.
        assertEquals("{\"input_1\":{\"shape\":[1,224,224,3]}}",
                coreml("{\"input_1\": [1,224,224,3]}", Framework.TENSORFLOW).canonicalJson());
    }

    @Test
    void coremlRangeDimensions() {
        InputShapes shapes = coreml("{\"input_1\": {\"shape\": [\"1..10\", 224, 224, 3]}}", Framework.TENSORFLOW);
        Input input = shapes.inputs().get(0);
        assertEquals(new Dim(1, 10), input.shapes().get(0).get(0));
        assertTrue(input.flexible());
        assertEquals(List.of(1L, 224L, 224L, 3L), input.defaultShape());
        assertArrayEquals(new long[] {1, 224, 224, 3}, shapes.toFrontend().entries().get(0).shape());
        assertEquals("{\"input_1\":{\"shape\":[\"1..10\",224,224,3],\"default_shape\":[1,224,224,3]}}",
                shapes.canonicalJson());

        InputShapes withDefault = coreml("{\"input_1\": {\"shape\": [\"1..10\", 224, 224, 3], "
                + "\"default_shape\": [4, 224, 224, 3]}}", Framework.TENSORFLOW);
        assertEquals(List.of(4L, 224L, 224L, 3L), withDefault.inputs().get(0).defaultShape());

        Input unbounded = coreml("{\"x\": {\"shape\": [1, \"16..-1\"]}}", Framework.PYTORCH).inputs().get(0);
        assertEquals(new Dim(16, Dim.UNBOUNDED), unbounded.shapes().get(0).get(1));
        assertTrue(unbounded.shapes().get(0).get(1).admits(1 << 20));
        assertEquals(List.of(1L, 16L), unbounded.defaultShape());
        assertEquals(List.of(1L, 512L), coreml("{\"x\": {\"shape\": [1, \"16..-1\"], \"default_shape\": [1, 512]}}",
                Framework.PYTORCH).inputs().get(0).defaultShape());
        assertEquals(new Dim(5, 5), coreml("{\"x\": {\"shape\": [\"5..5\"]}}", Framework.PYTORCH)
                .inputs().get(0).shapes().get(0).get(0));

        for (String bad : List.of("\"10..1\"", "\"0..5\"", "\"1..\"", "\"..5\"", "\"1-10\"", "\"a..b\"", "0", "1.5",
                "\"1..-2\"")) {
            String message = refuse("{\"x\": {\"shape\": [1, " + bad + "]}}", Framework.PYTORCH, true);
            assertTrue(message.startsWith("Input 'x': dimension 1 "), message);
        }
        assertEquals("Input 'x': dimension 1 range \"10..1\" must have 1 <= lower <= upper, such as \"1..10\", or "
                + "\"lower..-1\" for no upper bound", refuse("{\"x\": {\"shape\": [1, \"10..1\"]}}", Framework.PYTORCH, true));
        assertEquals("Input 'x': dimension 1 of \"shape\" must be a positive integer or a range such as \"1..10\", "
                + "got \"1-10\"", refuse("{\"x\": {\"shape\": [1, \"1-10\"]}}", Framework.PYTORCH, true));
        assertEquals("Input 'x': \"default_shape\" [11,224,224,3] must be within the shape [\"1..10\",224,224,3]",
                refuse("{\"x\": {\"shape\": [\"1..10\",224,224,3], \"default_shape\": [11,224,224,3]}}",
                        Framework.TENSORFLOW, true));
        assertTrue(refuse("{\"x\": {\"shape\": [\"1..10\",224,224,3], \"default_shape\": [1,224,224]}}",
                Framework.TENSORFLOW, true).contains("must be within the shape"));
        assertEquals("Input 'x': \"default_shape\" must be a list of positive integers such as [1,224,224,3], got "
                + "[\"1..10\",224,224,3]", refuse("{\"x\": {\"shape\": [\"1..10\",224,224,3], \"default_shape\": "
                + "[\"1..10\",224,224,3]}}", Framework.TENSORFLOW, true));
    }

    @Test
    void coremlEnumeratedShapes() {
        InputShapes shapes = coreml("{\"input_1\": {\"shape\": [[1,224,224,3], [1,160,160,3]], "
                + "\"default_shape\": [1,160,160,3]}}", Framework.TENSORFLOW);
        Input input = shapes.inputs().get(0);
        assertEquals(2, input.shapes().size());
        assertEquals(List.of(1L, 160L, 160L, 3L), input.defaultShape());
        assertEquals("{\"input_1\":{\"shape\":[[1,224,224,3],[1,160,160,3]],\"default_shape\":[1,160,160,3]}}",
                shapes.canonicalJson());
        assertEquals(List.of(1L, 224L, 224L, 3L), coreml("{\"input_1\": {\"shape\": [[1,224,224,3], [1,160,160,3]]}}",
                Framework.TENSORFLOW).inputs().get(0).defaultShape());

        assertEquals("Input 'input_1': enumerated shapes need at least two shapes, got [[1,224,224,3]]; give one shape "
                + "as \"shape\": [1,224,224,3]", refuse("{\"input_1\": {\"shape\": [[1,224,224,3]]}}",
                Framework.TENSORFLOW, true));
        assertEquals("Input 'input_1': enumerated shapes must all have the same rank, got [[1,224,224,3],[1,160,160]]",
                refuse("{\"input_1\": {\"shape\": [[1,224,224,3], [1,160,160]]}}", Framework.TENSORFLOW, true));
        assertEquals("Input 'input_1': each enumerated shape must be a list of positive integers such as "
                + "[1,224,224,3], got [\"1..2\",160,160,3]", refuse("{\"input_1\": {\"shape\": [[1,224,224,3], "
                + "[\"1..2\",160,160,3]]}}", Framework.TENSORFLOW, true));
        assertEquals("Input 'input_1': each enumerated shape must be a list of positive integers such as "
                + "[1,224,224,3], got 5", refuse("{\"input_1\": {\"shape\": [[1,224,224,3], 5]}}",
                Framework.TENSORFLOW, true));
        assertEquals("Input 'input_1': \"default_shape\" [1,128,128,3] must be one of the enumerated shapes "
                + "[[1,224,224,3],[1,160,160,3]]", refuse("{\"input_1\": {\"shape\": [[1,224,224,3], [1,160,160,3]], "
                + "\"default_shape\": [1,128,128,3]}}", Framework.TENSORFLOW, true));
    }

    @Test
    void coremlImageInputs() {
        InputShapes shapes = coreml("{\"input_1\": {\"shape\": [[1,224,224,3], [1,160,160,3]], \"default_shape\": "
                + "[1,224,224,3], \"type\": \"Image\", \"bias\": [-1,-1,-1], \"scale\": 0.007843137255}}",
                Framework.TENSORFLOW);
        Input input = shapes.inputs().get(0);
        assertEquals(InputType.IMAGE, input.type());
        assertEquals(List.of(new BigDecimal("-1"), new BigDecimal("-1"), new BigDecimal("-1")), input.bias());
        assertEquals(Optional.of(new BigDecimal("0.007843137255")), input.scale());
        assertEquals("{\"input_1\":{\"shape\":[[1,224,224,3],[1,160,160,3]],\"default_shape\":[1,224,224,3],"
                + "\"type\":\"Image\",\"bias\":[-1,-1,-1],\"scale\":0.007843137255}}", shapes.canonicalJson());

        // PyTorch's list form, channels first.
        InputShapes pytorch = coreml("[{\"shape\": [[1,3,224,224], [1,3,160,160]], \"default_shape\": [1,3,224,224], "
                + "\"type\": \"Image\", \"bias\": [-1,-1,-1], \"scale\": 0.007843137255}]", Framework.PYTORCH);
        assertNull(pytorch.inputs().get(0).name());
        assertEquals("[{\"shape\":[[1,3,224,224],[1,3,160,160]],\"default_shape\":[1,3,224,224],\"type\":\"Image\","
                + "\"bias\":[-1,-1,-1],\"scale\":0.007843137255}]", pytorch.canonicalJson());
        assertArrayEquals(new long[] {1, 3, 224, 224}, pytorch.toFrontend().entries().get(0).shape());

        // Image without bias and scale takes the converter's defaults; Tensor is the default and not written.
        assertEquals("{\"x\":{\"shape\":[1,224,224,1],\"type\":\"Image\"}}",
                coreml("{\"x\": {\"shape\": [1,224,224,1], \"type\": \"Image\"}}", Framework.TENSORFLOW).canonicalJson());
        assertEquals("{\"x\":{\"shape\":[1,224,224,3]}}",
                coreml("{\"x\": {\"shape\": [1,224,224,3], \"type\": \"Tensor\"}}", Framework.TENSORFLOW).canonicalJson());

        assertEquals("Input 'x': \"bias\" must be a list of 3 numbers, one per channel of the NHWC shape, such as "
                + "[-1,-1,-1], got [-1,-1]", refuse("{\"x\": {\"shape\": [1,224,224,3], \"type\": \"Image\", "
                + "\"bias\": [-1,-1]}}", Framework.TENSORFLOW, true));
        assertEquals("Input 0: \"bias\" must be a list of 3 numbers, one per channel of the NCHW shape, such as "
                + "[-1,-1,-1], got -1", refuse("[{\"shape\": [1,3,224,224], \"type\": \"Image\", \"bias\": -1}]",
                Framework.PYTORCH, true));
        assertTrue(refuse("{\"x\": {\"shape\": [1,224,224,3], \"type\": \"Image\", \"bias\": [0,\"a\",0]}}",
                Framework.TENSORFLOW, true).startsWith("Input 'x': \"bias\" must be a list of 3 numbers"));
        assertEquals("Input 'x': \"scale\" must be a number such as 0.007843137255, got \"0.5\"",
                refuse("{\"x\": {\"shape\": [1,224,224,3], \"type\": \"Image\", \"scale\": \"0.5\"}}",
                        Framework.TENSORFLOW, true));
        assertEquals("Input 'x': \"bias\" applies to Image inputs only; add \"type\": \"Image\" or leave \"bias\" out",
                refuse("{\"x\": {\"shape\": [1,224,224,3], \"bias\": [-1,-1,-1]}}", Framework.TENSORFLOW, true));
        assertEquals("Input 'x': \"scale\" applies to Image inputs only; add \"type\": \"Image\" or leave \"scale\" out",
                refuse("{\"x\": {\"shape\": [1,224,224,3], \"type\": \"Tensor\", \"scale\": 2}}",
                        Framework.TENSORFLOW, true));
        assertEquals("Input 'x': \"type\" must be \"Image\" or \"Tensor\", got \"image\"",
                refuse("{\"x\": {\"shape\": [1,224,224,3], \"type\": \"image\"}}", Framework.TENSORFLOW, true));
        assertEquals("Input 'x': an Image input takes rank-4 NHWC shapes with a fixed number of channels, such as "
                + "[1,224,224,3], got [224,224,3]", refuse("{\"x\": {\"shape\": [224,224,3], \"type\": \"Image\"}}",
                Framework.TENSORFLOW, true));
        assertTrue(refuse("{\"x\": {\"shape\": [1,224,224,\"1..3\"], \"type\": \"Image\"}}", Framework.TENSORFLOW, true)
                .startsWith("Input 'x': an Image input takes rank-4 NHWC shapes with a fixed number of channels"));
        assertTrue(refuse("[{\"shape\": [[1,3,224,224],[1,1,224,224]], \"type\": \"Image\"}]", Framework.PYTORCH, true)
                .startsWith("Input 0: an Image input takes rank-4 NCHW shapes with a fixed number of channels"));
    }

    @Test
    void coremlDescriptionKeys() {
        assertEquals("Input 'x': unknown key 'shapes'; a CoreML input takes shape, default_shape, type, bias, scale",
                refuse("{\"x\": {\"shapes\": [1,224,224,3]}}", Framework.TENSORFLOW, true));
        assertEquals("Input 'x': \"shape\" is required, e.g. {\"shape\": [1,224,224,3]}",
                refuse("{\"x\": {\"type\": \"Tensor\"}}", Framework.TENSORFLOW, true));
        assertEquals("Input 'x': \"shape\" is given more than once",
                refuse("{\"x\": {\"shape\": [1,224,224,3], \"shape\": [1]}}", Framework.TENSORFLOW, true));
        assertEquals("Input 1: \"type\" is given more than once",
                refuse("[{\"shape\": [1]}, {\"shape\": [1], \"type\": \"Tensor\", \"type\": \"Image\"}]",
                        Framework.PYTORCH, true));
        assertEquals("Input 'x': \"shape\" must be a list of positive integers and ranges such as [\"1..10\",224,224,3]"
                + " or a list of shapes such as [[1,224,224,3],[1,224,224,3]], got []",
                refuse("{\"x\": {\"shape\": []}}", Framework.TENSORFLOW, true));
        assertTrue(refuse("[{\"shape\": [1,3,224,224]}]", Framework.TENSORFLOW, true)
                .startsWith("TENSORFLOW takes input shapes in the dictionary format, not the list format"));
    }
}
