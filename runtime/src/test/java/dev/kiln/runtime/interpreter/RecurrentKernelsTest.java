package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.IrException;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static dev.kiln.runtime.interpreter.OneNodeGraphs.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Expected values come from a float64 numpy implementation of the ONNX equations. Inputs are
 * a fixed pattern (see {@link #pattern}) so that the numpy script can rebuild them exactly.
 */
class RecurrentKernelsTest {
    private static final float TOLERANCE = 1e-6f;

    @Test
    void lstmDefaultsSpecExample() {
        Tensor x = floats(new long[] {3, 1, 2}, 1, 2, 3, 4, 5, 6);
        Tensor w = Tensor.ofFloats(filled(24, 0.1f), 1, 12, 2);
        Tensor r = Tensor.ofFloats(filled(36, 0.1f), 1, 12, 3);
        List<Tensor> out = run("LSTM", Map.of("hidden_size", new Attribute.Int(3)), 2, x, w, r);
        assertArrayEquals(new long[] {3, 1, 1, 3}, out.get(0).shape());
        assertArrayEquals(new long[] {1, 1, 3}, out.get(1).shape());
        assertClose(new float[] {0.600429892539978f, 0.600429892539978f, 0.600429892539978f}, out.get(1));
    }

    @Test
    void lstmBidirectionalWithPeepholesStatesAndSequenceLengths() {
        List<Tensor> out = run("LSTM", Map.of("direction", new Attribute.Str("bidirectional")), 3,
                pattern(1, 3, 2, 3), pattern(2, 2, 8, 3), pattern(3, 2, 8, 2), pattern(4, 2, 16),
                Tensor.ofInts(new int[] {3, 1}, 2), pattern(6, 2, 2, 2), pattern(7, 2, 2, 2), pattern(5, 2, 6));
        assertArrayEquals(new long[] {3, 2, 2, 2}, out.get(0).shape());
        assertClose(new float[] {
                0.3733762800693512f, -0.07653367519378662f, 0.1362845003604889f, -0.11027844995260239f, 0.12476333230733871f,
                -0.09412186592817307f, 0.04647437483072281f, -0.12956449389457703f, -0.05682024732232094f, -0.18940900266170502f,
                0.0f, 0.0f, -0.059700071811676025f, -0.13652299344539642f, 0.0f, 0.0f, -0.15738369524478912f, -0.2683531641960144f,
                0.0f, 0.0f, -0.26117610931396484f, -0.23085719347000122f, 0.0f, 0.0f}, out.get(0));
        assertClose(new float[] {
                -0.15738369524478912f, -0.2683531641960144f, 0.1362845003604889f, -0.11027844995260239f, 0.12476333230733871f,
                -0.09412186592817307f, 0.04647437483072281f, -0.12956449389457703f}, out.get(1));
        assertClose(new float[] {
                -0.3807717561721802f, -0.6277783513069153f, 0.23954209685325623f, -0.30508434772491455f, 0.3554069697856903f,
                -0.41635245084762573f, 0.10854823887348175f, -0.3951152563095093f}, out.get(2));
    }

    @Test
    void lstmReverseBatchFirstWithInputForgetAndClip() {
        Map<String, Attribute> attrs = Map.of("direction", new Attribute.Str("reverse"), "layout", new Attribute.Int(1),
                "input_forget", new Attribute.Int(1), "clip", new Attribute.Float(1.5f));
        List<Tensor> out = run("LSTM", attrs, 3,
                scaled(pattern(8, 2, 3, 2), 3), scaled(pattern(9, 1, 8, 2), 3), pattern(10, 1, 8, 2), pattern(11, 1, 16));
        assertArrayEquals(new long[] {2, 3, 1, 2}, out.get(0).shape());
        assertArrayEquals(new long[] {2, 1, 2}, out.get(2).shape());
        assertClose(new float[] {
                -0.001252983813174069f, 0.027058245614171028f, -0.28930237889289856f, -0.5284404158592224f, -0.1713668555021286f,
                -0.5088770985603333f, -0.331683874130249f, -0.5854887366294861f, -0.23920848965644836f, -0.5755058526992798f,
                -0.13378594815731049f, -0.5143859386444092f}, out.get(0));
        assertClose(new float[] {-0.001252983813174069f, 0.027058245614171028f, -0.331683874130249f, -0.5854887366294861f}, out.get(1));
        assertClose(new float[] {-0.002531360136345029f, 0.0763377696275711f, -0.43044430017471313f, -0.8996531367301941f}, out.get(2));
    }

    @Test
    void gruReverseWithSequenceLengths() {
        Tensor[] inputs = {pattern(12, 3, 2, 2), pattern(13, 1, 6, 2), pattern(14, 1, 6, 2), pattern(15, 1, 12),
                Tensor.ofInts(new int[] {2, 3}, 2), pattern(16, 1, 2, 2)};
        List<Tensor> out = run("GRU", Map.of("direction", new Attribute.Str("reverse")), 2, inputs);
        assertClose(new float[] {
                -0.7235561609268188f, -0.29944077134132385f, -0.6898336410522461f, -0.01381024718284607f, -0.673629105091095f,
                -0.5617231130599976f, -0.6046023368835449f, -0.1648683398962021f, 0.0f, 0.0f, -0.49476176500320435f,
                -0.21044345200061798f}, out.get(0));
        assertClose(new float[] {-0.7235561609268188f, -0.29944077134132385f, -0.6898336410522461f, -0.01381024718284607f}, out.get(1));
    }

    @Test
    void gruLinearBeforeReset() {
        Tensor[] inputs = {pattern(12, 3, 2, 2), pattern(13, 1, 6, 2), pattern(14, 1, 6, 2), pattern(15, 1, 12),
                Tensor.ofInts(new int[] {2, 3}, 2), pattern(16, 1, 2, 2)};
        List<Tensor> out = run("GRU",
                Map.of("direction", new Attribute.Str("reverse"), "linear_before_reset", new Attribute.Int(1)), 2, inputs);
        assertClose(new float[] {
                -0.7417290210723877f, -0.31191396713256836f, -0.7719548940658569f, -0.055871982127428055f, -0.6778873801231384f,
                -0.5673002600669861f, -0.7101151943206787f, -0.18730375170707703f, 0.0f, 0.0f, -0.6333792209625244f,
                -0.21482518315315247f}, out.get(0));
        assertClose(new float[] {-0.7417290210723877f, -0.31191396713256836f, -0.7719548940658569f, -0.055871982127428055f}, out.get(1));
    }

    @Test
    void gruInDoubleAndHalf() {
        float[] expected = {-0.1842210292816162f, -0.271554172039032f, -0.03645305708050728f, -0.3628266155719757f,
                -0.45306316018104553f, -0.06268617510795593f};
        Tensor y64 = run("GRU", Map.of(), 1,
                as(DType.F64, pattern(21, 2, 1, 2)), as(DType.F64, pattern(22, 1, 9, 2)), as(DType.F64, pattern(23, 1, 9, 3))).get(0);
        assertEquals(DType.F64, y64.dtype());
        assertClose(expected, y64);
        Tensor y16 = run("GRU", Map.of(), 1,
                as(DType.F16, pattern(21, 2, 1, 2)), as(DType.F16, pattern(22, 1, 9, 2)), as(DType.F16, pattern(23, 1, 9, 3))).get(0);
        assertEquals(DType.F16, y16.dtype());
        // The f16 inputs are the pattern rounded to half precision, so these differ slightly from the f32 results.
        assertArrayEquals(new float[] {-0.1842041015625f, -0.271484375f, -0.03631591796875f, -0.36279296875f, -0.453125f,
                -0.0626220703125f}, y16.toFloatArray());
    }

    @Test
    void rnnBidirectionalWithActivationParameters() {
        Tensor[] inputs = {pattern(17, 2, 1, 3), pattern(18, 2, 2, 3), pattern(19, 2, 2, 2), pattern(20, 2, 4)};
        Map<String, Attribute> attrs = Map.of("direction", new Attribute.Str("bidirectional"),
                "activations", new Attribute.Strs(List.of("LeakyRelu", "HardSigmoid")),
                "activation_alpha", new Attribute.Floats(new float[] {0.2f, 0.3f}), "activation_beta", new Attribute.Floats(new float[] {0.4f}));
        List<Tensor> out = run("RNN", attrs, 2, inputs);
        assertClose(new float[] {2.069999933242798f, -0.05199999362230301f, 0.6248199939727783f, 0.6852999925613403f,
                -0.2239599972963333f, 4.719600200653076f, 0.9340000152587891f, 0.6579999923706055f}, out.get(0));
        assertClose(new float[] {-0.2239599972963333f, 4.719600200653076f, 0.6248199939727783f, 0.6852999925613403f}, out.get(1));

        Map<String, Attribute> defaults = Map.of("direction", new Attribute.Str("bidirectional"),
                "activations", new Attribute.Strs(List.of("ScaledTanh", "Elu")),
                "activation_alpha", new Attribute.Floats(new float[] {1.5f}), "activation_beta", new Attribute.Floats(new float[] {0.5f}));
        assertClose(new float[] {1.1638588905334473f, -0.19390885531902313f, 1.3580000400543213f, 1.350000023841858f,
                -0.3190469741821289f, 1.4402072429656982f, 1.7799999713897705f, 0.8600000143051147f},
                run("RNN", defaults, 1, inputs).get(0));
    }

    @Test
    void rnnActivationsWithClip() {
        Map<String, float[]> expected = Map.of(
                "Relu", new float[] {0.6000000238418579f, 0.0f, 0.2499999701976776f, 0.6000000238418579f},
                "Affine", new float[] {0.699999988079071f, -1.0199999809265137f, -1.7000000476837158f, 0.699999988079071f},
                "ThresholdedRelu", new float[] {0.6000000238418579f, 0.0f, 0.2499999701976776f, 0.6000000238418579f},
                "Softsign", new float[] {0.375f, -0.2063491940498352f, 0.21060049533843994f, 0.375f},
                "Softplus", new float[] {1.0374879837036133f, 0.5715734958648682f, 0.8955634236335754f, 1.0374879837036133f},
                "Sigmoid", new float[] {0.6456562876701355f, 0.4353637099266052f, 0.6456562876701355f, 0.6456562876701355f});
        Map<String, float[][]> parameters = Map.of("Affine", new float[][] {{2f}, {-0.5f}}, "ThresholdedRelu", new float[][] {{0.1f}, {}});
        Tensor[] inputs = {pattern(17, 2, 1, 3), first(pattern(18, 2, 2, 3)), first(pattern(19, 2, 2, 2)), first(pattern(20, 2, 4))};
        for (Map.Entry<String, float[]> e : expected.entrySet()) {
            Map<String, Attribute> attrs = new HashMap<>();
            attrs.put("activations", new Attribute.Strs(List.of(e.getKey())));
            attrs.put("clip", new Attribute.Float(0.6f));
            float[][] p = parameters.get(e.getKey());
            if (p != null) {
                attrs.put("activation_alpha", new Attribute.Floats(p[0]));
                attrs.put("activation_beta", new Attribute.Floats(p[1]));
            }
            assertClose(e.getValue(), run("RNN", attrs, 1, inputs).get(0));
        }
    }

    @Test
    void outputShapesFollowLayoutAndDirection() {
        Graph g = new Graph("g");
        Value x = g.addInput("x", TensorType.of(DType.F32, 4, 7, 5));
        Value w = g.addInput("w", TensorType.of(DType.F32, 2, 12, 5));
        Value r = g.addInput("r", TensorType.of(DType.F32, 2, 12, 3));
        Node node = g.addNode("n", "LSTM", List.of(x, w, r),
                Map.of("direction", new Attribute.Str("bidirectional"), "layout", new Attribute.Int(1)), List.of("y", "yh", "yc"));
        assertEquals(TensorType.of(DType.F32, 4, 7, 2, 3), node.output(0).type());
        assertEquals(TensorType.of(DType.F32, 4, 2, 3), node.output(1).type());
        assertEquals(TensorType.of(DType.F32, 4, 2, 3), node.output(2).type());
    }

    @Test
    void directionMustMatchWeights() {
        IrException e = assertThrows(IrException.class, () -> run("GRU", Map.of(), 1,
                pattern(0, 1, 1, 2), pattern(0, 2, 6, 2), pattern(0, 2, 6, 2)));
        assertEquals("GRU node 'n': W has 2 directions but direction is forward", e.getMessage());
    }

    @Test
    void unknownActivationIsRejected() {
        InterpreterException e = assertThrows(InterpreterException.class, () -> run("RNN",
                Map.of("activations", new Attribute.Strs(List.of("Gelu"))), 1, pattern(0, 1, 1, 2), pattern(0, 1, 2, 2), pattern(0, 1, 2, 2)));
        assertEquals("RNN node 'n': activation 'Gelu' is not one of Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, "
                + "ScaledTanh, HardSigmoid, Elu, Softsign, Softplus", e.getMessage());
    }

    // ---- helpers ----

    /** ((k + seed) * 37 % 19 - 9) / 10 for element k, as float32: the same pattern the numpy script builds. */
    private static Tensor pattern(int seed, long... shape) {
        Tensor t = Tensor.allocate(DType.F32, shape);
        for (int k = 0; k < t.size(); k++) t.setDouble(k, (float) (((k + seed) * 37 % 19 - 9) / 10.0));
        return t;
    }

    private static Tensor scaled(Tensor t, float factor) {
        float[] v = t.toFloatArray();
        for (int i = 0; i < v.length; i++) v[i] *= factor;
        return Tensor.ofFloats(v, t.shape());
    }

    /** The first direction of a [2, ...] parameter. */
    private static Tensor first(Tensor t) {
        long[] shape = t.shape();
        shape[0] = 1;
        float[] v = t.toFloatArray();
        return Tensor.ofFloats(Arrays.copyOf(v, v.length / 2), shape);
    }

    private static Tensor as(DType dtype, Tensor t) {
        Tensor r = Tensor.allocate(dtype, t.shape());
        for (int i = 0; i < t.size(); i++) r.setDouble(i, t.getDouble(i));
        return r;
    }

    private static Tensor floats(long[] shape, float... values) { return Tensor.ofFloats(values, shape); }

    private static float[] filled(int n, float v) {
        float[] r = new float[n];
        Arrays.fill(r, v);
        return r;
    }

    private static void assertClose(float[] expected, Tensor actual) {
        assertArrayEquals(expected, actual.toFloatArray(), TOLERANCE);
    }
}
