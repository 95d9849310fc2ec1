package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.runtime.Tensor;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;
import java.util.function.LongBinaryOperator;

import static dev.kiln.runtime.interpreter.ElementwiseLoops.at;
import static dev.kiln.runtime.interpreter.ElementwiseLoops.compare;
import static dev.kiln.runtime.interpreter.ElementwiseLoops.fold;
import static dev.kiln.runtime.interpreter.ElementwiseLoops.mapDoubles;
import static dev.kiln.runtime.interpreter.ElementwiseLoops.mapNumeric;
import static dev.kiln.runtime.interpreter.ElementwiseLoops.testDoubles;
import static dev.kiln.runtime.interpreter.ElementwiseLoops.zip;

/**
 * Kernels of the elementwise ops (see ElementwiseOps for the list and their dtypes). Float
 * attributes are read as float32 and applied in double, like ONNX's float32 reference.
 */
final class ElementwiseKernels {
    private ElementwiseKernels() {}

    static void register(Map<String, Kernel> table) {
        registerUnary(table);
        registerActivations(table);
        registerBinary(table);
        registerComparisons(table);
        // Math.max and Math.min propagate NaN, as ONNX Max and Min do.
        table.put("Max", ctx -> List.of(fold(ctx, inputs(ctx), false, Math::max, Math::max,
                (a, b) -> Long.compareUnsigned(a, b) >= 0 ? a : b)));
        table.put("Min", ctx -> List.of(fold(ctx, inputs(ctx), false, Math::min, Math::min,
                (a, b) -> Long.compareUnsigned(a, b) <= 0 ? a : b)));
        table.put("Sum", ctx -> List.of(fold(ctx, inputs(ctx), false, Double::sum, null, null)));
        table.put("Mean", ctx -> List.of(fold(ctx, inputs(ctx), true, Double::sum, null, null)));
        table.put("Where", ElementwiseKernels::where);
        table.put("Clip", ElementwiseKernels::clip);
        table.put("Cast", ctx -> List.of(cast(ctx.input(0), ctx.outputDType(0))));
        table.put("CastLike", ctx -> List.of(cast(ctx.input(0), ctx.outputDType(0))));
        table.put("BitCast", ctx -> List.of(Tensor.wrap(ctx.outputDType(0), ctx.input(0).shape(), ctx.input(0).data())));
        table.put("Identity", ctx -> List.of(ctx.input(0)));
        table.put("Dropout", ElementwiseKernels::dropout);
    }

    private static void registerUnary(Map<String, Kernel> table) {
        floating(table, "Exp", Math::exp);
        floating(table, "Log", Math::log);
        floating(table, "Sqrt", Math::sqrt);
        floating(table, "Reciprocal", x -> 1.0 / x);
        floating(table, "Floor", Math::floor);
        floating(table, "Ceil", Math::ceil);
        floating(table, "Round", Math::rint);
        floating(table, "Erf", ElementwiseFunctions::erf);
        floating(table, "Sin", Math::sin);
        floating(table, "Cos", Math::cos);
        floating(table, "Tan", Math::tan);
        floating(table, "Tanh", Math::tanh);
        floating(table, "Acos", Math::acos);
        floating(table, "Asin", Math::asin);
        floating(table, "Atan", Math::atan);
        floating(table, "Sinh", Math::sinh);
        floating(table, "Cosh", Math::cosh);
        floating(table, "Asinh", ElementwiseFunctions::asinh);
        floating(table, "Acosh", ElementwiseFunctions::acosh);
        floating(table, "Atanh", ElementwiseFunctions::atanh);
        table.put("Abs", ctx -> List.of(mapNumeric(ctx.input(0), Math::abs, Math::abs, x -> x)));
        table.put("Neg", ctx -> List.of(mapNumeric(ctx.input(0), x -> -x, x -> -x, null)));
        table.put("Sign", ctx -> List.of(mapNumeric(ctx.input(0), Math::signum, Long::signum, x -> x == 0 ? 0 : 1)));
        table.put("Not", ctx -> List.of(mapNumeric(ctx.input(0), null, x -> x ^ 1, null)));
        table.put("BitwiseNot", ctx -> List.of(mapNumeric(ctx.input(0), null, x -> ~x, x -> ~x)));
        table.put("IsNaN", ctx -> List.of(testDoubles(ctx.input(0), Double::isNaN)));
        table.put("IsInf", ctx -> {
            boolean negative = ctx.intAttr("detect_negative") != 0;
            boolean positive = ctx.intAttr("detect_positive") != 0;
            return List.of(testDoubles(ctx.input(0), x -> (positive && x == Double.POSITIVE_INFINITY) || (negative && x == Double.NEGATIVE_INFINITY)));
        });
    }

    private static void registerActivations(Map<String, Kernel> table) {
        floating(table, "Sigmoid", ElementwiseFunctions::sigmoid);
        floating(table, "Softplus", ElementwiseFunctions::softplus);
        floating(table, "Softsign", x -> x / (1.0 + Math.abs(x)));
        floating(table, "HardSwish", x -> x * Math.max(0.0, Math.min(1.0, x / 6.0 + 0.5)));
        floating(table, "Mish", x -> x * Math.tanh(ElementwiseFunctions.softplus(x)));
        table.put("Relu", ctx -> List.of(mapNumeric(ctx.input(0), x -> x < 0 ? 0.0 : x, x -> Math.max(x, 0), null)));
        table.put("LeakyRelu", ctx -> {
            double alpha = ctx.floatAttr("alpha");
            return List.of(mapDoubles(ctx.input(0), x -> x < 0 ? alpha * x : x));
        });
        table.put("Elu", ctx -> {
            double alpha = ctx.floatAttr("alpha");
            return List.of(mapDoubles(ctx.input(0), x -> x < 0 ? alpha * Math.expm1(x) : x));
        });
        table.put("Celu", ctx -> {
            double alpha = ctx.floatAttr("alpha");
            return List.of(mapDoubles(ctx.input(0), x -> Math.max(0.0, x) + Math.min(0.0, alpha * Math.expm1(x / alpha))));
        });
        table.put("Selu", ctx -> {
            double alpha = ctx.floatAttr("alpha");
            double gamma = ctx.floatAttr("gamma");
            return List.of(mapDoubles(ctx.input(0), x -> x > 0 ? gamma * x : gamma * alpha * Math.expm1(x)));
        });
        table.put("ThresholdedRelu", ctx -> {
            double alpha = ctx.floatAttr("alpha");
            return List.of(mapDoubles(ctx.input(0), x -> x > alpha ? x : 0.0));
        });
        table.put("HardSigmoid", ctx -> {
            double alpha = ctx.floatAttr("alpha");
            double beta = ctx.floatAttr("beta");
            return List.of(mapDoubles(ctx.input(0), x -> Math.max(0.0, Math.min(1.0, alpha * x + beta))));
        });
        table.put("Swish", ctx -> {
            double alpha = ctx.floatAttr("alpha");
            return List.of(mapDoubles(ctx.input(0), x -> x * ElementwiseFunctions.sigmoid(alpha * x)));
        });
        table.put("Shrink", ctx -> {
            double lambd = ctx.floatAttr("lambd");
            double bias = ctx.floatAttr("bias");
            return List.of(mapDoubles(ctx.input(0), x -> x < -lambd ? x + bias : x > lambd ? x - bias : 0.0));
        });
        table.put("SwiGLU", ctx -> {
            double alpha = ctx.floatAttr("alpha");
            Tensor gate = ctx.input(0);
            Tensor value = ctx.input(1);
            if (!Arrays.equals(gate.shape(), value.shape())) {
                throw ctx.fail("gate shape " + Arrays.toString(gate.shape()) + " and value shape " + Arrays.toString(value.shape()) + " differ");
            }
            return List.of(zip(ctx, gate, value, gate.dtype(), (a, b) -> a * ElementwiseFunctions.sigmoid(alpha * a) * b, null, null));
        });
        table.put("Gelu", ctx -> {
            boolean tanh = ctx.stringAttr("approximate").equals("tanh");
            return List.of(mapDoubles(ctx.input(0), tanh ? ElementwiseFunctions::geluTanh : ElementwiseFunctions::gelu));
        });
        table.put("PRelu", ctx -> {
            Tensor x = ctx.input(0);
            Tensor slope = ctx.input(1);
            Tensor y = zip(ctx, x, slope, x.dtype(), (v, s) -> v < 0 ? s * v : v, (v, s) -> v < 0 ? s * v : v, (v, s) -> v);
            if (!Arrays.equals(y.shape(), x.shape())) {
                throw ctx.fail("slope shape " + Arrays.toString(slope.shape()) + " cannot be broadcast to X shape " + Arrays.toString(x.shape()));
            }
            return List.of(y);
        });
    }

    private static void registerBinary(Map<String, Kernel> table) {
        arithmetic(table, "Add", Double::sum, Long::sum, Long::sum);
        arithmetic(table, "Sub", (a, b) -> a - b, (a, b) -> a - b, (a, b) -> a - b);
        arithmetic(table, "Mul", (a, b) -> a * b, (a, b) -> a * b, (a, b) -> a * b);
        table.put("Div", ctx -> List.of(zip(ctx, ctx.input(0), ctx.input(1), ctx.outputDType(0), (a, b) -> a / b,
                (a, b) -> a / nonZeroDivisor(ctx, b), (a, b) -> Long.divideUnsigned(a, nonZeroDivisor(ctx, b)))));
        table.put("Mod", ctx -> {
            boolean fmod = ctx.intAttr("fmod") == 1;
            LongBinaryOperator signed = fmod ? (a, b) -> a % nonZeroDivisor(ctx, b) : (a, b) -> Math.floorMod(a, nonZeroDivisor(ctx, b));
            return List.of(zip(ctx, ctx.input(0), ctx.input(1), ctx.outputDType(0), (a, b) -> a % b, signed,
                    (a, b) -> Long.remainderUnsigned(a, nonZeroDivisor(ctx, b))));
        });
        table.put("Pow", ElementwiseKernels::pow);
        for (String op : List.of("BitwiseAnd", "And")) arithmetic(table, op, null, (a, b) -> a & b, (a, b) -> a & b);
        for (String op : List.of("BitwiseOr", "Or")) arithmetic(table, op, null, (a, b) -> a | b, (a, b) -> a | b);
        for (String op : List.of("BitwiseXor", "Xor")) arithmetic(table, op, null, (a, b) -> a ^ b, (a, b) -> a ^ b);
        table.put("BitShift", ctx -> {
            boolean left = ctx.stringAttr("direction").equals("LEFT");
            // Shifting by the bit width or more leaves nothing; the store wraps to the dtype's width.
            LongBinaryOperator shift = (a, b) -> Long.compareUnsigned(b, 64) >= 0 ? 0 : left ? a << b : a >>> b;
            return List.of(zip(ctx, ctx.input(0), ctx.input(1), ctx.outputDType(0), null, shift, shift));
        });
    }

    private static void registerComparisons(Map<String, Kernel> table) {
        table.put("Equal", ctx -> List.of(compare(ctx, ctx.input(0), ctx.input(1), (a, b) -> a == b, (a, b) -> a == b, (a, b) -> a == b)));
        table.put("Less", ctx -> List.of(compare(ctx, ctx.input(0), ctx.input(1), (a, b) -> a < b, (a, b) -> a < b,
                (a, b) -> Long.compareUnsigned(a, b) < 0)));
        table.put("LessOrEqual", ctx -> List.of(compare(ctx, ctx.input(0), ctx.input(1), (a, b) -> a <= b, (a, b) -> a <= b,
                (a, b) -> Long.compareUnsigned(a, b) <= 0)));
        table.put("Greater", ctx -> List.of(compare(ctx, ctx.input(0), ctx.input(1), (a, b) -> a > b, (a, b) -> a > b,
                (a, b) -> Long.compareUnsigned(a, b) > 0)));
        table.put("GreaterOrEqual", ctx -> List.of(compare(ctx, ctx.input(0), ctx.input(1), (a, b) -> a >= b, (a, b) -> a >= b,
                (a, b) -> Long.compareUnsigned(a, b) >= 0)));
    }

    private static void floating(Map<String, Kernel> table, String op, DoubleUnaryOperator f) {
        table.put(op, ctx -> List.of(mapDoubles(ctx.input(0), f)));
    }

    private static void arithmetic(Map<String, Kernel> table, String op, DoubleBinaryOperator onFloat,
                                   LongBinaryOperator onInteger, LongBinaryOperator onU64) {
        table.put(op, ctx -> List.of(zip(ctx, ctx.input(0), ctx.input(1), ctx.outputDType(0), onFloat, onInteger, onU64)));
    }

    private static List<Tensor> inputs(KernelContext ctx) {
        List<Tensor> all = new ArrayList<>(ctx.inputCount());
        for (int i = 0; i < ctx.inputCount(); i++) all.add(ctx.input(i));
        return all;
    }

    private static long nonZeroDivisor(KernelContext ctx, long b) {
        if (b == 0) throw ctx.fail("integer division by zero");
        return b;
    }

    /**
     * Pow with independent base and exponent dtypes. Integer bases with integer exponents multiply
     * exactly (wrapping like numpy); with a float exponent they go through double and truncate.
     */
    private static List<Tensor> pow(KernelContext ctx) {
        Tensor base = ctx.input(0);
        Tensor exponent = ctx.input(1);
        long[] shape = Broadcasting.shape(ctx, base.shape(), exponent.shape());
        int[] ib = Broadcasting.indexMap(base.shape(), shape);
        int[] ie = Broadcasting.indexMap(exponent.shape(), shape);
        int n = ElementwiseLoops.size(shape);
        DType out = ctx.outputDType(0);
        if (out.isFloatingPoint() || exponent.dtype().isFloatingPoint()) {
            double[] b = base.toDoubleArray();
            double[] e = exponent.toDoubleArray();
            double[] r = new double[n];
            for (int i = 0; i < n; i++) r[i] = Math.pow(b[at(ib, i)], e[at(ie, i)]);
            return List.of(ElementwiseValues.fromDoubles(out, shape, r));
        }
        long[] b = base.toLongArray();
        long[] e = exponent.toLongArray();
        boolean unsignedExponent = exponent.dtype().isUnsignedInteger();
        long[] r = new long[n];
        for (int i = 0; i < n; i++) r[i] = integerPower(ctx, b[at(ib, i)], e[at(ie, i)], unsignedExponent);
        return List.of(ElementwiseValues.fromLongs(out, shape, r, false));
    }

    private static long integerPower(KernelContext ctx, long base, long exponent, boolean unsignedExponent) {
        if (exponent < 0 && !unsignedExponent) {
            // 1 / base^|e| truncated toward zero.
            if (base == 0) throw ctx.fail("integer 0 raised to the negative power " + exponent);
            if (base == 1) return 1;
            if (base == -1) return (exponent & 1) != 0 ? -1 : 1;
            return 0;
        }
        long result = 1;
        for (long e = exponent, b = base; e != 0; e >>>= 1, b *= b) {
            if ((e & 1) != 0) result *= b;
        }
        return result;
    }

    /** Clip to optional scalar bounds; a min above the max gives the max everywhere, as numpy.clip does. */
    private static List<Tensor> clip(KernelContext ctx) {
        Tensor x = ctx.input(0);
        Tensor min = scalarOrNull(ctx, 1, "min");
        Tensor max = scalarOrNull(ctx, 2, "max");
        if (x.dtype().isFloatingPoint()) {
            double lo = min == null ? Double.NEGATIVE_INFINITY : min.getDouble(0);
            double hi = max == null ? Double.POSITIVE_INFINITY : max.getDouble(0);
            // Comparisons rather than Math.min/max: NaN passes through either way, and this is the hot path of Relu6.
            return List.of(mapDoubles(x, v -> {
                double atLeastLo = v < lo ? lo : v;
                return atLeastLo > hi ? hi : atLeastLo;
            }));
        }
        boolean u64 = x.dtype() == DType.U64;
        long lo = min != null ? min.getLong(0) : u64 ? 0L : Long.MIN_VALUE;
        long hi = max != null ? max.getLong(0) : u64 ? -1L : Long.MAX_VALUE;
        return List.of(mapNumeric(x, null, v -> Math.min(Math.max(v, lo), hi), v -> {
            long clamped = Long.compareUnsigned(v, lo) < 0 ? lo : v;
            return Long.compareUnsigned(clamped, hi) > 0 ? hi : clamped;
        }));
    }

    private static Tensor scalarOrNull(KernelContext ctx, int input, String what) {
        Tensor t = ctx.optionalInput(input);
        if (t != null && t.size() != 1) throw ctx.fail(what + " must be a scalar, got shape " + Arrays.toString(t.shape()));
        return t;
    }

    /** Where copies whole elements, so every dtype passes through bit for bit. */
    private static List<Tensor> where(KernelContext ctx) {
        Tensor cond = ctx.input(0);
        Tensor x = ctx.input(1);
        Tensor y = ctx.input(2);
        long[] shape = Broadcasting.shape(ctx, cond.shape(), x.shape(), y.shape());
        int[] ic = Broadcasting.indexMap(cond.shape(), shape);
        int[] ix = Broadcasting.indexMap(x.shape(), shape);
        int[] iy = Broadcasting.indexMap(y.shape(), shape);
        byte[] c = bytes(cond);
        byte[] xb = bytes(x);
        byte[] yb = bytes(y);
        int width = x.dtype().byteSize();
        int n = ElementwiseLoops.size(shape);
        byte[] out = new byte[n * width];
        for (int i = 0; i < n; i++) {
            if (c[at(ic, i)] != 0) System.arraycopy(xb, at(ix, i) * width, out, i * width, width);
            else System.arraycopy(yb, at(iy, i) * width, out, i * width, width);
        }
        return List.of(Tensor.wrap(x.dtype(), shape, ByteBuffer.wrap(out)));
    }

    private static byte[] bytes(Tensor t) {
        ByteBuffer b = t.data();
        byte[] a = new byte[b.remaining()];
        b.get(a);
        return a;
    }

    /**
     * Cast by the ONNX rules: floating-point sources convert by value (rounding to nearest even,
     * truncating toward zero into integers), integer and bool sources by their exact integer value.
     */
    static Tensor cast(Tensor x, DType to) {
        if (x.dtype() == to) return x;
        if (x.dtype().isFloatingPoint()) return ElementwiseValues.fromDoubles(to, x.shape(), x.toDoubleArray());
        return ElementwiseValues.fromLongs(to, x.shape(), x.toLongArray(), x.dtype() == DType.U64);
    }

    /**
     * Dropout as inference: the output is the input and the mask is all true. Training mode with a
     * non-zero ratio is random, so it is refused rather than run differently from the spec.
     */
    private static List<Tensor> dropout(KernelContext ctx) {
        Tensor x = ctx.input(0);
        Tensor ratio = scalarOrNull(ctx, 1, "ratio");
        Tensor training = scalarOrNull(ctx, 2, "training_mode");
        if (training != null && training.getBoolean(0)) {
            double r = ratio == null ? 0.5 : ratio.getDouble(0);
            if (r != 0) {
                throw ctx.fail("training_mode is true with ratio " + r + "; random dropout is not deterministic, so the interpreter only runs it with ratio 0");
            }
        }
        if (ctx.outputCount() == 1) return List.of(x);
        boolean[] mask = new boolean[x.size()];
        Arrays.fill(mask, true);
        return List.of(x, ElementwiseValues.fromBooleans(x.shape(), mask));
    }
}
