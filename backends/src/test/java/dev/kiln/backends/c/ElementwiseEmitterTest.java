package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.passes.MemoryPlan;
import dev.kiln.passes.PassContext;
import dev.kiln.passes.PlanMemory;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.Interpreter;
import dev.kiln.runtime.nativelib.NativeModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.kiln.backends.c.OpBatch.attrs;
import static dev.kiln.ir.DType.BF16;
import static dev.kiln.ir.DType.BOOL;
import static dev.kiln.ir.DType.F16;
import static dev.kiln.ir.DType.F32;
import static dev.kiln.ir.DType.F64;
import static dev.kiln.ir.DType.I16;
import static dev.kiln.ir.DType.I32;
import static dev.kiln.ir.DType.I64;
import static dev.kiln.ir.DType.I8;
import static dev.kiln.ir.DType.U16;
import static dev.kiln.ir.DType.U32;
import static dev.kiln.ir.DType.U64;
import static dev.kiln.ir.DType.U8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The elementwise family against the interpreter: every op with every dtype its spec allows, attribute forms,
 * broadcasting over odd shapes, special values (NaN, infinities, signed zeros, integer limits, halfway cases),
 * run-time shapes, blocked layouts, and what it refuses. Each test is one batch of nodes, compiled once.
 */
class ElementwiseEmitterTest {
    private static final List<DType> FLOATS = List.of(F32, F64, F16, BF16);
    private static final List<DType> INTEGERS = List.of(I8, U8, I16, U16, I32, U32, I64, U64);
    private static final List<DType> SIGNED = List.of(I8, I16, I32, I64);
    private static final List<DType> UNSIGNED = List.of(U8, U16, U32, U64);
    private static final List<DType> NUMERIC = List.of(F32, F64, F16, BF16, I8, U8, I16, U16, I32, U32, I64, U64);
    private static final List<DType> ALL = List.of(F32, F64, F16, BF16, I8, U8, I16, U16, I32, U32, I64, U64, BOOL);
    private static final double TWO_63 = 0x1p63;

    @TempDir
    Path dir;

    /** Values worth testing of a dtype: its limits and neighbours of 0 for integers; NaN, infinities, signed zeros and halves for floats. */
    private static double[] special(DType t) {
        if (t == BOOL) return new double[] {0, 1, 1, 0};
        if (t.isFloatingPoint()) {
            return new double[] {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, -0.0, 0.0, 0.5, -0.5, 1, -1, 1.5, 2.5, -2.5,
                    0.999, 1e-3, 3, -7};
        }
        double min = switch (t) {
            case I8 -> -128;
            case I16 -> -32768;
            case I32 -> -2147483648.0;
            case I64 -> -TWO_63;
            default -> 0;
        };
        double max = switch (t) {
            case I8 -> 127;
            case U8 -> 255;
            case I16 -> 32767;
            case U16 -> 65535;
            case I32 -> 2147483647;
            case U32 -> 4294967295.0;
            case I64 -> TWO_63; // saturates to the largest i64
            default -> 0x1p64; // saturates to the largest u64
        };
        return t.isUnsignedInteger() ? new double[] {min, max, max - 1, 0, 1, 2, 3, 7, 100, 64, 9}
                : new double[] {min, max, min + 1, max - 1, -1, 0, 1, 2, -2, 7, -7, 100};
    }

    /** An input of shape {@code shape} holding the dtype's special values first, then random ones of OpBatch's ranges. */
    private static Value mixed(OpBatch b, DType t, long... shape) {
        double[] s = special(t);
        int[] next = {0};
        Random r = b.random();
        return b.input(t, shape, () -> next[0] < s.length ? s[next[0]++] : t == BOOL ? r.nextInt(2)
                : t.isFloatingPoint() ? r.nextDouble() * 4 - 2 : t.isUnsignedInteger() ? r.nextInt(11) : r.nextInt(11) - 5);
    }

    /** An input with no zero (divisors, the bases of negative powers): -1 first for signed dtypes (INT_MIN / -1), the limits, then random values. */
    private static Value nonZero(OpBatch b, DType t, long... shape) {
        Random r = b.random();
        double[] limits = special(t);
        int[] next = {t.isSignedInteger() ? -1 : 0};
        return b.input(t, shape, () -> {
            double v = next[0] < 0 ? -1 : next[0] < limits.length ? limits[next[0]] : r.nextInt(9) - 4;
            next[0]++;
            return v == 0 ? 3 : t.isUnsignedInteger() && v < 0 ? -v : v;
        });
    }

    @Test
    void floatingPointFunctionsOfEveryFloatDtype() {
        OpBatch b = new OpBatch("float_functions", 1);
        for (DType t : FLOATS) {
            Value x = mixed(b, t, 2, 13);
            for (String op : List.of("Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Erf", "Sin", "Cos", "Tan", "Tanh",
                    "Acos", "Asin", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Sigmoid", "Softplus", "Softsign", "HardSwish", "Mish",
                    "Abs", "Neg", "Sign", "Relu", "LeakyRelu", "Elu", "Celu", "Selu", "ThresholdedRelu", "HardSigmoid", "Shrink", "Gelu", "Swish",
                    "IsNaN", "IsInf")) {
                if (!(op.equals("Shrink") && t == BF16)) b.node(op, List.of(x), Map.of()); // the op spec has no bf16 Shrink
            }
            b.node("Gelu", List.of(x), attrs("approximate", "tanh"));
            b.node("IsInf", List.of(x), attrs("detect_negative", 0L));
            Value value = b.input(t, 2, 13);
            b.node("SwiGLU", List.of(x, value), Map.of());
            b.node("SwiGLU", List.of(value, x), attrs("alpha", 0.6f));
            if (t == F32 || t == F16) {
                b.node("LeakyRelu", List.of(x), attrs("alpha", 0.3f));
                b.node("Elu", List.of(x), attrs("alpha", 0.7f));
                b.node("Celu", List.of(x), attrs("alpha", 2.5f));
                b.node("Selu", List.of(x), attrs("alpha", 1.5f, "gamma", 0.8f));
                b.node("ThresholdedRelu", List.of(x), attrs("alpha", -0.4f));
                b.node("HardSigmoid", List.of(x), attrs("alpha", 0.6f, "beta", 0.1f));
                b.node("Shrink", List.of(x), attrs("lambd", 1.2f, "bias", 0.3f));
                b.node("Swish", List.of(x), attrs("alpha", 1.7f));
                b.node("IsInf", List.of(x), attrs("detect_positive", 0L));
                b.node("IsInf", List.of(x), attrs("detect_positive", 0L, "detect_negative", 0L));
            }
            Value y = b.input(t, 7);
            b.node("FusedElementwise", List.of(b.input(t, 3, 1, 7), y, b.input(t, 3, 1, 1)),
                    Map.of("program", new Attribute.Strs(PROGRAM)));
            b.node("FusedElementwise", List.of(y), Map.of("program", new Attribute.Strs(MATH_PROGRAM)));
        }
        b.assertMatchesAsWritten(dir, 2e-6);
    }

    /** A FusedElementwise program of every binary function and the activations with parameters. */
    private static final List<String> PROGRAM = List.of("Mul(x, $1)", "Add(x, 0.1)", "Clip(x, -1.5, 1.25)", "Sub($2, x)", "LeakyRelu(x, 0.2)",
            "Swish(x, 1.5)", "HardSigmoid(x, 0.3, 0.4)", "Pow(x, $1)", "Max(x, $2)", "Min(x, 2.0)", "PRelu(x, $2)", "Div(x, $1)", "Elu(x, 0.9)",
            "Softplus(x)", "GeluTanh(x)", "Gelu(x)", "Mish(x)", "Softsign(x)", "HardSwish(x)", "Sigmoid(x)", "Tanh(x)", "Round(x)");
    /** The remaining unary functions of the program language. */
    private static final List<String> MATH_PROGRAM = List.of("Abs(x)", "Sqrt(x)", "Log(x)", "Exp(x)", "Neg(x)", "Erf(x)", "Reciprocal(x)",
            "Floor(x)", "Ceil(x)", "Sin(x)", "Cos(x)", "Relu(x)");

    @Test
    void arithmeticOfEveryNumericDtypeWrapsAsTheInterpreter() {
        OpBatch b = new OpBatch("arithmetic", 2);
        for (DType t : NUMERIC) {
            Value x = mixed(b, t, 3, 8);
            Value y = mixed(b, t, 8);
            Value d = nonZero(b, t, 3, 1);
            for (String op : List.of("Add", "Sub", "Mul", "Max", "Min")) b.node(op, List.of(x, y), Map.of());
            b.node("Abs", List.of(x), Map.of());
            b.node("Sign", List.of(x), Map.of());
            b.node("Div", List.of(x, d), Map.of());
            b.node("Mod", List.of(x, d), attrs("fmod", 1L));
            if (List.of(F16, I8, U32, I64, U64).contains(t)) {
                b.node("Max", List.of(x, y, d), Map.of());
                b.node("Min", List.of(d, y, x), Map.of());
                b.node("Max", List.of(d), Map.of());
            }
            if (t.isInteger()) {
                b.node("Mod", List.of(x, d), Map.of());
                b.node("Shrink", List.of(x), attrs("lambd", 1.5f, "bias", 2f));
            } else {
                b.node("Sum", List.of(x, y, d), Map.of());
                b.node("Mean", List.of(y, d), Map.of());
                b.node("Sum", List.of(x), Map.of());
            }
            if (t.isFloatingPoint() || SIGNED.contains(t)) {
                b.node("Neg", List.of(x), Map.of());
                b.node("Relu", List.of(x), Map.of());
            }
            if (t.isFloatingPoint() || List.of(I32, I64, U32, U64).contains(t)) b.node("PRelu", List.of(x, y), Map.of());
            clips(b, t, x);
        }
        b.assertMatchesAsWritten(dir, 2e-6);
    }

    /** Clip with bounds that are constants, run-time values, absent, and a min above the max. */
    private static void clips(OpBatch b, DType t, Value x) {
        Value lo = b.constant(t, new long[] {}, t.isUnsignedInteger() ? 2 : -1);
        b.node("Clip", List.of(x, lo, b.input(t, new long[] {1}, 3)), Map.of());
        b.node("Clip", Arrays.asList(x, null, b.constant(t, new long[] {1}, 5)), Map.of());
        if (t == F32 || t == I32 || t == U64 || t == F16) {
            b.node("Clip", List.of(x), Map.of());
            b.node("Clip", List.of(x, lo), Map.of());
            b.node("Clip", List.of(x, b.constant(t, new long[] {}, 4), b.constant(t, new long[] {}, 1)), Map.of());
        }
    }

    @Test
    void bitsLogicComparisonsAndWhere() {
        OpBatch b = new OpBatch("bits", 4);
        for (DType t : ALL) {
            Value x = mixed(b, t, 2, 3, 4);
            Value y = mixed(b, t, 3, 1);
            b.node("Equal", List.of(x, y), Map.of());
            b.node("Equal", List.of(x, x), Map.of());
            if (t != BOOL) {
                for (String op : List.of("Less", "LessOrEqual", "Greater", "GreaterOrEqual")) b.node(op, List.of(x, y), Map.of());
            }
            if (t.isInteger()) {
                for (String op : List.of("BitwiseAnd", "BitwiseOr", "BitwiseXor")) b.node(op, List.of(x, y), Map.of());
                b.node("BitwiseNot", List.of(x), Map.of());
            }
            Value condition = mixed(b, BOOL, 2, 1, 4);
            b.node("Where", List.of(condition, y, b.input(t, 4)), Map.of());
        }
        for (DType t : UNSIGNED) {
            Value amount = b.input(t, new long[] {12}, 0, 1, 3, 7, 8, 15, 16, 31, 32, 63, 64, 200);
            Value x = b.input(t, new long[] {12}, 1, 255, 3, 1, 1, 5, 1, 1, 7, 1, 1, 9);
            b.node("BitShift", List.of(x, amount), attrs("direction", "LEFT"));
            b.node("BitShift", List.of(mixed(b, t, 3, 1), amount), attrs("direction", "RIGHT"));
        }
        Value p = mixed(b, BOOL, 4, 1);
        Value q = b.input(BOOL, 3);
        for (String op : List.of("And", "Or", "Xor")) b.node(op, List.of(p, q), Map.of());
        b.node("Not", List.of(p), Map.of());
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void castsBetweenEveryPairOfDtypesAndCopies() {
        OpBatch b = new OpBatch("casts", 5);
        for (DType from : ALL) {
            Value x = castInput(b, from);
            for (DType to : ALL) b.node("Cast", List.of(x), attrs("to", (long) CTypes.onnxCode(to)));
            if (from == F32 || from == I64) {
                b.node("CastLike", List.of(x, b.input(F16, 2)), Map.of());
                b.node("CastLike", List.of(x, b.input(U8, 1)), Map.of());
            }
        }
        for (DType[] pair : new DType[][] {{F32, I32}, {I32, U32}, {U32, F32}, {F16, BF16}, {BF16, I16}, {U16, F16}, {F64, I64}, {U64, F64},
                {I8, U8}, {BOOL, U8}}) {
            b.node("BitCast", List.of(castInput(b, pair[0])), attrs("to", (long) CTypes.onnxCode(pair[1])));
        }
        dropouts(b);
        b.assertMatchesAsWritten(dir, 0);
    }

    /** Values for casts: beyond every target's range, halfway cases of f16 and bf16 (one rounding), integer limits. */
    private static Value castInput(OpBatch b, DType t) {
        double[] floats = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, -0.0, 0.0, 0.5, 1.5, 2.5, -2.5, -1.7, 300.7, -129.5,
                65504, 65520, 70000, 1e10, -1e20, 3e38, -3.5e38, 1e-8, 1e-45, TWO_63, 0x1p64, -TWO_63, 1.5 * TWO_63, 4294967296.5, -4294967297.0,
                1.0004882812509095, 1.00390625 + 0x1p-40, 1 + 0x1p-24, 255.5, 256, -0.9};
        double[] values = t.isFloatingPoint() ? floats : special(t);
        return b.input(t, new long[] {values.length}, values);
    }

    /** Dropout as inference (the output the input, the mask all true), its ratio and training mode constants or run-time values. */
    private static void dropouts(OpBatch b) {
        for (DType t : FLOATS) {
            Value x = mixed(b, t, 2, 3, 5);
            b.node("Dropout", List.of(x), Map.of(), 2);
            b.node("Dropout", List.of(x, b.constant(t, new long[] {}, 0.3)), Map.of(), 1);
        }
        Value x = b.input(F32, 7, 3);
        b.node("Dropout", List.of(x, b.input(F32, new long[] {}, 0.4), b.constant(BOOL, new long[] {}, 0)), Map.of(), 2);
        b.node("Dropout", List.of(x, b.constant(F64, new long[] {}, 0), b.constant(BOOL, new long[] {}, 1)), Map.of(), 2);
        b.node("Dropout", List.of(x, b.input(F16, new long[] {1}, 0.5), b.input(BOOL, new long[] {1}, 0)), Map.of(), 2);
    }

    @Test
    void powWithEveryBaseAndExponentDtype() {
        OpBatch b = new OpBatch("pow", 6);
        for (DType base : List.of(F32, F64, F16, BF16, I32, I64)) {
            for (DType exponent : NUMERIC) {
                Value x = base.isFloatingPoint() ? mixed(b, base, 2, 9) : nonZero(b, base, 2, 9);
                Value e = b.input(exponent, new long[] {9}, exponent.isUnsignedInteger() ? new double[] {0, 1, 2, 3, 5, 7, 13, 31, 63}
                        : exponent.isFloatingPoint() ? new double[] {0, 1, 2, -1, 0.5, -2.5, 3, 31, 1.25} : new double[] {0, 1, 2, -1, -2, 3, 13, 31, 63});
                b.node("Pow", List.of(x, e), Map.of());
            }
        }
        b.assertMatchesAsWritten(dir, 2e-6);
    }

    @Test
    void oddShapesBlockedLayoutsAndThePipelinesFusedChains() {
        OpBatch b = new OpBatch("shapes", 11);
        Value scalar = b.input(F32);
        Value six = b.input(F32, 2, 1, 3, 1, 5, 1);
        Value five = b.input(F32, 4, 1, 1, 1, 1);
        Value empty = b.input(F32, 0, 3);
        b.node("Add", List.of(scalar, b.input(F32)), Map.of());
        b.node("Mul", List.of(six, five), Map.of());
        b.node("Where", List.of(b.input(BOOL, 3, 1, 1), six, scalar), Map.of());
        b.node("Sub", List.of(empty, b.input(F32, 1, 3)), Map.of());
        b.node("Cast", List.of(empty), attrs("to", (long) CTypes.onnxCode(I8)));
        b.node("Sigmoid", List.of(b.input(F32, 33, 17)), Map.of());
        // a chain the level-3 pipeline fuses into one FusedElementwise
        Value a = b.node("Add", List.of(b.input(F32, 5, 19), b.input(F32, 19)), Map.of());
        Value m = b.node("Mul", List.of(a, b.constant(F32, new long[] {1}, 0.75)), Map.of());
        b.node("Tanh", List.of(m), Map.of());
        Value h = b.node("Mul", List.of(b.input(F16, 4, 6), b.input(F16, 6)), Map.of());
        b.node("Relu", List.of(h), Map.of());
        for (DType t : List.of(F32, F16, I64)) {
            // Where of values computed in the same run (a LeakyRelu expanded): read as they were written
            Graph g = b.graph();
            Value x = b.input(t, 3, 5);
            Value negative = NativeTesting.node(g, "negative_" + t, "Less", List.of(x, b.constant(t, new long[] {}, 0)), Map.of());
            Value scaled = NativeTesting.node(g, "scaled_" + t, "Mul", List.of(b.constant(t, new long[] {}, 3), x), Map.of());
            b.node("Where", List.of(negative, scaled, x), Map.of());
        }
        blocked(b);
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    /**
     * A convolution's blocked output (NCHW{c}c, channels padded) through elementwise ops taken as plain data: a
     * per-channel constant laid out alike, scalars, a cast to f16 and back, a Clip; then the next convolution.
     */
    private static void blocked(OpBatch b) {
        Random r = new Random(12);
        Graph g = b.graph();
        Value x = b.input(F32, 1, 20, 6, 6);
        Value w = NativeTesting.randomConstant(g, "w", r, 0.3, 20, 20, 3, 3);
        Value conv = NativeTesting.node(g, "conv", "Conv", List.of(x, w), attrs("pads", new long[] {1, 1, 1, 1}));
        Value added = NativeTesting.node(g, "bias", "Add", List.of(conv, NativeTesting.randomConstant(g, "b", r, 1, 20, 1, 1)), Map.of());
        Value scaled = NativeTesting.node(g, "scale", "Mul", List.of(added, b.constant(F32, new long[] {}, 0.5)), Map.of());
        Value clipped = NativeTesting.node(g, "clip", "Clip", List.of(scaled, b.constant(F32, new long[] {}, 0), b.constant(F32, new long[] {}, 6)), Map.of());
        Value half = NativeTesting.node(g, "half", "Cast", List.of(clipped), attrs("to", (long) CTypes.onnxCode(F16)));
        Value back = NativeTesting.node(g, "back", "Cast", List.of(half), attrs("to", (long) CTypes.onnxCode(F32)));
        Value sum = NativeTesting.node(g, "sum", "Sum", List.of(back, clipped, added), Map.of());
        b.node("Conv", List.of(sum, w), attrs("pads", new long[] {1, 1, 1, 1}));
    }

    @Test
    void runTimeShapesAreComputedAtRunTime() {
        Graph g = new Graph("run_time_shapes");
        Value x = g.addInput("x", TensorType.of(F32, 3, 4));
        Value c = g.addInput("c", TensorType.of(I64, 4));
        Value k = g.addInput("k", TensorType.of(BOOL, 1));
        Value one = g.addInput("one", TensorType.of(F32, 1));
        Shape n4 = new Shape(List.of(Dim.symbol("N"), Dim.of(4)));
        // values whose dims the IR leaves symbolic, as a run-time shaped producer would hand them on
        Value y = typed(g, "y", "Relu", List.of(x), Map.of(), TensorType.of(F32, n4));
        Value ci = typed(g, "ci", "Cast", List.of(c), attrs("to", (long) CTypes.onnxCode(F32)), TensorType.of(F32, new Shape(List.of(Dim.symbol("M")))));
        g.addOutput(typed(g, "sum", "Add", List.of(y, ci), Map.of(), TensorType.of(F32, n4)));
        g.addOutput(typed(g, "where", "Where", List.of(k, y, x), Map.of(), TensorType.of(F32, 3, 4)));
        g.addOutput(typed(g, "max", "Max", List.of(y, ci, x), Map.of(), TensorType.of(F32, new Shape(List.of(Dim.symbol("A"), Dim.symbol("B"))))));
        g.addOutput(typed(g, "half", "Cast", List.of(y), attrs("to", (long) CTypes.onnxCode(F16)), TensorType.of(F16, n4)));
        g.addOutput(typed(g, "clip", "Clip", List.of(y, typed(g, "lo", "Neg", List.of(one), Map.of(), TensorType.of(F32, new Shape(List.of(Dim.symbol("S")))))),
                Map.of(), TensorType.of(F32, n4)));
        List<Value> dropout = g.addNode("dropout", "Dropout", List.of(y), Map.of(), List.of("dropout_y", "dropout_mask"),
                List.of(TensorType.of(F32, n4), TensorType.of(BOOL, n4))).outputs();
        dropout.forEach(g::addOutput);
        g.addOutput(typed(g, "fused", "FusedElementwise", List.of(y, ci), Map.of("program", new Attribute.Strs(List.of("Add(x, $1)", "Relu(x)"))),
                TensorType.of(F32, n4)));

        Random r = new Random(13);
        Tensor xs = Tensor.allocate(F32, new long[] {3, 4});
        for (int i = 0; i < 12; i++) xs.setDouble(i, r.nextDouble() * 4 - 2);
        Tensor cs = Tensor.allocate(I64, new long[] {4});
        for (int i = 0; i < 4; i++) cs.setLong(i, i - 2);
        Tensor ks = Tensor.allocate(BOOL, new long[] {1});
        Tensor ones = Tensor.allocate(F32, new long[] {1});
        ones.setDouble(0, 1.25);
        Map<String, Tensor> inputs = new LinkedHashMap<>(Map.of("x", xs, "c", cs, "k", ks));
        inputs.put("one", ones);
        List<Tensor> want = new ArrayList<>(new Interpreter(g).run(inputs).values());
        PassContext ctx = NativeTesting.context();
        Graph planned = new PlanMemory().apply(g, ctx);
        NativeTesting.Compiled compiled = NativeTesting.compile(planned, ctx.result(MemoryPlan.class), dir);
        for (int threads : new int[] {1, 2}) {
            try (NativeModel m = compiled.load(threads)) {
                List<Tensor> got = m.run(List.of(xs, cs, ks, ones));
                for (int i = 0; i < want.size(); i++) assertNull(OpBatch.compare(want.get(i), got.get(i), 1e-6), "output " + i);
            }
        }
    }

    private static Value typed(Graph g, String name, String op, List<Value> inputs, Map<String, Attribute> attributes, TensorType type) {
        return g.addNode(name, op, inputs, attributes, List.of(name + "_y"), List.of(type)).output(0);
    }

    /**
     * One library whose run fails where its inputs say: integer division by zero (Div, Mod), Dropout in training
     * mode with a ratio, and, once those pass, run-time dims that do not broadcast (the last node).
     */
    @Test
    void runsFailClearlyOnWhatTheirInputsSay() {
        Graph g = new Graph("failing");
        Value a = g.addInput("a", TensorType.of(I32, 3));
        Value divisor = g.addInput("divisor", TensorType.of(I32, 3));
        Value modulus = g.addInput("modulus", TensorType.of(I64, 2));
        Value ratio = g.addInput("ratio", TensorType.of(F32));
        Value training = g.addInput("training", TensorType.of(BOOL));
        Value w = g.addInput("w", TensorType.of(F32, 4));
        g.addOutput(NativeTesting.node(g, "div", "Div", List.of(a, divisor), Map.of()));
        g.addOutput(NativeTesting.node(g, "mod", "Mod", List.of(modulus, modulus), Map.of()));
        g.addOutput(NativeTesting.node(g, "dropout", "Dropout", List.of(w, ratio, training), Map.of()));
        Value n = typed(g, "n", "Cast", List.of(a), attrs("to", (long) CTypes.onnxCode(F32)), TensorType.of(F32, new Shape(List.of(Dim.symbol("N")))));
        g.addOutput(typed(g, "sum", "Add", List.of(n, w), Map.of(), TensorType.of(F32, 4)));
        PassContext ctx = NativeTesting.context();
        Graph planned = new PlanMemory().apply(g, ctx);
        try (NativeModel m = NativeTesting.compile(planned, ctx.result(MemoryPlan.class), dir).load(1)) {
            Tensor ints = Tensor.allocate(I32, new long[] {3});
            Tensor nonZero = Tensor.allocate(I32, new long[] {3});
            for (int i = 0; i < 3; i++) nonZero.setLong(i, i + 1);
            Tensor longs = Tensor.allocate(I64, new long[] {2});
            Tensor half = Tensor.allocate(F32, new long[] {});
            half.setDouble(0, 0.5);
            Tensor on = Tensor.allocate(BOOL, new long[] {});
            on.setLong(0, 1);
            Tensor off = Tensor.allocate(BOOL, new long[] {});
            Tensor four = Tensor.allocate(F32, new long[] {4});
            Tensor nonZeroLongs = Tensor.allocate(I64, new long[] {2});
            nonZeroLongs.setLong(0, -3);
            nonZeroLongs.setLong(1, Long.MIN_VALUE);
            assertFails(m, "Div node div: integer division by zero", ints, ints, nonZeroLongs, half, off, four);
            assertFails(m, "Mod node mod: integer division by zero", ints, nonZero, longs, half, off, four);
            assertFails(m, "Dropout node dropout: training mode with a ratio other than 0 draws random masks", ints, nonZero, nonZeroLongs, half, on, four);
            assertFails(m, "Add node sum: dims 3 and 4 do not broadcast", ints, nonZero, nonZeroLongs, half, off, four);
        }
    }

    private static void assertFails(NativeModel m, String why, Tensor... inputs) {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.run(List.of(inputs)));
        assertTrue(e.getMessage().endsWith(why), e.getMessage());
    }

    @Test
    void refusesRandomDropoutMixedLayoutsAndDtypesTheSpecForbids() {
        OpBatch dropout = new OpBatch("refused_dropout", 14);
        dropout.node("Dropout", List.of(dropout.input(F32, 4), dropout.constant(F32, new long[] {}, 0.5), dropout.constant(BOOL, new long[] {}, 1)),
                Map.of(), 2);
        dropout.assertRefused(dir, "Dropout (training mode with a ratio other than 0) at node dropout_0");

        OpBatch layouts = new OpBatch("refused_layouts", 15);
        Value blocked = layouts.graph().addInput("blocked", new TensorType(F32, Shape.of(1, 2, 3, 3, 16), Layout.of("NCHW16c")));
        layouts.node("Add", List.of(blocked, layouts.input(F32, 3, 16)), Map.of());
        layouts.assertRefused(dir, "Add (layouts NCHW16c and plain) at node add_0");

        // as read from IR text, whose types no inference checked: the op spec's objection
        Graph typedAsWritten = new Graph("u8_relu");
        Value bytes = typedAsWritten.addInput("bytes", TensorType.of(U8, 2));
        typedAsWritten.addOutput(typed(typedAsWritten, "relu", "Relu", List.of(bytes), Map.of(), TensorType.of(U8, 2)));
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, () -> CCodeGenerator.checkSupported(typedAsWritten));
        assertEquals("OperatorNotImplemented: backend c has no kernel for Relu (input 0 has dtype u8; allowed are "
                + "f32, f16, bf16, f64, i8, i16, i32, i64) at node relu", e.getMessage());
    }
}
