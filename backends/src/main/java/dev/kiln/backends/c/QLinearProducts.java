package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.Arrays;

import static dev.kiln.backends.c.Nodes.count;
import static dev.kiln.backends.c.Nodes.dims;
import static dev.kiln.backends.c.QuantizedEmitter.asDouble;
import static dev.kiln.backends.c.QuantizedEmitter.range;
import static dev.kiln.backends.c.QuantizedEmitter.roundTo;

/**
 * QLinearMatMul and QLinearConv for {@link QuantizedEmitter}: both operands less their zero points into 16-bit
 * integers in the workspace, their exact 32-bit sums (quantized.h's kiln_qgemm, kiln_qconv), then each sum
 * requantized as the interpreter does it: the scales' multiplier in their precision, its product with the sum
 * in double, the output zero point added, rounded half to even, saturated.
 */
final class QLinearProducts {
    private QLinearProducts() {}

    // ---- QLinearMatMul ----------------------------------------------------------------------------------------------

    /** The matmul's geometry: operands promoted to matrices, their batch dims and the broadcast batch. */
    private record Geometry(long[] a, long[] b, long[] batch, long m, long n, long k) {
        static Geometry of(Node n) {
            long[] as = dims(n.input(0));
            long[] bs = dims(n.input(3));
            long[] a = as.length == 1 ? new long[] {1, as[0]} : as;
            long[] b = bs.length == 1 ? new long[] {bs[0], 1} : bs;
            long[] batch = broadcast(Arrays.copyOf(a, a.length - 2), Arrays.copyOf(b, b.length - 2));
            return new Geometry(a, b, batch, a[a.length - 2], b[b.length - 1], a[a.length - 1]);
        }

        long batches() { return Nodes.product(batch, 0, batch.length); }
    }

    /** Two shapes broadcast together (null when they do not broadcast). */
    private static long[] broadcast(long[] x, long[] y) {
        long[] r = new long[Math.max(x.length, y.length)];
        for (int d = 0; d < r.length; d++) {
            long a = d - (r.length - x.length) >= 0 ? x[d - (r.length - x.length)] : 1;
            long b = d - (r.length - y.length) >= 0 ? y[d - (r.length - y.length)] : 1;
            if (a != b && a != 1 && b != 1) return null;
            r[d] = a == 1 ? b : a;
        }
        return r;
    }

    /** Whether {@code from} broadcasts to {@code to} (ranks right-aligned, each dim 1 or equal). */
    private static boolean broadcastsTo(long[] from, long[] to) {
        if (from.length > to.length) return false;
        for (int d = 0; d < from.length; d++) {
            long f = from[d];
            if (f != 1 && f != to[to.length - from.length + d]) return false;
        }
        return true;
    }

    /** A 1-D parameter of length rows (rows > 1) seen as a column [rows, 1], applying per row (the interpreter's rule for a). */
    private static long[] perRow(long[] shape, long rows) {
        return shape.length == 1 && shape[0] == rows && rows > 1 ? new long[] {rows, 1} : shape;
    }

    /** The element strides with which a parameter of dims {@code from} is read for each dim of {@code to} (0 where it broadcasts). */
    private static long[] strides(long[] from, long[] to) { return LoopNest.broadcastStrides(to, from); }

    static String matMulProblem(Node n) {
        String symbolic = Nodes.staticShapes(n);
        if (symbolic != null) return symbolic;
        long[] as = dims(n.input(0));
        long[] bs = dims(n.input(3));
        if (as.length == 0 || bs.length == 0) return " (scalar operands)";
        Geometry g = Geometry.of(n);
        if (g.b[g.b.length - 2] != g.k) return " (inner dims " + g.k + " and " + g.b[g.b.length - 2] + ")";
        if (g.batch == null) return " (batch dims that do not broadcast)";
        long[] out = dims(n.output(0));
        String[] names = {"a_scale", "a_zero_point", "b_scale", "b_zero_point", "y_scale", "y_zero_point"};
        int[] inputs = {1, 2, 4, 5, 6, 7};
        for (int i = 0; i < inputs.length; i++) {
            long[] s = dims(n.input(inputs[i]));
            long[] target = inputs[i] <= 2 ? g.a : inputs[i] <= 5 ? g.b : out;
            if (!broadcastsTo(inputs[i] <= 2 ? perRow(s, g.m) : s, target)) return " (" + names[i] + " of shape " + Arrays.toString(s) + ")";
        }
        return null;
    }

    /**
     * The strides of a parameter of the output over [batch..., m, n]: broadcast against the output's own shape,
     * which lacks the unit dims of 1-D operands (0 there).
     */
    private static long[] outputStrides(Node n, Geometry g, Value parameter) {
        long[] s = strides(dims(parameter), dims(n.output(0)));
        long[] full = new long[g.batch.length + 2];
        System.arraycopy(s, 0, full, 0, g.batch.length);
        int at = g.batch.length;
        full[g.batch.length] = dims(n.input(0)).length == 1 ? 0 : s[at++];
        full[g.batch.length + 1] = dims(n.input(3)).length == 1 ? 0 : s[at];
        return full;
    }

    /** A C expression of the offset, at batch index {@code b} of {@code batch}, of a tensor read with {@code strides} over its batch dims. */
    private static String batchOffset(long[] batch, long[] operandBatch, long[] strides) {
        StringBuilder s = new StringBuilder("0L");
        long outStride = 1;
        for (int d = batch.length - 1; d >= 0; d--) {
            int od = d - (batch.length - operandBatch.length);
            if (od >= 0 && operandBatch[od] != 1 && strides[od] != 0) {
                s.append(" + (b / ").append(outStride).append("L % ").append(batch[d]).append("L) * ").append(strides[od]).append('L');
            }
            outStride *= batch[d];
        }
        return "(" + s + ")";
    }

    static void emitMatMul(Node n, Emission e) {
        Geometry g = Geometry.of(n);
        Value a = n.input(0);
        Value b = n.input(3);
        Value y = n.output(0);
        long m = g.m;
        long nn = g.n;
        long k = g.k;
        long aCount = count(a);
        long bCount = count(b);
        Workspace ws = new Workspace();
        String av = ws.take("int16_t", aCount, 2);
        String bv = ws.take("int16_t", bCount, 2);
        String acc = ws.take("int32_t", g.batches() * m * nn, 4);
        ws.reserve(e);
        shift(e, a, n.input(2), perRow(dims(n.input(2)), m), g.a, av);
        shift(e, b, n.input(5), dims(n.input(5)), g.b, bv);
        long[] aBatch = Arrays.copyOf(g.a, g.a.length - 2);
        long[] bBatch = Arrays.copyOf(g.b, g.b.length - 2);
        e.open("for (long b = 0; b < " + g.batches() + "L; b++) {");
        e.line("kiln_qgemm(" + m + "L, " + nn + "L, " + k + "L, " + av + " + " + batchOffset(g.batch, aBatch, Nodes.strides(g.a)) + ", " + bv + " + "
                + batchOffset(g.batch, bBatch, Nodes.strides(g.b)) + ", " + acc + " + b * " + (m * nn) + "L);");
        e.close("}");
        // requantize: a's scale at (its batch, row), b's at (its batch, column), y's parameters at the output element
        DType scaleType = commonScaleType(Emission.dtype(n.input(1)), Emission.dtype(n.input(4)), Emission.dtype(n.input(6)));
        long[] aS = strides(perRow(dims(n.input(1)), m), g.a);
        long[] bS = strides(dims(n.input(4)), g.b);
        long[] yS = outputStrides(n, g, n.input(6));
        long[] yZ = outputStrides(n, g, n.input(7));
        int r = yS.length;
        String[] lim = range(Emission.dtype(y));
        e.open("for (long b = 0; b < " + g.batches() + "L; b++) {");
        e.line("const long as = " + batchOffset(g.batch, aBatch, Arrays.copyOf(aS, aS.length - 2)) + ", bs = "
                + batchOffset(g.batch, bBatch, Arrays.copyOf(bS, bS.length - 2)) + ", ys = " + batchOffset(g.batch, g.batch, Arrays.copyOf(yS, r - 2))
                + ", yz = " + batchOffset(g.batch, g.batch, Arrays.copyOf(yZ, r - 2)) + ";");
        e.open("for (long i = 0; i < " + m + "L; i++) {");
        e.open("for (long j = 0; j < " + nn + "L; j++) {");
        e.line("const long o = (b * " + m + "L + i) * " + nn + "L + j;");
        String product = roundTo(scaleType, asDouble(n.input(1), "as + i * " + aS[aS.length - 2] + "L", e) + " * "
                + asDouble(n.input(4), "bs + j * " + bS[bS.length - 1] + "L", e));
        e.line("double multiplier = " + roundTo(scaleType, product + " / " + asDouble(n.input(6), "ys + i * " + yS[r - 2] + "L + j * " + yS[r - 1] + "L", e)) + ";");
        e.line("double q = nearbyint(KILN_AS_F64(kiln_product((double) " + acc + "[o], multiplier) + "
                + asDouble(n.input(7), "yz + i * " + yZ[r - 2] + "L + j * " + yZ[r - 1] + "L", e) + "));");
        e.line(e.ptr(y) + "[o] = (" + CTypes.storage(Emission.dtype(y)) + ") kiln_saturate(q, " + lim[0] + ", " + lim[1] + ");");
        e.close("}");
        e.close("}");
        e.close("}");
    }

    /** numpy's promotion among f32, f16 and bf16: equal types stay, mixed ones meet in f32. */
    private static DType commonScaleType(DType... types) {
        for (DType t : types) if (t != types[0]) return DType.F32;
        return types[0];
    }

    /**
     * dst[i] = x[i] - zero[at(i)] over x's elements (x of {@code shape}, its promoted dims), the zero point
     * broadcast to that shape: one loop per dim with the zero point's offset stepped along.
     */
    private static void shift(Emission e, Value x, Value zero, long[] zeroShape, long[] shape, String dst) {
        long[] zs = strides(zeroShape, shape);
        String z = e.ptr(zero);
        if (count(zero) == 1) {
            e.line("for (long i = 0; i < " + count(x) + "L; i++) " + dst + "[i] = (int16_t) ((int) " + e.ptr(x) + "[i] - (int) " + z + "[0]);");
            return;
        }
        StringBuilder zAt = new StringBuilder("0L");
        for (int d = 0; d < shape.length; d++) {
            e.open("for (long i" + d + " = 0; i" + d + " < " + shape[d] + "L; i" + d + "++) {");
            if (zs[d] != 0) zAt.append(" + i").append(d).append(" * ").append(zs[d]).append('L');
        }
        e.line("const long i = " + flatIndex(shape) + ";");
        e.line(dst + "[i] = (int16_t) ((int) " + e.ptr(x) + "[i] - (int) " + z + "[" + zAt + "]);");
        for (int d = 0; d < shape.length; d++) e.close("}");
    }

    /** The row-major element index of loop counters i0.. over dims. */
    private static String flatIndex(long[] dims) {
        StringBuilder s = new StringBuilder("0L");
        long[] st = Nodes.strides(dims);
        for (int d = 0; d < dims.length; d++) s.append(" + i").append(d).append(" * ").append(st[d]).append('L');
        return s.toString();
    }

    // ---- QLinearConv ------------------------------------------------------------------------------------------------

    static String convProblem(Node n) {
        String symbolic = Nodes.staticShapes(n);
        if (symbolic != null) return symbolic;
        long[] xs = dims(n.input(0));
        long[] ws = dims(n.input(3));
        int spatial = xs.length - 2;
        if (spatial < 1 || spatial > 3) return " (" + spatial + "-D)";
        long group = Nodes.intAttr(n, "group", 1);
        if (group < 1 || ws.length != xs.length || xs[1] != ws[1] * group || ws[0] % group != 0) return " (channels and group do not match)";
        long maps = ws[0];
        for (int i : new int[] {1, 2, 6, 7}) if (count(n.input(i)) != 1) return " (per-channel " + (i <= 2 ? "input" : "output") + " parameters)";
        for (int i : new int[] {4, 5}) {
            Value p = n.input(i);
            if (count(p) != 1 && (p.type().rank() != 1 || count(p) != maps)) return " (weight parameters of shape " + Arrays.toString(dims(p)) + ")";
        }
        Value bias = n.input(8);
        if (bias != null && (bias.type().rank() != 1 || count(bias) != maps)) return " (bias of shape " + Arrays.toString(dims(bias)) + ")";
        if (Nodes.ints(n, "strides", spatial, 1).length != spatial || Nodes.ints(n, "dilations", spatial, 1).length != spatial) return " (strides or dilations)";
        String autoPad = Nodes.stringAttr(n, "auto_pad", "NOTSET");
        if (autoPad.equals("NOTSET") && Nodes.ints(n, "pads", 2 * spatial, 0).length != 2 * spatial) return " (pads)";
        return null;
    }

    static void emitConv(Node n, Emission e) {
        Value x = n.input(0);
        Value w = n.input(3);
        Value y = n.output(0);
        long[] xs = dims(x);
        long[] ws = dims(w);
        long[] ys = dims(y);
        int spatial = xs.length - 2;
        long[] strides = Nodes.ints(n, "strides", spatial, 1);
        long[] dilations = Nodes.ints(n, "dilations", spatial, 1);
        long[] pads = beginPads(n, xs, ws, ys, strides, dilations);
        // up to 3 spatial axes, fewer as leading axes of size 1
        long[][] axes = new long[6][3];
        for (long[] a : axes) Arrays.fill(a, 1);
        axes[5] = new long[3];
        for (int i = 0; i < spatial; i++) {
            int at = 3 - spatial + i;
            axes[0][at] = xs[2 + i];
            axes[1][at] = ys[2 + i];
            axes[2][at] = ws[2 + i];
            axes[3][at] = strides[i];
            axes[4][at] = dilations[i];
            axes[5][at] = pads[i];
        }
        StringBuilder shape = new StringBuilder("static const kiln_qconv_shape s = {" + xs[0] + ", " + xs[1] + ", " + ws[0] + ", " + Nodes.intAttr(n, "group", 1));
        for (long[] a : axes) shape.append(", {").append(a[0]).append(", ").append(a[1]).append(", ").append(a[2]).append('}');
        e.line(shape + "};");
        Workspace scratch = new Workspace();
        String xv = scratch.take("int16_t", count(x), 2);
        String wv = scratch.take("int16_t", count(w), 2);
        String acc = scratch.take("int32_t", count(y), 4);
        scratch.reserve(e);
        e.line("for (long i = 0; i < " + count(x) + "L; i++) " + xv + "[i] = (int16_t) ((int) " + e.ptr(x) + "[i] - (int) " + e.ptr(n.input(2)) + "[0]);");
        shift(e, w, n.input(5), count(n.input(5)) == 1 ? new long[0] : new long[] {ws[0], 1}, new long[] {ws[0], count(w) / Math.max(1, ws[0])}, wv);
        Value bias = n.input(8);
        e.line("kiln_qconv(&s, " + xv + ", " + wv + ", " + (bias == null ? "0" : e.ptr(bias)) + ", " + acc + ");");
        // the multiplier in f32 as the interpreter computes it (each step rounded), its product with the sum in double
        long plane = count(y) / Math.max(1, ys[0] * ys[1]);
        String[] lim = range(Emission.dtype(y));
        Value wScale = n.input(4);
        e.open("for (long b = 0; b < " + ys[0] + "L; b++) {");
        e.open("for (long m = 0; m < " + ys[1] + "L; m++) {");
        e.line("const double multiplier = KILN_AS_F32(KILN_AS_F32((double) " + e.ptr(n.input(1)) + "[0] * " + e.ptr(wScale) + "[" + (count(wScale) == 1 ? "0" : "m")
                + "]) / " + e.ptr(n.input(6)) + "[0]);");
        e.line("const long o = (b * " + ys[1] + "L + m) * " + plane + "L;");
        e.open("for (long p = 0; p < " + plane + "L; p++) {");
        e.line("double q = nearbyint(KILN_AS_F64(kiln_product((double) " + acc + "[o + p], multiplier) + (double) " + e.ptr(n.input(7)) + "[0]));");
        e.line(e.ptr(y) + "[o + p] = (" + CTypes.storage(Emission.dtype(y)) + ") kiln_saturate(q, " + lim[0] + ", " + lim[1] + ");");
        e.close("}");
        e.close("}");
        e.close("}");
    }

    /** The begin pad of each spatial axis: from auto_pad (SAME_UPPER, SAME_LOWER, VALID) or pads. */
    private static long[] beginPads(Node n, long[] xs, long[] ws, long[] ys, long[] strides, long[] dilations) {
        int spatial = xs.length - 2;
        String autoPad = Nodes.stringAttr(n, "auto_pad", "NOTSET");
        long[] pads = Nodes.ints(n, "pads", 2 * spatial, 0);
        long[] begin = new long[spatial];
        for (int i = 0; i < spatial; i++) {
            if (autoPad.equals("SAME_UPPER") || autoPad.equals("SAME_LOWER")) {
                long extent = (ws[2 + i] - 1) * dilations[i] + 1;
                long total = Math.max(0, (ys[2 + i] - 1) * strides[i] + extent - xs[2 + i]);
                begin[i] = autoPad.equals("SAME_UPPER") ? total / 2 : total - total / 2;
            } else if (autoPad.equals("NOTSET")) {
                begin[i] = pads[i];
            }
        }
        return begin;
    }
}
