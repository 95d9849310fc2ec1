package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.OnnxDataTypes;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Function;

import static dev.kiln.backends.c.Nodes.dims;

/**
 * Linear quantization (quantized.h): QuantizeLinear and DequantizeLinear per tensor, per axis and blocked,
 * DynamicQuantizeLinear, and the integer products QLinearMatMul and QLinearConv. Every op mirrors the
 * interpreter's arithmetic step by step in double (numpy's roundings, half to even, saturation, 32-bit wrapped
 * integer sums), so results are bitwise the interpreter's. The quantize ops take x of run-time shape; the
 * products, static shapes. The products subtract the zero points once into 16-bit integers in the workspace,
 * sum exactly in 32-bit integers, then requantize each output element.
 */
final class QuantizedEmitter implements OpEmitter {
    /** One op: what it does not take (null: everything), and its code. */
    private record Op(Function<Node, String> problem, BiConsumer<Node, Emission> emit) {}

    private static final Map<String, Op> OPS = Map.of(
            "QuantizeLinear", new Op(QuantizedEmitter::linearProblem, QuantizedEmitter::emitQuantize),
            "DequantizeLinear", new Op(QuantizedEmitter::linearProblem, QuantizedEmitter::emitDequantize),
            "DynamicQuantizeLinear", new Op(QuantizedEmitter::dynamicProblem, QuantizedEmitter::emitDynamic),
            "QLinearMatMul", new Op(QLinearProducts::matMulProblem, QLinearProducts::emitMatMul),
            "QLinearConv", new Op(QLinearProducts::convProblem, QLinearProducts::emitConv));

    @Override
    public Set<String> ops() { return OPS.keySet(); }

    @Override
    public List<String> kernels() { return List.of("quantized.h"); }

    @Override
    public String problem(Node n) {
        String layout = Nodes.plainLayouts(n);
        return layout != null ? layout : OPS.get(n.op()).problem().apply(n);
    }

    @Override
    public void emit(Node n, Emission e) { OPS.get(n.op()).emit().accept(n, e); }

    /** Null when every value but input 0 and the outputs has a static shape, else what is wrong. */
    private static String staticParameters(Node n) {
        for (int i = 1; i < n.inputs().size(); i++) {
            Value v = n.input(i);
            if (v != null && !Emission.isStatic(v)) return " (symbolic shape " + v.type().shape() + " of input " + i + ")";
        }
        return null;
    }

    // ---- QuantizeLinear, DequantizeLinear ---------------------------------------------------------------------------

    /** Which scale element each element of x takes: for blocked, x seen as [outer, axis, inner] with blocks along axis. */
    private enum Granularity { TENSOR, AXIS, BLOCKED }

    private static Granularity granularity(Node n) {
        Value scale = n.input(1);
        long block = Nodes.intAttr(n, "block_size", 0);
        if (scale.type().rank() == 0 || Nodes.count(scale) == 1 && block == 0) return Granularity.TENSOR;
        return block == 0 ? Granularity.AXIS : Granularity.BLOCKED;
    }

    private static String linearProblem(Node n) {
        String parameters = staticParameters(n);
        if (parameters != null) return parameters;
        Value x = n.input(0);
        Value scale = n.input(1);
        Value zero = n.input(2);
        if (zero != null && !Arrays.equals(dims(zero), dims(scale))) return " (zero point and scale of different shapes)";
        Granularity g = granularity(n);
        if (g == Granularity.TENSOR) return null;
        int rank = x.type().rank();
        long axisAttr = Nodes.intAttr(n, "axis", 1);
        if (axisAttr < -rank || axisAttr >= rank) return " (axis " + axisAttr + ")";
        int axis = Nodes.axis(n, "axis", 1, rank);
        boolean staticAxis = x.type().shape().dim(axis).isStatic();
        long[] s = dims(scale);
        if (g == Granularity.AXIS) {
            if (s.length != 1 || staticAxis && s[0] != x.type().shape().dim(axis).size()) return " (per-axis scale of shape " + Arrays.toString(s) + ")";
            return null;
        }
        long block = Nodes.intAttr(n, "block_size", 0);
        if (block < 0 || s.length != rank) return " (blocked scale of shape " + Arrays.toString(s) + ")";
        if (!Emission.isStatic(x)) return " (blocked quantization of symbolic shape " + x.type().shape() + ")";
        long[] xs = dims(x);
        for (int d = 0; d < rank; d++) {
            if (s[d] != (d == axis ? (xs[d] + block - 1) / block : xs[d])) return " (blocked scale of shape " + Arrays.toString(s) + ")";
        }
        return null;
    }

    /**
     * Opens loops over x's elements, declaring {@code i} (the element) and {@code p} (its scale element); returns
     * the blocks to close. Run-time dims of x are read as the node runs.
     */
    private static int openElements(Node n, Emission e) {
        Value x = n.input(0);
        Granularity g = granularity(n);
        if (g == Granularity.TENSOR) {
            e.open("for (long i = 0; i < " + e.count(x) + "; i++) {");
            e.line("const long p = 0;");
            return 1;
        }
        int rank = x.type().rank();
        int axis = Nodes.axis(n, "axis", 1, rank);
        String outer = DimExprs.product(e, x, 0, axis);
        String inner = DimExprs.product(e, x, axis + 1, rank);
        String length = e.dim(x, axis);
        if (g == Granularity.AXIS && !x.type().shape().dim(axis).isStatic()) {
            e.failWhen(length + " != " + dims(n.input(1))[0] + "L", "node " + n.name() + " (" + n.op() + "): the per-axis scale does not match axis " + axis + " of x");
        }
        e.open("for (long o = 0; o < " + outer + "; o++) {");
        e.open("for (long a = 0; a < " + length + "; a++) {");
        long block = Nodes.intAttr(n, "block_size", 0);
        String base = g == Granularity.AXIS ? "a" : "(o * " + dims(n.input(1))[axis] + "L + a / " + block + "L) * " + inner;
        e.open("for (long j = 0; j < " + inner + "; j++) {");
        e.line("const long i = (o * " + length + " + a) * " + inner + " + j;");
        e.line("const long p = " + base + (g == Granularity.BLOCKED ? " + j;" : ";"));
        return 3;
    }

    /** The precision QuantizeLinear divides in: its precision attribute, else numpy's promotion of x's and the scale's types. */
    private static DType divisionType(Node n) {
        long code = Nodes.intAttr(n, "precision", 0);
        if (code != 0) return OnnxDataTypes.dtype(code);
        DType x = Emission.dtype(n.input(0));
        DType s = Emission.dtype(n.input(1));
        if (x == DType.I32 || s == DType.I32) return DType.F64;
        return x == s ? x : DType.F32;
    }

    /** A double expression rounded to the precision of a floating dtype, as numpy rounds computing in it. */
    static String roundTo(DType t, String v) {
        return switch (t) {
            case F32 -> "KILN_AS_F32(" + v + ")";
            case F16 -> "kiln_round_f16(" + v + ")";
            case BF16 -> "kiln_round_bf16(" + v + ")";
            default -> "KILN_AS_F64(" + v + ")";
        };
    }

    /** Element {@code index} (a C expression) of a value, as a double. */
    static String asDouble(Value v, String index, Emission e) { return Elements.asDouble(Emission.dtype(v), e.ptr(v) + "[" + index + "]"); }

    /** Gives y x's run-time dims (nothing for a static y) and reserves its buffer. */
    static void shapeLike(Emission e, Value y, Value x) { DimExprs.define(e, y, DimExprs.dims(e, x)); }

    /** A stored element rounded to precision p, as a double (to f32 straight from its own type: see KILN_AS_F32). */
    private static String rounded(DType p, Value v, String index, Emission e) {
        if (p == DType.F64) return asDouble(v, index, e);
        if (p != DType.F32) return roundTo(p, asDouble(v, index, e));
        return "KILN_AS_F32(" + CTypes.load(Emission.dtype(v), e.ptr(v) + "[" + index + "]") + ")";
    }

    /** The range of an integer dtype, as C double literals {min, max}. */
    static String[] range(DType t) {
        return switch (t) {
            case I8 -> new String[] {"-128.0", "127.0"};
            case U8 -> new String[] {"0.0", "255.0"};
            case I16 -> new String[] {"-32768.0", "32767.0"};
            case U16 -> new String[] {"0.0", "65535.0"};
            default -> throw new IllegalArgumentException("not a quantized type: " + t);
        };
    }

    /** y = saturate(round(x / scale) + zero point), the division in the precision numpy uses. */
    private static void emitQuantize(Node n, Emission e) {
        Value x = n.input(0);
        Value scale = n.input(1);
        Value zero = n.input(2);
        Value y = n.output(0);
        DType p = divisionType(n);
        String[] r = range(Emission.dtype(y));
        shapeLike(e, y, x);
        int blocks = openElements(n, e);
        String quotient = roundTo(p, rounded(p, x, "i", e) + " / " + rounded(p, scale, "p", e));
        e.line("double q = nearbyint(" + quotient + ")" + (zero == null ? "" : " + " + asDouble(zero, "p", e)) + ";");
        e.line(e.ptr(y) + "[i] = (" + CTypes.storage(Emission.dtype(y)) + ") kiln_saturate(q, " + r[0] + ", " + r[1] + ");");
        for (int b = 0; b < blocks; b++) e.close("}");
    }

    /**
     * y = (x - zero point) * scale: x as f32, less the zero point in f32 (in double for an i32 x, as numpy
     * promotes), times the scale, rounded to the output dtype.
     */
    private static void emitDequantize(Node n, Emission e) {
        Value x = n.input(0);
        Value scale = n.input(1);
        Value zero = n.input(2);
        Value y = n.output(0);
        boolean wide = zero != null && Emission.dtype(x) == DType.I32;
        shapeLike(e, y, x);
        int blocks = openElements(n, e);
        e.line("double shifted = " + rounded(DType.F32, x, "i", e) + ";");
        if (zero != null) e.line("shifted = " + roundTo(wide ? DType.F64 : DType.F32, "shifted - " + asDouble(zero, "p", e)) + ";");
        e.line(e.ptr(y) + "[i] = " + CTypes.store(Emission.dtype(y), "(float) KILN_AS_F64(shifted * " + asDouble(scale, "p", e) + ")") + ";");
        for (int b = 0; b < blocks; b++) e.close("}");
    }

    // ---- DynamicQuantizeLinear --------------------------------------------------------------------------------------

    private static String dynamicProblem(Node n) {
        return Emission.dtype(n.input(0)) == DType.F32 ? null : " (" + Emission.dtype(n.input(0)) + ")";
    }

    private static void emitDynamic(Node n, Emission e) {
        Value x = n.input(0);
        shapeLike(e, n.output(0), x);
        e.line("kiln_dynamic_quantize(" + e.count(x) + ", " + e.ptr(x) + ", " + e.ptr(n.output(0)) + ", " + e.ptr(n.output(1)) + ", "
                + e.ptr(n.output(2)) + ");");
    }
}
