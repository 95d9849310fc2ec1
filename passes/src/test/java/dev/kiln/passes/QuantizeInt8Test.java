package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.TensorType;
import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.Interpreter;
import dev.kiln.runtime.interpreter.InterpreterEvaluator;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.kiln.passes.PassTesting.fixture;
import static dev.kiln.passes.PassTesting.parse;
import static dev.kiln.passes.PassTesting.print;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class QuantizeInt8Test {

    private static PassContext context(List<Map<String, Attribute.Tensor>> samples, PassOptions.CalibrationMethod method, List<String> log) {
        PassOptions options = PassOptions.defaults().withDtype(PassOptions.Precision.INT8).withCalibration(samples, method);
        return PassContext.builder().options(options).evaluator(new InterpreterEvaluator()).debugLog(log::add).build();
    }

    private static Graph quantize(String ir, List<Map<String, Attribute.Tensor>> samples) {
        return new QuantizeInt8().apply(parse(ir), context(samples, PassOptions.CalibrationMethod.MINMAX, new ArrayList<>()));
    }

    private static Attribute.Tensor floats(long[] shape, double... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < values.length; i++) b.putFloat(i * 4, (float) values[i]);
        return new Attribute.Tensor(TensorType.of(DType.F32, shape), b);
    }

    private static Attribute.Tensor attribute(Tensor t) {
        return new Attribute.Tensor(TensorType.of(t.dtype(), t.shape()), t.data());
    }

    /** Checks the quantized graph against the float one on the samples: within {@code tolerance} of max |y|. */
    private static void assertClose(String before, Graph after, List<Map<String, Attribute.Tensor>> samples, double tolerance) {
        Graph reference = parse(before);
        for (Map<String, Attribute.Tensor> sample : samples) {
            Map<String, Tensor> inputs = new LinkedHashMap<>();
            sample.forEach((name, t) -> inputs.put(name, Tensor.wrap(t.type().dtype(), t.type().shape().sizes(), t.data())));
            Tensor want = new Interpreter(reference).run(inputs).values().iterator().next();
            Tensor got = new Interpreter(after).run(inputs).values().iterator().next();
            double d = PassTesting.relativeDifference(want, got);
            assertTrue(d <= tolerance, "quantized output differs by " + d + " of the largest magnitude");
        }
    }

    @Test
    void convReluConvRunsInIntegersWithTheReluInTheClamp() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,1,2,2]
                  const %w1 : f32[2,1,1,1] = [1.0, -0.5]
                  const %b1 : f32[2] = [0.0, 0.25]
                  const %w2 : f32[1,2,1,1] = [1.0, 2.0]
                  node @conv1 %a = Conv(%x, %w1, %b1) : f32[1,2,2,2]
                  node @relu %r = Relu(%a) : f32[1,2,2,2]
                  node @conv2 %y = Conv(%r, %w2) : f32[1,1,2,2]
                  output %y
                }
                """;
        // x spans [-1, 1.55]: scale 0.01, zero point 100. The Relu output spans [0, 1.55]: zero point 0, so the
        // first convolution's uint8 clamp is the Relu. w2 = [1, 2] in one channel: scale 2/127, 1 -> 63.5 -> 64.
        // The second convolution feeds the graph output: int32 accumulator, rescaled by r_scale * w2_scale.
        String after = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,1,2,2]
                  const %x_scale : f32[] = [0.01]
                  const %x_zero_point : u8[] = [100]
                  const %w1_int8 : i8[2,1,1,1] = [127, -127]
                  const %b1_int32 : i32[2] = [0, 6350]
                  const %r_scale : f32[] = [0.0060784314]
                  const %r_zero_point : u8[] = [0]
                  const %weight_zero_point : i8[] = [0]
                  const %w1_scale : f32[2] = [0.007874016, 0.003937008]
                  const %w2_int8 : i8[1,2,1,1] = [64, 127]
                  const %y_rescale : f32[1] = [9.572333E-5]
                  node @x_quantize %x_q = QuantizeLinear(%x, %x_scale, %x_zero_point) : u8[1,1,2,2]
                  node @conv1 %r_q = QLinearConv(%x_q, %x_scale, %x_zero_point, %w1_int8, %w1_scale, %weight_zero_point, %r_scale, %r_zero_point, %b1_int32) : u8[1,2,2,2]
                  node @conv2 %y_int32 = ConvInteger(%r_q, %w2_int8, %r_zero_point) : i32[1,1,2,2]
                  node @conv2_rescale %y = DequantizeLinear(%y_int32, %y_rescale) {axis = 1} : f32[1,1,2,2]
                  output %y
                }
                """;
        long[] shape = {1, 1, 2, 2};
        List<Map<String, Attribute.Tensor>> samples = List.of(Map.of("x", floats(shape, -1.0, 0.0, 1.0, 1.55)),
                Map.of("x", floats(shape, 0.5, -0.5, 0.25, 1.0)));
        Graph g = quantize(before, samples);
        assertEquals(after, print(g));
        assertClose(before, g, samples, 0.02);
    }

    @Test
    void matMulChainUsesQLinearMatMulThenRescalesTheLastProductToFloat() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3]
                  const %w1 : f32[3,2] = [0.5, -1.0, 1.0, 0.25, -0.5, 0.75]
                  const %w2 : f32[2,2] = [1.0, -2.0, 0.5, 1.0]
                  node @mm1 %a = MatMul(%x, %w1) : f32[2,2]
                  node @relu %r = Relu(%a) : f32[2,2]
                  node @mm2 %y = MatMul(%r, %w2) : f32[2,2]
                  output %y
                }
                """;
        // Weights are quantized per column (output channel) of [K, N].
        String after = """
                kiln.ir 1
                graph g {
                  input %x : f32[2,3]
                  const %x_scale : f32[] = [0.015686275]
                  const %x_zero_point : u8[] = [127]
                  const %w1_int8 : i8[3,2] = [64, -127, 127, 32, -64, 95]
                  const %r_scale : f32[] = [0.007843138]
                  const %r_zero_point : u8[] = [0]
                  const %weight_zero_point : i8[] = [0]
                  const %w1_scale : f32[2] = [0.007874016, 0.007874016]
                  const %w2_int8 : i8[2,2] = [127, -127, 64, 64]
                  const %y_rescale : f32[2] = [6.175699E-5, 1.2351398E-4]
                  node @x_quantize %x_q = QuantizeLinear(%x, %x_scale, %x_zero_point) : u8[2,3]
                  node @mm1 %r_q = QLinearMatMul(%x_q, %x_scale, %x_zero_point, %w1_int8, %w1_scale, %weight_zero_point, %r_scale, %r_zero_point) : u8[2,2]
                  node @mm2 %y_int32 = MatMulInteger(%r_q, %w2_int8, %r_zero_point) : i32[2,2]
                  node @mm2_rescale %y = DequantizeLinear(%y_int32, %y_rescale) {axis = 1} : f32[2,2]
                  output %y
                }
                """;
        long[] shape = {2, 3};
        List<Map<String, Attribute.Tensor>> samples = List.of(Map.of("x", floats(shape, 1.0, -1.0, 0.5, 2.0, 0.0, -2.0)),
                Map.of("x", floats(shape, -0.5, 1.5, 1.0, 0.25, -1.0, 0.75)));
        Graph g = quantize(before, samples);
        assertEquals(after, print(g));
        assertClose(before, g, samples, 0.02);
    }

    @Test
    void gemmWithBiasAddsTheBiasInInt32() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,3]
                  const %w : f32[2,3] = [0.5, -1.0, 1.0, 0.25, -0.5, 0.75]
                  const %c : f32[2] = [0.1, -0.2]
                  node @fc %y = Gemm(%x, %w, %c) {alpha = 0.5, beta = 2.0, transB = 1} : f32[1,2]
                  output %y
                }
                """;
        // The weights come out as alpha * w^T, [K, N]; the bias as beta * c at scale x_scale * w_scale[n].
        String after = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,3]
                  const %x_scale : f32[] = [0.011764706]
                  const %x_zero_point : u8[] = [85]
                  const %w_int8 : i8[3,2] = [64, 42, -127, -85, 127, 127]
                  const %c_int32 : i32[2] = [4318, -11515]
                  const %y_rescale : f32[2] = [4.6317742E-5, 3.4738307E-5]
                  node @x_quantize %x_q = QuantizeLinear(%x, %x_scale, %x_zero_point) : u8[1,3]
                  node @fc %y_int32 = MatMulInteger(%x_q, %w_int8, %x_zero_point) : i32[1,2]
                  node @fc_bias %y_int32_biased = Add(%y_int32, %c_int32) : i32[1,2]
                  node @fc_rescale %y = DequantizeLinear(%y_int32_biased, %y_rescale) {axis = 1} : f32[1,2]
                  output %y
                }
                """;
        long[] shape = {1, 3};
        List<Map<String, Attribute.Tensor>> samples = List.of(Map.of("x", floats(shape, 1.0, -1.0, 0.5)),
                Map.of("x", floats(shape, -0.5, 1.5, 2.0)));
        Graph g = quantize(before, samples);
        assertEquals(after, print(g));
        assertClose(before, g, samples, 0.02);
    }

    @Test
    void concatAndMaxPoolRunOnUint8BetweenConvolutions() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,1,4,4]
                  const %w1 : f32[1,1,1,1] = [1.0]
                  const %w2 : f32[1,1,1,1] = [-2.0]
                  const %w3 : f32[1,2,1,1] = [0.5, 1.0]
                  node @conv1 %a = Conv(%x, %w1) : f32[1,1,4,4]
                  node @relu1 %ra = Relu(%a) : f32[1,1,4,4]
                  node @conv2 %b = Conv(%x, %w2) : f32[1,1,4,4]
                  node @relu2 %rb = Relu(%b) : f32[1,1,4,4]
                  node @concat %c = Concat(%ra, %rb) {axis = 1} : f32[1,2,4,4]
                  node @pool %p = MaxPool(%c) {kernel_shape = [2, 2], strides = [2, 2]} : f32[1,2,2,2]
                  node @conv3 %y = Conv(%p, %w3) : f32[1,1,2,2]
                  output %y
                }
                """;
        long[] shape = {1, 1, 4, 4};
        Random r = new Random(7);
        List<Map<String, Attribute.Tensor>> samples = new ArrayList<>();
        for (int s = 0; s < 3; s++) {
            double[] v = new double[16];
            for (int i = 0; i < v.length; i++) v[i] = r.nextDouble() * 2 - 1;
            samples.add(Map.of("x", floats(shape, v)));
        }
        Graph g = quantize(before, samples);
        String text = print(g);
        // Both branches take the Concat's parameters, so Concat and MaxPool read and write uint8 directly.
        assertTrue(text.contains("%c_q = Concat(%ra_q, %rb_q) {axis = 1} : u8[1,2,4,4]"), text);
        assertTrue(text.contains("%p_q = MaxPool(%c_q) {kernel_shape = [2, 2], strides = [2, 2]} : u8[1,2,2,2]"), text);
        assertEquals(1, text.split("QuantizeLinear\\(").length - 1, text);
        assertEquals(1, text.split("DequantizeLinear\\(").length - 1, text);
        assertClose(before, g, samples, 0.02);
    }

    @Test
    void opsWithoutAnIntegerFormStayInFloatAndTheLogSaysSo() {
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,1,2,2]
                  input %k : f32[1,1,1,1]
                  const %w : f32[1,1,1,1] = [2.0]
                  node @conv1 %a = Conv(%x, %w) : f32[1,1,2,2]
                  node @sigmoid %s = Sigmoid(%a) : f32[1,1,2,2]
                  node @conv2 %b = Conv(%s, %w) : f32[1,1,2,2]
                  node @dynamic %y = Conv(%b, %k) : f32[1,1,2,2]
                  output %y
                }
                """;
        // conv1's result goes to the Sigmoid in float; conv2 quantizes the Sigmoid's output (sigmoid(2) / 255 a step)
        // and shares conv1's int8 weights; the last Conv's weights are an input, so it stays in float and reads
        // conv2's float result. x spans [-1, 1]: 1 / (2/255) = 127.49999 in f32, zero point 127.
        String after = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,1,2,2]
                  input %k : f32[1,1,1,1]
                  const %x_scale : f32[] = [0.007843138]
                  const %x_zero_point : u8[] = [127]
                  const %w_int8 : i8[1,1,1,1] = [127]
                  const %a_rescale : f32[1] = [1.2351398E-4]
                  const %s_scale : f32[] = [0.0034541062]
                  const %s_zero_point : u8[] = [0]
                  const %b_rescale : f32[1] = [5.4395372E-5]
                  node @x_quantize %x_q = QuantizeLinear(%x, %x_scale, %x_zero_point) : u8[1,1,2,2]
                  node @conv1 %a_int32 = ConvInteger(%x_q, %w_int8, %x_zero_point) : i32[1,1,2,2]
                  node @conv1_rescale %a = DequantizeLinear(%a_int32, %a_rescale) {axis = 1} : f32[1,1,2,2]
                  node @sigmoid %s = Sigmoid(%a) : f32[1,1,2,2]
                  node @s_quantize %s_q = QuantizeLinear(%s, %s_scale, %s_zero_point) : u8[1,1,2,2]
                  node @conv2 %b_int32 = ConvInteger(%s_q, %w_int8, %s_zero_point) : i32[1,1,2,2]
                  node @conv2_rescale %b = DequantizeLinear(%b_int32, %b_rescale) {axis = 1} : f32[1,1,2,2]
                  node @dynamic %y = Conv(%b, %k) : f32[1,1,2,2]
                  output %y
                }
                """;
        long[] shape = {1, 1, 2, 2};
        List<Map<String, Attribute.Tensor>> samples = List.of(
                Map.of("x", floats(shape, -1.0, 0.0, 0.5, 1.0), "k", floats(new long[] {1, 1, 1, 1}, 1.5)));
        List<String> log = new ArrayList<>();
        Graph g = new QuantizeInt8().apply(parse(before), context(samples, PassOptions.CalibrationMethod.MINMAX, log));
        assertEquals(after, print(g));
        assertTrue(log.stream().anyMatch(m -> m.contains("@sigmoid") && m.contains("no integer form")), log.toString());
        assertTrue(log.stream().anyMatch(m -> m.contains("@dynamic") && m.contains("weights are not an f32 constant")), log.toString());
        assertClose(before, g, samples, 0.02);
    }

    @Test
    void leadingLayersStayInFloatWhenQuantizingThemLosesTheOutput() {
        // x is a small signal on an offset of 100: uint8 over [0, 100.3] cannot see it, so conv1, which removes the
        // offset, must read x in float; conv2 then quantizes conv1's small result well.
        String before = """
                kiln.ir 1
                graph g {
                  input %x : f32[1,1,4,4]
                  const %w1 : f32[1,1,1,1] = [1.0]
                  const %b1 : f32[1] = [-100.0]
                  const %w2 : f32[1,1,1,1] = [2.0]
                  node @conv1 %a = Conv(%x, %w1, %b1) : f32[1,1,4,4]
                  node @conv2 %y = Conv(%a, %w2) : f32[1,1,4,4]
                  output %y
                }
                """;
        Random r = new Random(3);
        List<Map<String, Attribute.Tensor>> samples = new ArrayList<>();
        for (int s = 0; s < 4; s++) {
            double[] v = new double[16];
            for (int i = 0; i < v.length; i++) v[i] = 100 + r.nextDouble() * 0.6 - 0.3;
            samples.add(Map.of("x", floats(new long[] {1, 1, 4, 4}, v)));
        }
        List<String> log = new ArrayList<>();
        Graph g = new QuantizeInt8().apply(parse(before), context(samples, PassOptions.CalibrationMethod.MINMAX, log));
        String text = print(g);
        assertTrue(text.contains("node @conv1 %a = Conv(%x, %w1, %b1) : f32[1,1,4,4]"), text);
        assertTrue(text.contains("node @conv2 %y_int32 = ConvInteger(%a_q, %w2_int8, %a_zero_point)"), text);
        assertTrue(log.stream().anyMatch(m -> m.contains("@conv1 in float: it is among the first 1 layers")), log.toString());
        assertClose(before, g, samples, 0.02);
    }

    @Test
    void otherPrecisionsLeaveTheGraphAndInt8NeedsCalibration() {
        Graph g = parse("""
                kiln.ir 1
                graph g {
                  input %x : f32[1,1,2,2]
                  const %w : f32[1,1,1,1] = [2.0]
                  node @conv %y = Conv(%x, %w) : f32[1,1,2,2]
                  output %y
                }
                """);
        assertSame(g, new QuantizeInt8().apply(g, PassTesting.context()));
        assertSame(g, new QuantizeInt8().apply(g, PassTesting.context(PassOptions.defaults().withDtype(PassOptions.Precision.FP16))));
        PassContext noSamples = PassTesting.context(PassOptions.defaults().withDtype(PassOptions.Precision.INT8));
        assertThrows(IllegalArgumentException.class, () -> new QuantizeInt8().apply(g, noSamples));
    }

    /**
     * Logits of every CNN fixture within cosine 0.99 of float, calibrated on 8 image-like inputs and evaluated on 5
     * others (4 generated, and the committed input0.npy), with either calibration method.
     */
    @ParameterizedTest
    @ValueSource(strings = {"squeezenet1_1:MINMAX", "squeezenet1_1:PERCENTILE", "mobilenet_v2:MINMAX", "mobilenet_v2:PERCENTILE",
            "resnet18:MINMAX", "resnet18:PERCENTILE"})
    void cnnFixturesKeepTheirLogits(String modelAndMethod) throws IOException {
        String model = modelAndMethod.split(":")[0];
        PassOptions.CalibrationMethod method = PassOptions.CalibrationMethod.valueOf(modelAndMethod.split(":")[1]);
        assumeTrue(Fixtures.isPresent(model), model + " is not made (" + Fixtures.makeCommand(model) + ")");
        Graph before = fixture(model);
        String input = before.inputs().get(0).name();
        long[] shape = before.inputs().get(0).type().shape().sizes();
        List<Map<String, Attribute.Tensor>> calibration = new ArrayList<>();
        for (int seed = 1; seed <= 8; seed++) calibration.add(Map.of(input, attribute(image(seed, shape))));
        List<Tensor> evaluation = new ArrayList<>(List.of(Npy.read(Fixtures.dir(model).resolve("input0.npy"))));
        for (int seed = 101; seed <= 104; seed++) evaluation.add(image(seed, shape));

        Graph after = new QuantizeInt8().apply(before, context(calibration, method, new ArrayList<>()));
        assertTrue(after.nodes().stream().anyMatch(n -> n.op().equals("QLinearConv") || n.op().equals("ConvInteger")));
        for (Tensor x : evaluation) {
            Tensor want = new Interpreter(before).run(Map.of(input, x)).values().iterator().next();
            Tensor got = new Interpreter(after).run(Map.of(input, x)).values().iterator().next();
            double cosine = cosine(want, got);
            assertTrue(cosine >= 0.99, model + " " + method + ": cosine " + cosine);
        }
    }

    /**
     * An image-like input as testmodels/make_fixtures.py makes them: 8x8 Gaussian noise per channel upsampled
     * bilinearly (half-pixel centres) to the input size, plus 0.1 times fine Gaussian noise. Pure per-pixel noise
     * would average out in the global pooling and give nearly the same logits for every input.
     */
    static Tensor image(long seed, long[] shape) {
        Random r = new Random(seed);
        int channels = (int) shape[1];
        int height = (int) shape[2];
        int width = (int) shape[3];
        int coarse = 8;
        double[] low = new double[channels * coarse * coarse];
        for (int i = 0; i < low.length; i++) low[i] = r.nextGaussian();
        Tensor t = Tensor.allocate(DType.F32, shape);
        for (int c = 0; c < channels; c++) {
            for (int y = 0; y < height; y++) {
                double sy = Math.max(0, (y + 0.5) * coarse / height - 0.5);
                int y0 = (int) sy;
                int y1 = Math.min(y0 + 1, coarse - 1);
                for (int x = 0; x < width; x++) {
                    double sx = Math.max(0, (x + 0.5) * coarse / width - 0.5);
                    int x0 = (int) sx;
                    int x1 = Math.min(x0 + 1, coarse - 1);
                    int base = c * coarse * coarse;
                    double top = (1 - (sx - x0)) * low[base + y0 * coarse + x0] + (sx - x0) * low[base + y0 * coarse + x1];
                    double bottom = (1 - (sx - x0)) * low[base + y1 * coarse + x0] + (sx - x0) * low[base + y1 * coarse + x1];
                    double v = (1 - (sy - y0)) * top + (sy - y0) * bottom;
                    t.setDouble((c * height + y) * width + x, v + 0.1 * r.nextGaussian());
                }
            }
        }
        return t;
    }

    private static double cosine(Tensor a, Tensor b) {
        double ab = 0;
        double aa = 0;
        double bb = 0;
        for (int i = 0; i < a.size(); i++) {
            ab += a.getDouble(i) * b.getDouble(i);
            aa += a.getDouble(i) * a.getDouble(i);
            bb += b.getDouble(i) * b.getDouble(i);
        }
        return ab / Math.sqrt(aa * bb);
    }
}
