package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.ir.ops.ElementwiseProgram;
import dev.kiln.ir.ops.ElementwiseProgram.Input;
import dev.kiln.ir.ops.ElementwiseProgram.Literal;
import dev.kiln.ir.ops.ElementwiseProgram.Operand;
import dev.kiln.ir.ops.ElementwiseProgram.Step;
import dev.kiln.runtime.Tensor;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;

/**
 * The fused ops of FusionOps. FusedConv, FusedConvTranspose, FusedGemm and FusedMatMul run the
 * Conv, ConvTranspose, Gemm and MatMul kernels on their own inputs and attributes, then add the
 * bias (FusedMatMul) and the residual and apply the activation in one sweep over the result.
 * FusedElementwise runs its program element by element, reading every input once; SqueezeExcite pools,
 * excites and scales in double.
 */
final class FusedKernels {
    /** Output elements per task of a FusedElementwise run. */
    private static final int CHUNK = 1 << 14;

    private FusedKernels() {}

    static void register(Map<String, Kernel> table) {
        table.put("FusedConv", ctx -> List.of(epilogue(ctx, ConvKernels.conv(ctx).get(0), null)));
        table.put("FusedConvTranspose", ctx -> List.of(epilogue(ctx, ConvKernels.convTranspose(ctx).get(0), null)));
        table.put("FusedGemm", ctx -> List.of(epilogue(ctx, GemmKernels.gemm(ctx).get(0), null)));
        table.put("FusedMatMul", ctx -> List.of(epilogue(ctx, GemmKernels.matMul(ctx).get(0), ctx.optionalInput(2))));
        table.put("FusedElementwise", FusedKernels::fusedElementwise);
        table.put("SqueezeExcite", FusedKernels::squeezeExcite);
    }

    /**
     * Y = X * gate(W2 act(W1 mean(X) + B1) + B2) per image and channel, in double: the mean of channels [0, C1)
     * (W1's columns) over the spatial positions, the excitation of channels [0, C2) (W2's rows), of the others 0.
     */
    private static List<Tensor> squeezeExcite(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long[] shape = x.shape();
        int n = (int) shape[0];
        int c = (int) shape[1];
        int size = (int) (ElementwiseLoops.size(shape) / Math.max(1, (long) n * c));
        long[] w1s = ctx.input(1).shape();
        long[] w2s = ctx.input(2).shape();
        int r = (int) w1s[0];
        int c1 = (int) w1s[1];
        int c2 = (int) w2s[0];
        double[] xv = x.toDoubleArray();
        double[] w1 = ctx.input(1).toDoubleArray();
        double[] w2 = ctx.input(2).toDoubleArray();
        double[] b1 = ctx.hasInput(3) ? ctx.input(3).toDoubleArray() : null;
        double[] b2 = ctx.hasInput(4) ? ctx.input(4).toDoubleArray() : null;
        DoubleUnaryOperator act = activation(ctx, "activation", "activation_params");
        DoubleUnaryOperator gate = activation(ctx, "gate", "gate_params");
        double[] y = new double[xv.length];
        for (int b = 0; b < n; b++) {
            double[] squeezed = new double[c1];
            for (int k = 0; k < c1; k++) {
                double sum = 0;
                for (int i = 0; i < size; i++) sum += xv[(b * c + k) * size + i];
                squeezed[k] = sum / size;
            }
            double[] reduced = new double[r];
            for (int j = 0; j < r; j++) {
                double v = b1 == null ? 0 : b1[j];
                for (int k = 0; k < c1; k++) v += w1[j * c1 + k] * squeezed[k];
                reduced[j] = act == null ? v : act.applyAsDouble(v);
            }
            for (int k = 0; k < c; k++) {
                double g = 0;
                if (k < c2) {
                    double v = b2 == null ? 0 : b2[k];
                    for (int j = 0; j < r; j++) v += w2[k * r + j] * reduced[j];
                    g = gate == null ? v : gate.applyAsDouble(v);
                }
                for (int i = 0; i < size; i++) y[(b * c + k) * size + i] = xv[(b * c + k) * size + i] * g;
            }
        }
        return List.of(NnArrays.fromDoubles(x.dtype(), shape, y));
    }

    /** The activation named by attribute {@code name} with its parameters, or null for None. */
    private static DoubleUnaryOperator activation(KernelContext ctx, String name, String params) {
        String f = ctx.stringAttr(name);
        return f.equals(ElementwiseProgram.NO_ACTIVATION) ? null : unary(ctx, f, toDoubles(ctx.floatsAttr(params)));
    }

    /** y + bias (broadcast; null: none) + Z (input 3, when given), then the node's activation. */
    private static Tensor epilogue(KernelContext ctx, Tensor y, Tensor bias) {
        long[] shape = y.shape();
        Tensor z = ctx.optionalInput(3);
        if (z != null && !Arrays.equals(z.shape(), shape)) {
            throw ctx.fail("residual Z of shape " + Arrays.toString(z.shape()) + " must have the output's shape " + Arrays.toString(shape));
        }
        String activation = ctx.stringAttr("activation");
        DoubleUnaryOperator act = activation.equals(ElementwiseProgram.NO_ACTIVATION) ? null : unary(ctx, activation, toDoubles(ctx.floatsAttr("activation_params")));
        if (bias == null && z == null && act == null) return y;
        int[] biasAt = bias == null ? null : NnArrays.broadcastIndex(ctx, bias.shape(), shape);
        double[] b = bias == null ? null : bias.toDoubleArray();
        double[] r = z == null ? null : z.toDoubleArray();
        if (y.dtype() == DType.F32) {
            float[] v = y.toFloatArray();
            for (int i = 0; i < v.length; i++) v[i] = (float) finish(v[i], b, biasAt, r, act, i);
            return Tensor.ofFloats(v, shape);
        }
        double[] v = y.toDoubleArray();
        for (int i = 0; i < v.length; i++) v[i] = finish(v[i], b, biasAt, r, act, i);
        return NnArrays.fromDoubles(y.dtype(), shape, v);
    }

    private static double finish(double v, double[] bias, int[] biasAt, double[] residual, DoubleUnaryOperator act, int i) {
        if (bias != null) v += bias[biasAt[i]];
        if (residual != null) v += residual[i];
        return act == null ? v : act.applyAsDouble(v);
    }

    /** Computes a step's value at one output element from the running value x. */
    @FunctionalInterface
    private interface CompiledStep {
        double apply(double x, int element);
    }

    private static List<Tensor> fusedElementwise(KernelContext ctx) {
        int n = ctx.inputCount();
        long[][] shapes = new long[n][];
        for (int k = 0; k < n; k++) shapes[k] = ctx.input(k).shape();
        long[] shape = Broadcasting.shape(ctx, shapes);
        DType t = ctx.outputDType(0);
        double[][] values = new double[n][];
        int[][] maps = new int[n][];
        for (int k = 0; k < n; k++) {
            values[k] = ctx.input(k).toDoubleArray();
            maps[k] = Broadcasting.indexMap(shapes[k], shape);
        }
        List<Step> program;
        try {
            program = ElementwiseProgram.parse(ctx.stringsAttr("program"), n);
        } catch (IllegalArgumentException e) {
            throw ctx.fail(e.getMessage());
        }
        CompiledStep[] steps = new CompiledStep[program.size()];
        for (int s = 0; s < steps.length; s++) steps[s] = compile(ctx, program.get(s), t, values, maps);
        double[] first = values[0];
        int[] firstAt = maps[0];
        double[] out = new double[ElementwiseLoops.size(shape)];
        int chunks = (out.length + CHUNK - 1) / CHUNK;
        NnArrays.forEach(chunks, (long) out.length * steps.length, c -> {
            int end = Math.min(out.length, (c + 1) * CHUNK);
            for (int i = c * CHUNK; i < end; i++) {
                double x = first[ElementwiseLoops.at(firstAt, i)];
                for (CompiledStep step : steps) x = step.apply(x, i);
                out[i] = x;
            }
        });
        return List.of(NnArrays.fromDoubles(t, shape, out));
    }

    private static CompiledStep compile(KernelContext ctx, Step step, DType t, double[][] values, int[][] maps) {
        if (step.isUnary()) {
            DoubleUnaryOperator f = unary(ctx, step.function(), literals(step.params(), t));
            Operand operand = step.operands().get(0);
            if (operand instanceof ElementwiseProgram.Running) return (x, i) -> f.applyAsDouble(x);
            CompiledStep read = read(operand, t, values, maps);
            return (x, i) -> f.applyAsDouble(read.apply(x, i));
        }
        DoubleBinaryOperator f = binary(ctx, step.function());
        Operand a = step.operands().get(0);
        Operand b = step.operands().get(1);
        if (a instanceof ElementwiseProgram.Running && b instanceof Input in) {
            double[] v = values[in.index()];
            int[] at = maps[in.index()];
            return (x, i) -> f.applyAsDouble(x, v[ElementwiseLoops.at(at, i)]);
        }
        CompiledStep readA = read(a, t, values, maps);
        CompiledStep readB = read(b, t, values, maps);
        return (x, i) -> f.applyAsDouble(readA.apply(x, i), readB.apply(x, i));
    }

    /** An operand's value at an element: x itself, the broadcast input element, or the literal. */
    private static CompiledStep read(Operand o, DType t, double[][] values, int[][] maps) {
        if (o instanceof Input in) {
            double[] v = values[in.index()];
            int[] at = maps[in.index()];
            return (x, i) -> v[ElementwiseLoops.at(at, i)];
        }
        if (o instanceof Literal l) {
            double c = literals(new double[] {l.value()}, t)[0];
            return (x, i) -> c;
        }
        return (x, i) -> x;
    }

    /** Literals as the node's dtype reads them: floats below f64, like attribute values and f32 constants. */
    private static double[] literals(double[] v, DType t) {
        if (t == DType.F64) return v;
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) r[i] = (float) v[i];
        return r;
    }

    private static double[] toDoubles(float[] v) {
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) r[i] = v[i];
        return r;
    }

    /** The unary function of this name with its parameters, as the ONNX op of the name computes it. */
    private static DoubleUnaryOperator unary(KernelContext ctx, String function, double[] p) {
        return switch (function) {
            case "Relu" -> x -> x < 0 ? 0.0 : x;
            case "LeakyRelu" -> x -> x < 0 ? p[0] * x : x;
            case "Clip" -> x -> {
                double atLeastLo = x < p[0] ? p[0] : x;
                return atLeastLo > p[1] ? p[1] : atLeastLo;
            };
            case "Sigmoid" -> ElementwiseFunctions::sigmoid;
            case "Tanh" -> Math::tanh;
            case "HardSigmoid" -> x -> Math.max(0.0, Math.min(1.0, p[0] * x + p[1]));
            case "HardSwish" -> x -> x * Math.max(0.0, Math.min(1.0, x / 6.0 + 0.5));
            case "Swish" -> x -> x * ElementwiseFunctions.sigmoid(p[0] * x);
            case "Gelu" -> ElementwiseFunctions::gelu;
            case "GeluTanh" -> ElementwiseFunctions::geluTanh;
            case "Elu" -> x -> x < 0 ? p[0] * Math.expm1(x) : x;
            case "Softplus" -> ElementwiseFunctions::softplus;
            case "Softsign" -> x -> x / (1.0 + Math.abs(x));
            case "Mish" -> x -> x * Math.tanh(ElementwiseFunctions.softplus(x));
            case "Neg" -> x -> -x;
            case "Abs" -> Math::abs;
            case "Sqrt" -> Math::sqrt;
            case "Reciprocal" -> x -> 1.0 / x;
            case "Erf" -> ElementwiseFunctions::erf;
            case "Floor" -> Math::floor;
            case "Ceil" -> Math::ceil;
            case "Round" -> Math::rint;
            case "Sin" -> Math::sin;
            case "Cos" -> Math::cos;
            case "Exp" -> Math::exp;
            case "Log" -> Math::log;
            default -> throw ctx.fail("unknown activation or unary function '" + function + "'");
        };
    }

    private static DoubleBinaryOperator binary(KernelContext ctx, String function) {
        return switch (function) {
            case "Add" -> Double::sum;
            case "Sub" -> (a, b) -> a - b;
            case "Mul" -> (a, b) -> a * b;
            case "Div" -> (a, b) -> a / b;
            case "Pow" -> Math::pow;
            // Math.max and Math.min propagate NaN, as ONNX Max and Min do.
            case "Max" -> Math::max;
            case "Min" -> Math::min;
            case "PRelu" -> (x, slope) -> x < 0 ? slope * x : x;
            default -> throw ctx.fail("unknown binary function '" + function + "'");
        };
    }
}
