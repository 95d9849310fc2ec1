package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.IrException;
import dev.kiln.runtime.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static dev.kiln.runtime.interpreter.OneNodeGraphs.f32;
import static dev.kiln.runtime.interpreter.OneNodeGraphs.floats;
import static dev.kiln.runtime.interpreter.OneNodeGraphs.run1;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fused ops of FusionOps, on small inputs whose results are worked out by hand in the comments. */
class FusedKernelsTest {
    private static final long[] PLANE = {1, 1, 2, 2};
    private static final Tensor X = f32(PLANE, 1, -2, 3, -4);
    private static final Tensor W = f32(new long[] {1, 1, 1, 1}, 2);
    private static final Tensor B = f32(new long[] {1}, 1);
    private static final Tensor Z = f32(PLANE, 0.5, 0.5, 0.5, 0.5);

    private static Map<String, Attribute> activation(String name, float... params) {
        return params.length == 0 ? Map.of("activation", Attribute.of(name))
                : Map.of("activation", Attribute.of(name), "activation_params", Attribute.of(params));
    }

    @Test
    void fusedConvAddsBiasAndResidualThenActivates() {
        // 2x + 1 + 0.5 = [3.5, -2.5, 7.5, -6.5]
        assertArrayEquals(new float[] {3.5f, 0f, 7.5f, 0f}, run1("FusedConv", activation("Relu"), X, W, B, Z).toFloatArray());
        assertArrayEquals(new float[] {3.5f, 0f, 6f, 0f}, run1("FusedConv", activation("Clip", 0f, 6f), X, W, B, Z).toFloatArray());
        assertArrayEquals(new float[] {3.5f, -2.5f, 7.5f, -6.5f}, run1("FusedConv", Map.of(), X, W, B, Z).toFloatArray());
        // No bias, no residual: 2x, then LeakyRelu(0.1).
        assertArrayEquals(new float[] {2f, -0.4f, 6f, -0.8f}, run1("FusedConv", activation("LeakyRelu", 0.1f), X, W).toFloatArray());
        // The residual without a bias: 2x + 0.5.
        assertArrayEquals(new float[] {2.5f, 0f, 6.5f, 0f}, run1("FusedConv", activation("Relu"), X, W, null, Z).toFloatArray());
    }

    @Test
    void fusedConvKeepsConvAttributes() {
        // A 2x2 window over the 2x2 plane: 1 - 2 + 3 - 4 = -2, then + 1 + 0 and Relu.
        Tensor w = f32(new long[] {1, 1, 2, 2}, 1, 1, 1, 1);
        Tensor y = run1("FusedConv", Map.of("activation", Attribute.of("Relu"), "kernel_shape", Attribute.of(2L, 2L)), X, w, B);
        assertArrayEquals(new long[] {1, 1, 1, 1}, y.shape());
        assertArrayEquals(new float[] {0f}, y.toFloatArray());
        // End padding and stride 2 sample the padded plane [[1, -2, 0], [3, -4, 0], [0, 0, 0]] at its corners: 2x + 1 = [3, 1, 1, 1].
        Tensor strided = run1("FusedConv", Map.of("activation", Attribute.of("Tanh"), "pads", Attribute.of(0L, 0L, 1L, 1L),
                "strides", Attribute.of(2L, 2L)), X, W, B);
        assertClose(new double[] {Math.tanh(3), Math.tanh(1), Math.tanh(1), Math.tanh(1)}, strided);
    }

    @Test
    void fusedConvTransposeUsesTheConvTransposeKernel() {
        // A 1x1 transposed convolution with stride 2 spreads the inputs apart: 2x + 1 at even positions, 1 elsewhere.
        Tensor y = run1("FusedConvTranspose", Map.of("activation", Attribute.of("Relu"), "strides", Attribute.of(2L, 2L)), X, W, B);
        assertArrayEquals(new long[] {1, 1, 3, 3}, y.shape());
        assertArrayEquals(new float[] {3f, 1f, 0f, 1f, 1f, 1f, 7f, 1f, 0f}, y.toFloatArray());
    }

    @Test
    void fusedGemmAddsCWithBetaThenResidual() {
        Tensor a = f32(new long[] {1, 2}, 1, 2);
        Tensor b = f32(new long[] {2, 2}, 1, 0, 0, -1);
        Tensor c = f32(new long[] {2}, 0.25, 0.25);
        Tensor z = f32(new long[] {1, 2}, 1, 1);
        // alpha 2: [2, -4]; beta 2: + 0.5 = [2.5, -3.5]; + 1 = [3.5, -2.5]; HardSigmoid(0.2, 0.5) = [1, 0].
        Map<String, Attribute> attrs = Map.of("alpha", Attribute.of(2f), "beta", Attribute.of(2f),
                "activation", Attribute.of("HardSigmoid"), "activation_params", Attribute.of(0.2f, 0.5f));
        assertArrayEquals(new float[] {1f, 0f}, run1("FusedGemm", attrs, a, b, c, z).toFloatArray());
        // transB reads B as [[1, 0], [0, -1]] transposed (the same matrix); HardSwish(3.5) = 3.5, HardSwish(-2.5) = -2.5 * 0.0833...
        Map<String, Attribute> swish = Map.of("transB", Attribute.of(1L), "alpha", Attribute.of(2f), "beta", Attribute.of(2f),
                "activation", Attribute.of("HardSwish"));
        assertClose(new double[] {3.5, -2.5 * (-2.5 / 6 + 0.5)}, run1("FusedGemm", swish, a, b, c, z));
    }

    @Test
    void fusedMatMulBroadcastsItsBiasOverRows() {
        Tensor a = f32(new long[] {1, 2, 2}, 1, 2, 3, 4);
        Tensor identity = f32(new long[] {2, 2}, 1, 0, 0, 1);
        Tensor bias = f32(new long[] {2}, -2, -3);
        // [[1, 2], [3, 4]] + [-2, -3] = [[-1, -1], [1, 1]], then SiLU (Swish with alpha 1).
        double silu = 1 / (1 + Math.exp(-1));
        Tensor y = run1("FusedMatMul", activation("Swish", 1f), a, identity, bias);
        assertArrayEquals(new long[] {1, 2, 2}, y.shape());
        assertClose(new double[] {-1 + silu, -1 + silu, silu, silu}, y);
        // No bias, a residual and exact Gelu: Gelu(0) = 0, Gelu(x) = x Phi(x).
        Tensor z = f32(new long[] {1, 2, 2}, -1, -2, -3, -4);
        assertClose(new double[] {0, 0, 0, 0}, run1("FusedMatMul", activation("Gelu"), a, identity, null, z));
    }

    @Test
    void fusedOpsRunInDoubleForF64() {
        Tensor a = floats(DType.F64, new long[] {1, 2}, 1, 2);
        Tensor b = floats(DType.F64, new long[] {2, 1}, 0.1, 0.2);
        Tensor y = run1("FusedGemm", activation("Elu", 1f), a, b);
        assertEquals(DType.F64, y.dtype());
        assertEquals(0.5, y.getDouble(0), 1e-15);
    }

    @Test
    void fusedElementwiseRunsItsProgramOverBroadcastInputs() {
        Tensor x = f32(new long[] {2, 3}, 1, 2, 3, 4, 5, 6);
        Tensor scale = f32(new long[] {3}, 1, 2, 3);
        Tensor floor = f32(new long[] {2, 1}, -10, 0);
        // x * scale = [1, 4, 9, 4, 10, 18]; 10 - that = [9, 6, 1, 6, 0, -8]; max with floor (per row) = [9, 6, 1, 6, 0, 0].
        Map<String, Attribute> program = Map.of("program", new Attribute.Strs(List.of("Mul(x, $1)", "Sub(10.0, x)", "Max(x, $2)")));
        Tensor y = run1("FusedElementwise", program, x, scale, floor);
        assertArrayEquals(new long[] {2, 3}, y.shape());
        assertArrayEquals(new float[] {9f, 6f, 1f, 6f, 0f, 0f}, y.toFloatArray());
        // $0 reread after x changed: SiLU as Sigmoid then Mul by the input; Clip's bounds are literals.
        Map<String, Attribute> silu = Map.of("program", new Attribute.Strs(List.of("Sigmoid(x)", "Mul($0, x)", "Clip(x, 0.0, 2.0)")));
        Tensor s = run1("FusedElementwise", silu, x);
        assertClose(new double[] {1 / (1 + Math.exp(-1)), Math.min(2, 2 / (1 + Math.exp(-2))), 2, 2, 2, 2}, s);
    }

    @Test
    void fusedElementwiseLiteralsHaveTheDtypePrecision() {
        Map<String, Attribute> program = Map.of("program", new Attribute.Strs(List.of("Mul(x, 0.1)", "PRelu(x, -1.0)")));
        Tensor f = run1("FusedElementwise", program, f32(new long[] {2}, 1, -1));
        // 0.1 is read as the float 0.1f, as an f32 constant of 0.1 would be.
        assertArrayEquals(new float[] {(float) (1 * (double) 0.1f), (float) (-1 * (double) 0.1f * -1)}, f.toFloatArray());
        Tensor d = run1("FusedElementwise", program, floats(DType.F64, new long[] {1}, 1));
        assertEquals(0.1, d.getDouble(0), 0);
    }

    @Test
    void squeezeExciteScalesEachChannelByItsGate() {
        // Channel means [-0.5, 2.5, 7]; W1 [[1, 0, 0], [0, 1, -1]] + B1 [1, 1] gives [0.5, -3.5], Relu [0.5, 0];
        // W2 [[2, 0], [0, 1]] (channels 0 and 1; channel 2 gets 0) + B2 [0, -1] gives [1, -1], HardSigmoid(0.5x + 0.5) [1, 0].
        Tensor x = f32(new long[] {1, 3, 2}, 1, -2, 2, 3, 7, 7);
        Tensor w1 = f32(new long[] {2, 3}, 1, 0, 0, 0, 1, -1);
        Tensor w2 = f32(new long[] {2, 2}, 2, 0, 0, 1);
        Map<String, Attribute> attrs = Map.of("activation", Attribute.of("Relu"), "gate", Attribute.of("HardSigmoid"),
                "gate_params", Attribute.of(new float[] {0.5f, 0.5f}));
        Tensor y = run1("SqueezeExcite", attrs, x, w1, w2, f32(new long[] {2}, 1, 1), f32(new long[] {2}, 0, -1));
        assertArrayEquals(new float[] {1, -2, 0, 0, 0, 0}, y.toFloatArray());
        // Without biases, Sigmoid by default: [0, 0] + Relu [0, 0], then Sigmoid(0) = 0.5 for channels 0 and 1.
        Tensor half = run1("SqueezeExcite", Map.of("activation", Attribute.of("Relu")), x, w1, w2);
        assertArrayEquals(new float[] {0.5f, -1, 1, 1.5f, 0, 0}, half.toFloatArray());
    }

    @Test
    void badProgramsAndActivationsAreRefusedWhenTheNodeIsBuilt() {
        Tensor x = f32(new long[] {2}, 1, 2);
        IrException unknown = assertThrows(IrException.class,
                () -> run1("FusedElementwise", Map.of("program", new Attribute.Strs(List.of("Frobnicate(x)"))), x));
        assertTrue(unknown.getMessage().contains("unknown function 'Frobnicate'"), unknown.getMessage());
        IrException missing = assertThrows(IrException.class,
                () -> run1("FusedElementwise", Map.of("program", new Attribute.Strs(List.of("Add(x, $1)"))), x));
        assertTrue(missing.getMessage().contains("reads $1 but the node has 1 inputs"), missing.getMessage());
        IrException params = assertThrows(IrException.class, () -> run1("FusedConv", activation("Clip", 0f), X, W));
        assertTrue(params.getMessage().contains("activation Clip takes 2 parameters, got 1"), params.getMessage());
        IrException residual = assertThrows(IrException.class, () -> run1("FusedConv", Map.of(), X, W, B, f32(new long[] {1, 1, 1, 2}, 0, 0)));
        assertTrue(residual.getMessage().contains("residual Z"), residual.getMessage());
    }

    private static void assertClose(double[] want, Tensor got) {
        assertEquals(want.length, got.size());
        for (int i = 0; i < want.length; i++) assertEquals(want[i], got.getDouble(i), 1e-6, "element " + i);
    }
}
