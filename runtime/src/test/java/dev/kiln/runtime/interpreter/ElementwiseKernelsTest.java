package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.IrException;
import dev.kiln.runtime.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.kiln.ir.DType.BF16;
import static dev.kiln.ir.DType.BOOL;
import static dev.kiln.ir.DType.F16;
import static dev.kiln.ir.DType.F64;
import static dev.kiln.ir.DType.I16;
import static dev.kiln.ir.DType.I32;
import static dev.kiln.ir.DType.I64;
import static dev.kiln.ir.DType.I8;
import static dev.kiln.ir.DType.U16;
import static dev.kiln.ir.DType.U32;
import static dev.kiln.ir.DType.U64;
import static dev.kiln.ir.DType.U8;
import static dev.kiln.runtime.interpreter.OneNodeGraphs.f32;
import static dev.kiln.runtime.interpreter.OneNodeGraphs.floats;
import static dev.kiln.runtime.interpreter.OneNodeGraphs.ints;
import static dev.kiln.runtime.interpreter.OneNodeGraphs.run;
import static dev.kiln.runtime.interpreter.OneNodeGraphs.run1;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ElementwiseKernelsTest {
    private static final double NAN = Double.NaN;
    private static final double INF = Double.POSITIVE_INFINITY;

    // ---- arithmetic and broadcasting

    @Test
    void addSameShapeAndBroadcast() {
        assertValues(run1("Add", Map.of(), f32(new long[]{3}, 1, 2, 3), f32(new long[]{3}, 10, 20, 30)), 11, 22, 33);
        Tensor r = run1("Add", Map.of(), f32(new long[]{2, 3}, 1, 2, 3, 4, 5, 6), f32(new long[]{3}, 10, 20, 30));
        assertArrayEquals(new long[]{2, 3}, r.shape());
        assertValues(r, 11, 22, 33, 14, 25, 36);
        Tensor outer = run1("Add", Map.of(), f32(new long[]{2, 1}, 1, 2), f32(new long[]{1, 3}, 10, 20, 30));
        assertArrayEquals(new long[]{2, 3}, outer.shape());
        assertValues(outer, 11, 21, 31, 12, 22, 32);
        Tensor scalar = run1("Add", Map.of(), f64(new long[]{}, 0.5), f64(new long[]{2, 2}, 1, 2, 3, 4));
        assertValues(scalar, 1.5, 2.5, 3.5, 4.5);
    }

    @Test
    void integerArithmeticWrapsAtTheDtypeWidth() {
        assertLongs(run1("Add", Map.of(), ints(I8, new long[]{2}, 100, -128), ints(I8, new long[]{2}, 100, -1)), -56, 127);
        assertLongs(run1("Add", Map.of(), ints(U8, new long[]{1}, 200), ints(U8, new long[]{1}, 100)), 44);
        assertLongs(run1("Sub", Map.of(), ints(U8, new long[]{1}, 1), ints(U8, new long[]{1}, 2)), 255);
        assertLongs(run1("Sub", Map.of(), ints(U16, new long[]{1}, 0), ints(U16, new long[]{1}, 1)), 65535);
        assertLongs(run1("Mul", Map.of(), ints(I32, new long[]{1}, 65536), ints(I32, new long[]{1}, 65536)), 0);
        assertLongs(run1("Add", Map.of(), ints(U64, new long[]{1}, -1L), ints(U64, new long[]{1}, 1)), 0);
        assertLongs(run1("Mul", Map.of(), ints(U32, new long[]{1}, 0xFFFFFFFFL), ints(U32, new long[]{1}, 2)), 0xFFFFFFFEL);
    }

    @Test
    void divisionTruncatesForIntegersAndIsUnsignedForU64() {
        assertLongs(run1("Div", Map.of(), ints(I32, new long[]{4}, -7, 7, 7, -7), ints(I32, new long[]{4}, 2, -2, 2, -2)), -3, -3, 3, 3);
        assertLongs(run1("Div", Map.of(), ints(U64, new long[]{1}, -2L), ints(U64, new long[]{1}, 2)), Long.MAX_VALUE);
        assertLongs(run1("Div", Map.of(), ints(U8, new long[]{1}, 250), ints(U8, new long[]{1}, 7)), 35);
        assertValues(run1("Div", Map.of(), f32(new long[]{3}, 1, -1, 0), f32(new long[]{3}, 0, 0, 0)), INF, -INF, NAN);
        InterpreterException e = assertThrows(InterpreterException.class,
                () -> run1("Div", Map.of(), ints(I64, new long[]{1}, 1), ints(I64, new long[]{1}, 0)));
        assertTrue(e.getMessage().contains("division by zero"), e.getMessage());
    }

    @Test
    void modFollowsPythonForIntegersAndFmodWhenAsked() {
        Tensor a = ints(I32, new long[]{4}, -7, 7, -7, 7);
        Tensor b = ints(I32, new long[]{4}, 3, -3, -3, 3);
        assertLongs(run1("Mod", Map.of(), a, b), 2, -2, -1, 1);
        assertLongs(run1("Mod", Map.of("fmod", Attribute.of(1L)), a, b), -1, 1, -1, 1);
        assertLongs(run1("Mod", Map.of(), ints(U64, new long[]{1}, -1L), ints(U64, new long[]{1}, 10)), 5);
        assertValues(run1("Mod", Map.of("fmod", Attribute.of(1L)), f64(new long[]{3}, -5, 5, 5.5), f64(new long[]{3}, 3, -3, 2)), -2, 2, 1.5);
        assertValues(run1("Mod", Map.of("fmod", Attribute.of(1L)), floats(F16, new long[]{2}, -4.5, 7), floats(F16, new long[]{2}, 2, -3)), -0.5, 1);
        assertThrows(IrException.class, () -> run1("Mod", Map.of(), f32(new long[]{1}, 1), f32(new long[]{1}, 2)));
    }

    @Test
    void powAcceptsMixedBaseAndExponentDtypes() {
        assertValues(run1("Pow", Map.of(), f32(new long[]{3}, 2, 4, -2), f32(new long[]{3}, 3, 0.5f, 2)), 8, 2, 4);
        assertValues(run1("Pow", Map.of(), f32(new long[]{2}, 2, 3), ints(I64, new long[]{2}, 3, -1)), 8, (float) (1.0 / 3));
        assertLongs(run1("Pow", Map.of(), ints(I32, new long[]{2}, 2, 9), f32(new long[]{2}, 0.5f, 0.5f)), 1, 3);
        assertLongs(run1("Pow", Map.of(), ints(I64, new long[]{1}, 3), ints(I64, new long[]{1}, 40)), -6289078614652622815L);
        assertLongs(run1("Pow", Map.of(), ints(I32, new long[]{4}, 2, 1, -1, -1), ints(I32, new long[]{4}, -1, -5, -3, -2)), 0, 1, -1, 1);
        assertLongs(run1("Pow", Map.of(), ints(I32, new long[]{1}, 3), ints(U8, new long[]{1}, 4)), 81);
    }

    @Test
    void variadicMaxMinSumMean() {
        Tensor a = f32(new long[]{3}, 1, NAN, 5);
        Tensor b = f32(new long[]{1}, 3);
        Tensor c = f32(new long[]{2, 1}, 0, 4);
        Tensor max = run1("Max", Map.of(), a, b, c);
        assertArrayEquals(new long[]{2, 3}, max.shape());
        assertValues(max, 3, NAN, 5, 4, NAN, 5);
        assertValues(run1("Min", Map.of(), a, b, c), 0, NAN, 0, 1, NAN, 3);
        assertValues(run1("Max", Map.of(), f32(new long[]{2}, 1, 2)), 1, 2);
        assertLongs(run1("Max", Map.of(), ints(U64, new long[]{2}, -1L, 1), ints(U64, new long[]{2}, 5, 0)), -1L, 1);
        assertLongs(run1("Min", Map.of(), ints(I8, new long[]{2}, -128, 1), ints(I8, new long[]{2}, 5, 0)), -128, 0);
        assertValues(run1("Sum", Map.of(), f64(new long[]{2}, 1, 2), f64(new long[]{2}, 10, 20), f64(new long[]{1}, 100)), 111, 122);
        assertValues(run1("Mean", Map.of(), f32(new long[]{2}, 1, 2), f32(new long[]{2}, 2, 4), f32(new long[]{2}, 3, 9)), 2, 5);
    }

    // ---- comparisons and logic

    @Test
    void comparisonsGiveBoolAndHandleNaNAndUnsigned() {
        Tensor a = f32(new long[]{4}, 1, 2, NAN, 3);
        Tensor b = f32(new long[]{1}, 2);
        assertBools(run1("Less", Map.of(), a, b), true, false, false, false);
        assertBools(run1("LessOrEqual", Map.of(), a, b), true, true, false, false);
        assertBools(run1("Greater", Map.of(), a, b), false, false, false, true);
        assertBools(run1("GreaterOrEqual", Map.of(), a, b), false, true, false, true);
        assertBools(run1("Equal", Map.of(), a, b), false, true, false, false);
        assertBools(run1("Less", Map.of(), ints(U64, new long[]{2}, -1L, 1), ints(U64, new long[]{2}, 1, -1L)), false, true);
        assertBools(run1("Greater", Map.of(), ints(U32, new long[]{1}, 0xFFFFFFFFL), ints(U32, new long[]{1}, 1)), true);
        assertBools(run1("Equal", Map.of(), bools(true, false), bools(true, true)), true, false);
        assertBools(run1("Equal", Map.of(), ints(I64, new long[]{2}, 7, 8), ints(I64, new long[]{}, 8)), false, true);
    }

    @Test
    void logicalAndBitwiseOps() {
        Tensor p = bools(true, true, false, false);
        Tensor q = bools(true, false, true, false);
        assertBools(run1("And", Map.of(), p, q), true, false, false, false);
        assertBools(run1("Or", Map.of(), p, q), true, true, true, false);
        assertBools(run1("Xor", Map.of(), p, q), false, true, true, false);
        assertBools(run1("Not", Map.of(), p), false, false, true, true);
        assertBools(run1("And", Map.of(), bools(true, false), bools(true)), true, false);
        assertLongs(run1("BitwiseAnd", Map.of(), ints(I8, new long[]{2}, -1, 12), ints(I8, new long[]{2}, 5, 10)), 5, 8);
        assertLongs(run1("BitwiseOr", Map.of(), ints(U16, new long[]{1}, 0xF000), ints(U16, new long[]{1}, 0x000F)), 0xF00F);
        assertLongs(run1("BitwiseXor", Map.of(), ints(I32, new long[]{1}, 6), ints(I32, new long[]{1}, 3)), 5);
        assertLongs(run1("BitwiseNot", Map.of(), ints(U8, new long[]{2}, 5, 0)), 250, 255);
        assertLongs(run1("BitwiseNot", Map.of(), ints(I16, new long[]{1}, 0)), -1);
    }

    @Test
    void bitShiftDropsBitsBeyondTheWidth() {
        Map<String, Attribute> left = Map.of("direction", Attribute.of("LEFT"));
        Map<String, Attribute> right = Map.of("direction", Attribute.of("RIGHT"));
        assertLongs(run1("BitShift", left, ints(U8, new long[]{3}, 1, 0x81, 1), ints(U8, new long[]{3}, 3, 1, 8)), 8, 2, 0);
        assertLongs(run1("BitShift", right, ints(U8, new long[]{2}, 0x80, 0xFF), ints(U8, new long[]{1}, 7)), 1, 1);
        assertLongs(run1("BitShift", right, ints(U64, new long[]{2}, -1L, -1L), ints(U64, new long[]{2}, 63, 64)), 1, 0);
        assertLongs(run1("BitShift", left, ints(U64, new long[]{1}, 1), ints(U64, new long[]{1}, 63)), Long.MIN_VALUE);
    }

    @Test
    void whereSelectsWholeElementsWithBroadcasting() {
        Tensor cond = bools(true, false);
        Tensor x = ints(U64, new long[]{2, 1}, -1L, 7);
        Tensor y = ints(U64, new long[]{}, 3);
        Tensor r = run1("Where", Map.of(), cond, x, y);
        assertArrayEquals(new long[]{2, 2}, r.shape());
        assertLongs(r, -1L, 3, 7, 3);
        assertValues(run1("Where", Map.of(), bools(false, true), f16(new long[]{2}, 1.5, 2.5), f16(new long[]{2}, -1, -2)), -1, 2.5);
    }

    // ---- unary math

    @Test
    void roundingAndSimpleUnaryOps() {
        assertValues(run1("Round", Map.of(), f32(new long[]{6}, 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f)), 0, 2, 2, -0.0, -2, 2);
        assertValues(run1("Floor", Map.of(), f64(new long[]{3}, -1.5, 1.5, 2)), -2, 1, 2);
        assertValues(run1("Ceil", Map.of(), f64(new long[]{3}, -1.5, 1.5, 2)), -1, 2, 2);
        assertValues(run1("Exp", Map.of(), f64(new long[]{2}, 0, 1)), 1, Math.E);
        assertValues(run1("Log", Map.of(), f32(new long[]{3}, 1, 0, -1)), 0, -INF, NAN);
        assertValues(run1("Sqrt", Map.of(), f16(new long[]{2}, 4, 2.25)), 2, 1.5);
        assertValues(run1("Reciprocal", Map.of(), bf16(new long[]{2}, 4, -0.5)), 0.25, -2);
        assertValues(run1("Abs", Map.of(), f32(new long[]{2}, -3, 3)), 3, 3);
        assertLongs(run1("Abs", Map.of(), ints(I8, new long[]{2}, -128, -5)), -128, 5);
        assertLongs(run1("Abs", Map.of(), ints(U64, new long[]{1}, -1L)), -1L);
        assertLongs(run1("Neg", Map.of(), ints(I8, new long[]{2}, -128, 5)), -128, -5);
        assertValues(run1("Neg", Map.of(), f64(new long[]{1}, 2)), -2);
        assertValues(run1("Sign", Map.of(), f32(new long[]{4}, -2, 0, 3, NAN)), -1, 0, 1, NAN);
        assertLongs(run1("Sign", Map.of(), ints(I32, new long[]{3}, -9, 0, 9)), -1, 0, 1);
        assertLongs(run1("Sign", Map.of(), ints(U64, new long[]{2}, -1L, 0)), 1, 0);
    }

    @Test
    void transcendentalFunctions() {
        assertClose(run1("Erf", Map.of(), f64(new long[]{5}, 0.5, 1, -2, 3.5, 0)),
                0.5204998778130465, 0.8427007929497149, -0.9953222650189527, 0.9999992569016276, 0);
        assertClose(run1("Sin", Map.of(), f64(new long[]{1}, 0.5)), 0.479425538604203);
        assertClose(run1("Cos", Map.of(), f64(new long[]{1}, 0.5)), 0.8775825618903728);
        assertClose(run1("Tan", Map.of(), f64(new long[]{1}, 0.5)), 0.5463024898437905);
        assertClose(run1("Asin", Map.of(), f64(new long[]{1}, 0.5)), 0.5235987755982989);
        assertClose(run1("Acos", Map.of(), f64(new long[]{1}, 0.5)), 1.0471975511965976);
        assertClose(run1("Atan", Map.of(), f64(new long[]{1}, 2)), 1.1071487177940904);
        assertClose(run1("Sinh", Map.of(), f64(new long[]{1}, 1)), 1.1752011936438014);
        assertClose(run1("Cosh", Map.of(), f64(new long[]{1}, 1)), 1.5430806348152437);
        assertClose(run1("Tanh", Map.of(), f64(new long[]{1}, 0.5)), 0.46211715726000974);
        assertClose(run1("Asinh", Map.of(), f64(new long[]{3}, -2, 0.5, 1e-10)), -1.4436354751788103, 0.48121182505960347, 1e-10);
        assertClose(run1("Acosh", Map.of(), f64(new long[]{3}, 1, 2, 10)), 0, 1.3169578969248168, 2.993222846126381);
        assertClose(run1("Atanh", Map.of(), f64(new long[]{3}, -0.5, 0, 0.9)), -0.5493061443340549, 0, 1.4722194895832204);
    }

    @Test
    void isNaNAndIsInf() {
        Tensor x = f32(new long[]{4}, 1, NAN, INF, -INF);
        assertBools(run1("IsNaN", Map.of(), x), false, true, false, false);
        assertBools(run1("IsInf", Map.of(), x), false, false, true, true);
        assertBools(run1("IsInf", Map.of("detect_negative", Attribute.of(0L)), x), false, false, true, false);
        assertBools(run1("IsInf", Map.of("detect_positive", Attribute.of(0L)), x), false, false, false, true);
    }

    // ---- activations

    @Test
    void activationsWithDefaultAttributes() {
        Tensor x = f64(new long[]{4}, -2, -0.5, 0, 1.5);
        assertValues(run1("Relu", Map.of(), x), 0, 0, 0, 1.5);
        assertLongs(run1("Relu", Map.of(), ints(I8, new long[]{2}, -3, 4)), 0, 4);
        assertClose(run1("LeakyRelu", Map.of(), x), -2 * (double) 0.01f, -0.5 * (double) 0.01f, 0, 1.5);
        assertClose(run1("Sigmoid", Map.of(), x), 0.11920292202211755, 0.3775406687981454, 0.5, 0.8175744761936437);
        assertClose(run1("Softplus", Map.of(), x), 0.1269280110429725, 0.4740769841801067, 0.6931471805599453, 1.7014132779827524);
        assertClose(run1("Softsign", Map.of(), x), -2.0 / 3, -0.5 / 1.5, 0, 1.5 / 2.5);
        assertClose(run1("Mish", Map.of(), x), -0.2525014826957089, -0.22074377465173, 0, 1.4033782663958028);
        assertClose(run1("Elu", Map.of(), x), -0.8646647167633873, -0.3934693402873666, 0, 1.5);
        assertClose(run1("Selu", Map.of(), x), -1.5201664733475926, -0.6917581899652425, 0, 1.5760515332221985);
        assertClose(run1("Swish", Map.of(), x), -0.2384058440442351, -0.1887703343990727, 0, 1.2263617142904655);
        assertClose(run1("Gelu", Map.of(), x), -0.04550026389635842, -0.15426876936299344, 0, 1.399789198096713);
        assertClose(run1("Gelu", Map.of("approximate", Attribute.of("tanh")), x),
                -0.04540230591222494, -0.15428599017485606, 0, 1.3995715769802328);
        assertValues(run1("ThresholdedRelu", Map.of(), f32(new long[]{3}, 0.5f, 1, 2)), 0, 0, 2);
        assertClose(run1("HardSigmoid", Map.of(), f32(new long[]{3}, -3, 0, 3)), 0, 0.5, 1);
        assertClose(run1("HardSwish", Map.of(), f64(new long[]{5}, -4, -1, 0, 1, 4)), 0, -1.0 / 3, 0, 2.0 / 3, 4);
        assertValues(run1("Shrink", Map.of(), f32(new long[]{5}, -2, -0.5f, 0, 0.5f, 2)), -2, 0, 0, 0, 2);
    }

    @Test
    void activationsWithAttributes() {
        Tensor x = f64(new long[]{4}, -2, -0.5, 0, 1.5);
        assertClose(run1("LeakyRelu", Map.of("alpha", Attribute.of(0.5f)), x), -1, -0.25, 0, 1.5);
        assertClose(run1("Celu", Map.of("alpha", Attribute.of(2.0f)), x), -1.2642411176571153, -0.44239843385719024, 0, 1.5);
        assertClose(run1("Elu", Map.of("alpha", Attribute.of(2.0f)), x), -1.7293294335267746, -0.7869386805747332, 0, 1.5);
        assertClose(run1("HardSigmoid", Map.of("alpha", Attribute.of(0.5f), "beta", Attribute.of(0.25f)), x), 0, 0, 0.25, 1);
        assertValues(run1("ThresholdedRelu", Map.of("alpha", Attribute.of(-1.0f)), x), 0, -0.5, 0, 1.5);
        Map<String, Attribute> shrink = Map.of("lambd", Attribute.of(1.0f), "bias", Attribute.of(0.5f));
        assertValues(run1("Shrink", shrink, f32(new long[]{4}, -2, -1, 1, 3)), -1.5, 0, 0, 2.5);
        assertLongs(run1("Shrink", shrink, ints(I32, new long[]{4}, -3, -1, 1, 3)), -2, 0, 0, 2);
    }

    @Test
    void preluBroadcastsTheSlopeToX() {
        Tensor x = f32(new long[]{2, 3}, -1, -2, 3, 4, -5, -6);
        assertValues(run1("PRelu", Map.of(), x, f32(new long[]{3}, 0.5f, 2, 3)), -0.5, -4, 3, 4, -10, -18);
        assertValues(run1("PRelu", Map.of(), x, f32(new long[]{}, 0.25f)), -0.25, -0.5, 3, 4, -1.25, -1.5);
        assertLongs(run1("PRelu", Map.of(), ints(I32, new long[]{2}, -3, 3), ints(I32, new long[]{1}, 2)), -6, 3);
        assertThrows(IrException.class, () -> run1("PRelu", Map.of(), f32(new long[]{3}, 1, 2, 3), f32(new long[]{2, 3}, 1, 2, 3, 4, 5, 6)));
    }

    // ---- Clip

    @Test
    void clipWithOptionalBounds() {
        Tensor x = f32(new long[]{5}, -3, -1, 0, 1, NAN);
        Tensor lo = f32(new long[]{}, -2);
        Tensor hi = f32(new long[]{}, 0.5f);
        assertValues(run1("Clip", Map.of(), x, lo, hi), -2, -1, 0, 0.5, NAN);
        assertValues(run1("Clip", Map.of(), x, lo), -2, -1, 0, 1, NAN);
        assertValues(run1("Clip", Map.of(), x, null, hi), -3, -1, 0, 0.5, NAN);
        assertValues(run1("Clip", Map.of(), x), -3, -1, 0, 1, NAN);
        assertValues(run1("Clip", Map.of(), f32(new long[]{2}, -5, 5), f32(new long[]{}, 2), f32(new long[]{}, 1)), 1, 1);
        assertLongs(run1("Clip", Map.of(), ints(I8, new long[]{3}, -128, 0, 127), ints(I8, new long[]{}, -100)), -100, 0, 127);
        assertLongs(run1("Clip", Map.of(), ints(U64, new long[]{3}, -1L, 5, 0), ints(U64, new long[]{}, 1), ints(U64, new long[]{}, -2L)), -2L, 5, 1);
    }

    // ---- Cast

    @Test
    void castFloatToIntegerTruncatesAndWraps() {
        Tensor x = f32(new long[]{4}, -1.7f, 2.9f, 300, -0.5f);
        assertLongs(run1("Cast", to(6), x), -1, 2, 300, 0);
        assertLongs(run1("Cast", to(2), f32(new long[]{2}, 300, 255.9f)), 44, 255);
        assertLongs(run1("Cast", to(3), ints(I64, new long[]{2}, 200, -129)), -56, 127);
        assertLongs(run1("Cast", to(13), f64(new long[]{1}, 1.8446744073709550e19)), -2048L);
        assertLongs(run1("Cast", to(12), ints(I8, new long[]{1}, -1)), 0xFFFFFFFFL);
    }

    @Test
    void castToAndFromBool() {
        assertBools(run1("Cast", to(9), f32(new long[]{4}, 0, -0.0f, NAN, 0.1f)), false, false, true, true);
        assertBools(run1("Cast", to(9), ints(I32, new long[]{3}, 0, 36, -1)), false, true, true);
        assertValues(run1("Cast", to(1), bools(true, false)), 1, 0);
        assertLongs(run1("Cast", to(7), bools(true, false)), 1, 0);
    }

    @Test
    void castBetweenFloatTypesRoundsOnceToNearestEven() {
        // 1 + 2^-11 + 2^-40 lies just above the halfway point between two halves; via float it would tie and round down.
        Tensor d = f64(new long[]{1}, 1 + 0x1p-11 + 0x1p-40);
        Tensor half = run1("Cast", to(10), d);
        assertEquals(F16, half.dtype());
        assertEquals((short) 0x3C01, half.data().getShort(0));
        Tensor bf = run1("Cast", to(16), f32(new long[]{3}, 1.00390625f, 1.01171875f, 0.1f));
        assertEquals((short) 0x3F80, bf.data().getShort(0));
        assertEquals((short) 0x3F82, bf.data().getShort(2));
        assertEquals((short) 0x3DCD, bf.data().getShort(4));
        assertValues(run1("Cast", to(1), ints(U64, new long[]{1}, -1L)), 1.8446744073709552e19);
        assertValues(run1("Cast", to(11), ints(U64, new long[]{1}, Long.MIN_VALUE)), 0x1p63);
        assertValues(run1("Cast", to(10), ints(I32, new long[]{2}, 2049, 70000)), 2048, INF);
        assertValues(run1("Cast", to(11), f16(new long[]{1}, 0.1)), 0.0999755859375);
        assertThrows(IrException.class, () -> run1("Cast", to(8), f32(new long[]{1}, 1)));
    }

    @Test
    void castLikeTakesTheDtypeOfItsSecondInput() {
        Tensor r = run1("CastLike", Map.of(), f32(new long[]{2}, 1.5f, -2.5f), ints(I16, new long[]{}, 0));
        assertEquals(I16, r.dtype());
        assertLongs(r, 1, -2);
    }

    @Test
    void bitCastKeepsTheBits() {
        Tensor r = run1("BitCast", to(6), f32(new long[]{2}, 1, -2));
        assertEquals(I32, r.dtype());
        assertLongs(r, 0x3F800000, 0xC0000000L - 0x100000000L);
        assertLongs(run1("BitCast", to(2), ints(I8, new long[]{1}, -1)), 255);
        assertThrows(IrException.class, () -> run1("BitCast", to(7), f32(new long[]{1}, 1)));
    }

    @Test
    void swiGluGatesTheValueWithSwish() {
        Tensor a = f64(new long[]{2}, 1, -2);
        Tensor b = f64(new long[]{2}, 2, 3);
        assertClose(run1("SwiGLU", Map.of(), a, b), 1.4621171572600098, -0.7152175321327053);
        assertClose(run1("SwiGLU", Map.of("alpha", Attribute.of(2.0f)), a, b), 2 * 0.8807970779778823, -6 * 0.01798620996209156);
        assertThrows(IrException.class, () -> run1("SwiGLU", Map.of(), a, f64(new long[]{1}, 1)));
    }

    // ---- Identity and Dropout

    @Test
    void identityAndInferenceDropout() {
        Tensor x = f32(new long[]{2}, 1, 2);
        assertSame(x, run1("Identity", Map.of(), x));
        assertLongs(run1("Identity", Map.of(), ints(U64, new long[]{1}, -1L)), -1L);
        List<Tensor> outs = run("Dropout", Map.of(), 2, x, f32(new long[]{}, 0.5f));
        assertValues(outs.get(0), 1, 2);
        assertBools(outs.get(1), true, true);
        List<Tensor> zeroRatio = run("Dropout", Map.of(), 2, x, f32(new long[]{}, 0), bools(true).reshape());
        assertValues(zeroRatio.get(0), 1, 2);
        InterpreterException e = assertThrows(InterpreterException.class,
                () -> run("Dropout", Map.of(), 1, x, f32(new long[]{}, 0.5f), bools(true).reshape()));
        assertTrue(e.getMessage().contains("training_mode"), e.getMessage());
    }

    // ---- type checks and performance path

    @Test
    void inferenceRejectsDtypesTheSpecDoesNotAllow() {
        assertThrows(IrException.class, () -> run1("Add", Map.of(), f32(new long[]{1}, 1), ints(I64, new long[]{1}, 1)));
        assertThrows(IrException.class, () -> run1("Neg", Map.of(), ints(U8, new long[]{1}, 1)));
        assertThrows(IrException.class, () -> run1("Exp", Map.of(), ints(I32, new long[]{1}, 1)));
        assertThrows(IrException.class, () -> run1("And", Map.of(), ints(I32, new long[]{1}, 1), ints(I32, new long[]{1}, 1)));
        assertThrows(IrException.class, () -> run1("Add", Map.of(), f32(new long[]{2}, 1, 2), f32(new long[]{3}, 1, 2, 3)));
    }

    @Test
    void halfPrecisionArithmeticRoundsToHalf() {
        Tensor r = run1("Add", Map.of(), f16(new long[]{2}, 1, 2048), f16(new long[]{2}, 0x1p-11, 1));
        assertEquals(F16, r.dtype());
        assertValues(r, 1, 2048);
        assertValues(run1("Mul", Map.of(), bf16(new long[]{1}, 3), bf16(new long[]{1}, 0.5)), 1.5);
    }

    @Test
    void largeF32AddTakesTheArrayPath() {
        int n = 1 << 20;
        float[] a = new float[n];
        float[] b = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = i;
            b[i] = 0.5f;
        }
        Tensor r = run1("Add", Map.of(), Tensor.ofFloats(a, n), Tensor.ofFloats(b, n));
        float[] v = r.toFloatArray();
        assertEquals(0.5f, v[0]);
        assertEquals(n - 0.5f, v[n - 1]);
    }

    // ---- helpers

    private static Map<String, Attribute> to(long onnxType) { return Map.of("to", Attribute.of(onnxType)); }

    private static Tensor f64(long[] shape, double... values) { return floats(F64, shape, values); }

    private static Tensor f16(long[] shape, double... values) { return floats(F16, shape, values); }

    private static Tensor bf16(long[] shape, double... values) { return floats(BF16, shape, values); }

    private static Tensor bools(boolean... values) { return Tensor.ofBooleans(values, values.length); }

    /** Exact comparison of floating-point results (NaN matches NaN, -0.0 matches only -0.0). */
    private static void assertValues(Tensor t, double... expected) {
        assertEquals(expected.length, t.size(), "element count");
        double[] actual = new double[t.size()];
        for (int i = 0; i < actual.length; i++) actual[i] = t.getDouble(i);
        double[] want = expected.clone();
        if (t.dtype() != F64) {
            for (int i = 0; i < want.length; i++) want[i] = floats(t.dtype(), new long[]{}, want[i]).getDouble(0);
        }
        assertArrayEquals(want, actual, Arrays.toString(actual));
    }

    /** Comparison within a relative error of 1e-12 (1e-6 for dtypes narrower than f64). */
    private static void assertClose(Tensor t, double... expected) {
        assertEquals(expected.length, t.size(), "element count");
        double rtol = t.dtype() == F64 ? 1e-12 : 1e-6;
        for (int i = 0; i < expected.length; i++) {
            double a = t.getDouble(i);
            assertTrue(Math.abs(a - expected[i]) <= rtol * Math.abs(expected[i]) + 1e-300,
                    "element " + i + ": expected " + expected[i] + " but got " + a);
        }
    }

    private static void assertLongs(Tensor t, long... expected) {
        long[] actual = new long[t.size()];
        for (int i = 0; i < actual.length; i++) actual[i] = t.getLong(i);
        assertArrayEquals(expected, actual, t.dtype() + Arrays.toString(actual));
    }

    private static void assertBools(Tensor t, boolean... expected) {
        assertEquals(BOOL, t.dtype());
        boolean[] actual = new boolean[t.size()];
        for (int i = 0; i < actual.length; i++) actual[i] = t.getBoolean(i);
        assertArrayEquals(expected, actual, Arrays.toString(actual));
    }
}
