package dev.kiln.ir.ops;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

import static dev.kiln.ir.Attribute.Kind.FLOAT;
import static dev.kiln.ir.Attribute.Kind.INT;
import static dev.kiln.ir.Attribute.Kind.STRING;
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

/**
 * Elementwise ops: unary math and activations, numpy-broadcasting binary arithmetic, comparisons,
 * logic and bitwise ops, variadic Max/Min/Sum/Mean, Where, Clip, Cast/CastLike/BitCast, SwiGLU,
 * Identity and Dropout.
 * Each op accepts exactly the dtypes its newest ONNX version allows (among the IR's dtypes).
 */
final class ElementwiseOps {
    private static final Set<DType> FLOATS = EnumSet.of(F16, F32, F64, BF16);
    private static final Set<DType> SIGNED = EnumSet.of(I8, I16, I32, I64);
    private static final Set<DType> UNSIGNED = EnumSet.of(U8, U16, U32, U64);
    private static final Set<DType> INTEGERS = union(SIGNED, UNSIGNED);
    private static final Set<DType> NUMERIC = union(FLOATS, INTEGERS);
    private static final Set<DType> ALL = EnumSet.allOf(DType.class);
    private static final Set<DType> BOOLS = EnumSet.of(BOOL);

    /** SELU's defaults: the float32 approximations ONNX specifies. */
    private static final float SELU_ALPHA = 1.67326319217681884765625f;
    private static final float SELU_GAMMA = 1.05070102214813232421875f;


    private ElementwiseOps() {}

    static List<OpSpec> specs() {
        List<OpSpec> s = new ArrayList<>();
        for (String op : List.of("Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Erf", "Sin", "Cos", "Tan",
                "Tanh", "Sigmoid", "Softplus", "Softsign", "HardSwish", "Mish", "Acos", "Asin", "Atan", "Sinh", "Cosh",
                "Asinh", "Acosh", "Atanh")) {
            s.add(unary(op, FLOATS).build());
        }
        s.add(unary("Abs", NUMERIC).build());
        s.add(unary("Sign", NUMERIC).build());
        s.add(unary("Neg", union(FLOATS, SIGNED)).build());
        s.add(unary("Relu", union(FLOATS, SIGNED)).build());
        s.add(unary("Not", BOOLS).build());
        s.add(unary("BitwiseNot", INTEGERS).build());
        s.add(unary("Identity", ALL).build());
        s.add(unary("LeakyRelu", FLOATS).attr("alpha", FLOAT, Attribute.of(0.01f)).build());
        s.add(unary("Elu", FLOATS).attr("alpha", FLOAT, Attribute.of(1.0f)).build());
        s.add(unary("Celu", FLOATS).attr("alpha", FLOAT, Attribute.of(1.0f)).build());
        s.add(unary("ThresholdedRelu", FLOATS).attr("alpha", FLOAT, Attribute.of(1.0f)).build());
        s.add(unary("Swish", FLOATS).attr("alpha", FLOAT, Attribute.of(1.0f)).build());
        s.add(unary("Selu", FLOATS).attr("alpha", FLOAT, Attribute.of(SELU_ALPHA)).attr("gamma", FLOAT, Attribute.of(SELU_GAMMA)).build());
        s.add(unary("HardSigmoid", FLOATS).attr("alpha", FLOAT, Attribute.of(0.2f)).attr("beta", FLOAT, Attribute.of(0.5f)).build());
        s.add(unary("Shrink", union(EnumSet.of(F16, F32, F64), INTEGERS))
                .attr("bias", FLOAT, Attribute.of(0.0f)).attr("lambd", FLOAT, Attribute.of(0.5f)).build());
        s.add(OpSpec.builder("Gelu").attr("approximate", STRING, Attribute.of("none")).infer(ctx -> {
            String mode = ctx.stringAttr("approximate");
            if (!mode.equals("none") && !mode.equals("tanh")) throw ctx.fail("approximate must be 'none' or 'tanh', got '" + mode + "'");
            checkDType(ctx, 0, FLOATS);
            return List.of(ctx.input(0));
        }).build());
        s.add(OpSpec.builder("SwiGLU").inputs(2).attr("alpha", FLOAT, Attribute.of(1.0f)).infer(ctx -> {
            checkDType(ctx, 0, FLOATS);
            checkSameDType(ctx, 0, 1);
            Shape a = ctx.shape(0);
            Shape b = ctx.shape(1);
            if (a.rank() != b.rank()) throw ctx.fail("gate shape " + a + " and value shape " + b + " must be equal (SwiGLU does not broadcast)");
            for (int d = 0; d < a.rank(); d++) {
                if (a.dim(d).isStatic() && b.dim(d).isStatic() && a.dim(d).size() != b.dim(d).size()) {
                    throw ctx.fail("gate shape " + a + " and value shape " + b + " must be equal (SwiGLU does not broadcast)");
                }
            }
            return List.of(ctx.input(0));
        }).build());
        s.add(predicate("IsNaN").build());
        s.add(predicate("IsInf").attr("detect_negative", INT, Attribute.of(1L)).attr("detect_positive", INT, Attribute.of(1L)).build());

        for (String op : List.of("Add", "Sub", "Mul", "Div")) s.add(binary(op, NUMERIC, null).build());
        for (String op : List.of("BitwiseAnd", "BitwiseOr", "BitwiseXor")) s.add(binary(op, INTEGERS, null).build());
        for (String op : List.of("And", "Or", "Xor")) s.add(binary(op, BOOLS, BOOL).build());
        for (String op : List.of("Less", "LessOrEqual", "Greater", "GreaterOrEqual")) s.add(binary(op, NUMERIC, BOOL).build());
        s.add(binary("Equal", ALL, BOOL).build());
        s.add(OpSpec.builder("BitShift").inputs(2).requiredAttr("direction", STRING).infer(ctx -> {
            String direction = ctx.stringAttr("direction");
            if (!direction.equals("LEFT") && !direction.equals("RIGHT")) {
                throw ctx.fail("direction must be 'LEFT' or 'RIGHT', got '" + direction + "'");
            }
            return sameDTypeBroadcast(ctx, UNSIGNED, null);
        }).build());
        s.add(OpSpec.builder("Mod").inputs(2).attr("fmod", INT, Attribute.of(0L)).infer(ctx -> {
            long fmod = ctx.intAttr("fmod");
            if (fmod != 0 && fmod != 1) throw ctx.fail("fmod must be 0 or 1, got " + fmod);
            if (fmod == 0 && ctx.dtype(0).isFloatingPoint()) {
                throw ctx.fail("fmod=0 (integer modulus) is only defined for integer dtypes, got " + ctx.dtype(0) + "; use fmod=1");
            }
            return sameDTypeBroadcast(ctx, NUMERIC, null);
        }).build());
        s.add(OpSpec.builder("Pow").inputs(2).infer(ctx -> {
            checkDType(ctx, 0, union(FLOATS, EnumSet.of(I32, I64)));
            checkDType(ctx, 1, NUMERIC);
            return broadcastResult(ctx, ctx.dtype(0), 0, 1);
        }).build());
        s.add(OpSpec.builder("PRelu").inputs(2).infer(ElementwiseOps::inferPRelu).build());
        for (String op : List.of("Max", "Min")) s.add(variadic(op, NUMERIC));
        for (String op : List.of("Sum", "Mean")) s.add(variadic(op, FLOATS));

        s.add(OpSpec.builder("Where").inputs(3).infer(ctx -> {
            checkDType(ctx, 0, BOOLS);
            checkDType(ctx, 1, ALL);
            checkSameDType(ctx, 1, 2);
            return broadcastResult(ctx, ctx.dtype(1), 0, 1, 2);
        }).build());
        s.add(OpSpec.builder("Clip").inputs(1, 3).infer(ctx -> {
            checkDType(ctx, 0, NUMERIC);
            for (int i = 1; i <= 2; i++) {
                if (!ctx.hasInput(i)) continue;
                checkSameDType(ctx, 0, i);
                checkSingleElement(ctx, i, i == 1 ? "min" : "max");
            }
            return List.of(ctx.input(0));
        }).build());
        s.add(OpSpec.builder("Cast").requiredAttr("to", INT).attr("saturate", INT, Attribute.of(1L))
                .attr("round_mode", STRING, Attribute.of("up")).infer(ctx -> {
                    checkDType(ctx, 0, ALL);
                    return List.of(ctx.input(0).withDType(OnnxDataTypes.require(ctx, "to", ctx.intAttr("to"))));
                }).build());
        s.add(OpSpec.builder("BitCast").requiredAttr("to", INT).infer(ctx -> {
            checkDType(ctx, 0, ALL);
            DType to = OnnxDataTypes.require(ctx, "to", ctx.intAttr("to"));
            if (to.byteSize() != ctx.dtype(0).byteSize()) {
                throw ctx.fail("cannot reinterpret " + ctx.dtype(0) + " as " + to + ": their bit widths differ");
            }
            return List.of(ctx.input(0).withDType(to));
        }).build());
        s.add(OpSpec.builder("CastLike").inputs(2).attr("saturate", INT, Attribute.of(1L))
                .attr("round_mode", STRING, Attribute.of("up")).infer(ctx -> {
                    checkDType(ctx, 0, ALL);
                    return List.of(ctx.input(0).withDType(ctx.dtype(1)));
                }).build());
        s.add(OpSpec.builder("Dropout").inputs(1, 3).outputs(1, 2).attr("seed", INT, null).infer(ctx -> {
            checkDType(ctx, 0, FLOATS);
            if (ctx.hasInput(1)) {
                checkDType(ctx, 1, FLOATS);
                checkSingleElement(ctx, 1, "ratio");
            }
            if (ctx.hasInput(2)) {
                checkDType(ctx, 2, BOOLS);
                checkSingleElement(ctx, 2, "training_mode");
            }
            TensorType x = ctx.input(0);
            return ctx.outputCount() == 1 ? List.of(x) : List.of(x, x.withDType(BOOL));
        }).build());
        return s;
    }


    private static OpSpec.Builder unary(String op, Set<DType> allowed) {
        return OpSpec.builder(op).infer(ctx -> {
            checkDType(ctx, 0, allowed);
            return List.of(ctx.input(0));
        });
    }

    /** A float-to-bool test such as IsNaN. */
    private static OpSpec.Builder predicate(String op) {
        return OpSpec.builder(op).infer(ctx -> {
            checkDType(ctx, 0, FLOATS);
            return List.of(ctx.input(0).withDType(BOOL));
        });
    }

    /** Two inputs of one dtype broadcast together; the result has that dtype, or {@code result} when given. */
    private static OpSpec.Builder binary(String op, Set<DType> allowed, DType result) {
        return OpSpec.builder(op).inputs(2).infer(ctx -> sameDTypeBroadcast(ctx, allowed, result));
    }

    private static OpSpec variadic(String op, Set<DType> allowed) {
        return OpSpec.builder(op).inputs(1, OpSpec.VARIADIC).infer(ctx -> {
            int[] all = new int[ctx.inputCount()];
            for (int i = 0; i < all.length; i++) {
                all[i] = i;
                checkDType(ctx, i, allowed);
                checkSameDType(ctx, 0, i);
            }
            return broadcastResult(ctx, ctx.dtype(0), all);
        }).build();
    }

    private static List<TensorType> sameDTypeBroadcast(InferenceContext ctx, Set<DType> allowed, DType result) {
        checkDType(ctx, 0, allowed);
        checkSameDType(ctx, 0, 1);
        return broadcastResult(ctx, result == null ? ctx.dtype(0) : result, 0, 1);
    }

    /** PRelu broadcasts the slope to the shape of X (unidirectionally); the result has X's type. */
    private static List<TensorType> inferPRelu(InferenceContext ctx) {
        checkDType(ctx, 0, union(FLOATS, EnumSet.of(I32, I64, U32, U64)));
        checkSameDType(ctx, 0, 1);
        Shape x = ctx.shape(0);
        Shape slope = ctx.shape(1);
        if (slope.rank() > x.rank()) throw ctx.fail("slope shape " + slope + " has a higher rank than X shape " + x);
        for (int d = 0; d < slope.rank(); d++) {
            Dim sd = slope.dim(d);
            Dim xd = x.dim(d + x.rank() - slope.rank());
            boolean fits = (sd.isStatic() && sd.size() == 1) || sd.equals(xd) || !sd.isStatic() || !xd.isStatic();
            if (!fits) throw ctx.fail("slope shape " + slope + " cannot be broadcast to X shape " + x);
        }
        return List.of(ctx.input(0));
    }

    /** The broadcast type, keeping the layout of an input of the result's rank when those inputs agree on one. */
    private static List<TensorType> broadcastResult(InferenceContext ctx, DType dtype, int... inputs) {
        Shape shape = ctx.broadcastShapes(inputs);
        Layout layout = null;
        for (int i : inputs) {
            TensorType t = ctx.input(i);
            if (t.rank() != shape.rank()) continue;
            if (layout == null) layout = t.layout();
            else if (!layout.equals(t.layout())) layout = Layout.ANY;
        }
        return List.of(new TensorType(dtype, shape, layout == null ? Layout.ANY : layout));
    }

    private static void checkDType(InferenceContext ctx, int input, Set<DType> allowed) {
        DType t = ctx.dtype(input);
        if (!allowed.contains(t)) throw ctx.fail("input " + input + " has dtype " + t + "; allowed are " + names(allowed));
    }

    private static void checkSameDType(InferenceContext ctx, int first, int other) {
        if (ctx.dtype(first) != ctx.dtype(other)) {
            throw ctx.fail("input " + other + " has dtype " + ctx.dtype(other) + " but input " + first + " has " + ctx.dtype(first) + "; they must match");
        }
    }

    private static void checkSingleElement(InferenceContext ctx, int input, String what) {
        Shape s = ctx.shape(input);
        for (Dim d : s.dims()) {
            if (d.isStatic() && d.size() != 1) throw ctx.fail(what + " (input " + input + ") must be a scalar, got shape " + s);
        }
    }

    private static String names(Set<DType> types) {
        List<String> n = new ArrayList<>();
        for (DType t : types) n.add(t.irName());
        return String.join(", ", n);
    }

    @SafeVarargs
    private static Set<DType> union(Set<DType>... sets) {
        Set<DType> u = EnumSet.noneOf(DType.class);
        for (Set<DType> s : sets) u.addAll(s);
        return Collections.unmodifiableSet(u);
    }
}
