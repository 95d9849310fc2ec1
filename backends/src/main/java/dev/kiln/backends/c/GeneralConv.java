package dev.kiln.backends.c;

import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.EnumSet;
import java.util.Set;

/**
 * The convolutions {@link ConvolutionEmitter}'s fast paths do not take: Conv and FusedConv of any number of
 * spatial axes, in f32, in f16 and bf16 (converted to float around the single-precision kernels) and in f64
 * (conv_nd.h's direct convolution in double), with filters and biases that are run-time inputs, in plain layouts
 * or blocked ones (reordered to plain around the kernels, blocked filters laid out plain at compile time);
 * ConvInteger (its exact integer sums computed in double, then wrapped to int32 as ONNX's int32 accumulation
 * does); CausalConvWithState (a loop over each channel's few taps, in double as the reference computes it).
 */
final class GeneralConv {
    private GeneralConv() {}

    private static final Set<DType> FLOATS = EnumSet.of(DType.F32, DType.F16, DType.BF16, DType.F64);
    private static final Set<DType> INTEGER_CONV = EnumSet.of(DType.I8, DType.U8, DType.I32);
    private static final Set<DType> CAUSAL = EnumSet.of(DType.F32, DType.F16, DType.BF16);

    /** Null when this class emits the node (Conv, FusedConv, ConvInteger or CausalConvWithState), else why not. */
    static String problem(Node n) {
        String problem = switch (n.op()) {
            case "ConvInteger" -> Nodes.plainOf(n, INTEGER_CONV);
            case "CausalConvWithState" -> Nodes.plainOf(n, CAUSAL);
            default -> {
                String types = ComputeBuffers.dtypeProblem(n, FLOATS);
                yield types != null ? types : ComputeBuffers.layoutProblem(n, 3);
            }
        };
        if (problem == null) problem = ComputeBuffers.staticProblem(n);
        if (problem != null) return problem;
        return switch (n.op()) {
            case "ConvInteger" -> integerProblem(n);
            case "CausalConvWithState" -> null;
            default -> {
                String activation = Epilogue.problem(n);
                yield activation != null ? activation : ConvGeometryNd.spatialProblem(Nodes.logical(n.input(0)).length);
            }
        };
    }

    /** ConvInteger takes one zero point for x and one or one per output channel for w, as the reference does. */
    private static String integerProblem(Node n) {
        String spatial = ConvGeometryNd.spatialProblem(n.input(0).type().rank());
        if (spatial != null) return spatial;
        Value xZero = optional(n, 2);
        Value wZero = optional(n, 3);
        if (xZero != null && Nodes.count(xZero) != 1) return " (x_zero_point of " + Nodes.count(xZero) + " values)";
        long m = Nodes.dims(n.input(1))[0];
        if (wZero != null && Nodes.count(wZero) != 1 && (wZero.type().rank() != 1 || Nodes.count(wZero) != m)) {
            return " (w_zero_point of shape " + wZero.type().shape() + ")";
        }
        return null;
    }

    static Value optional(Node n, int i) { return i < n.inputs().size() ? n.input(i) : null; }

    static void emit(Node n, Emission e, String packedWeights) {
        switch (n.op()) {
            case "ConvInteger" -> emitInteger(n, e);
            case "CausalConvWithState" -> emitCausal(n, e);
            default -> emitConv(n, e, packedWeights);
        }
    }

    /**
     * Conv or FusedConv: in double for f64; else in float, 1-D and 2-D through conv.h's kernels (GEMM or
     * depthwise), more axes through conv_nd.h's GEMM. packedWeights: f32 constant weights packed for the GEMM, or null.
     */
    private static void emitConv(Node n, Emission e, String packedWeights) {
        Value x = n.input(0);
        Value w = n.input(1);
        Value y = n.output(0);
        Value bias = optional(n, 2);
        Value residual = optional(n, 3);
        ConvGeometryNd g = ConvGeometryNd.conv(n);
        if (y.type().dtype() == DType.F64) {
            ComputeBuffers buffers = new ComputeBuffers(e);
            String xd = buffers.read(x, "double");
            String wd = buffers.read(w, "double");
            String rd = residual == null ? null : buffers.read(residual, "double");
            String yd = buffers.output(y, "double");
            e.line("static const kiln_conv_nd_shape s = " + g.convShape() + ";");
            e.line("kiln_conv_nd_f64(&s, 0, " + xd + ", " + wd + ", " + yd + ");");
            Epilogue.planesF64(e, n, yd, g.n() * g.m(), g.m(), g.outSize(), bias == null ? null : e.ptr(bias), rd);
            buffers.store(y, yd, "double");
            return;
        }
        ComputeBuffers buffers = new ComputeBuffers(e);
        String xf = buffers.read(x, "float");
        String wf = packedWeights != null ? "0" : buffers.read(w, "float");
        String bf = bias == null ? null : buffers.read(bias, "float");
        String rf = residual == null ? null : buffers.read(residual, "float");
        String yf = buffers.output(y, "float");
        Epilogue.declare(e, n, 1, 1, bf, 1, 0, rf, g.outSize());
        if (g.rank() <= 2) {
            ConvolutionEmitter.emitPlainConv(e, ConvGeometry.of(n), xf, wf, packedWeights, yf);
        } else {
            String ws = e.workspace(Emission.GEMM_WORKSPACE_FLOATS);
            e.threadWorkspace(Emission.GEMM_WORKSPACE_FLOATS);
            e.line("static const kiln_conv_nd_shape s = " + g.convShape() + ";");
            e.line("kiln_conv_nd_f32(&s, " + xf + ", " + wf + ", " + (packedWeights == null ? "0" : packedWeights) + ", " + yf + ", &e, " + ws + ");");
        }
        buffers.store(y, yf, "float");
    }

    /** ConvInteger: (x - x_zero_point) conv (w - w_zero_point) summed exactly in double, wrapped to int32. */
    private static void emitInteger(Node n, Emission e) {
        Value x = n.input(0);
        Value w = n.input(1);
        Value y = n.output(0);
        Value xZero = optional(n, 2);
        Value wZero = optional(n, 3);
        ConvGeometryNd g = ConvGeometryNd.conv(n);
        ComputeBuffers buffers = new ComputeBuffers(e);
        String xd = buffers.buffer(Nodes.count(x), "double");
        String zx = xZero == null ? "0" : "(int32_t) " + e.ptr(xZero) + "[0]";
        e.line("for (long i = 0; i < " + e.count(x) + "; i++) " + xd + "[i] = (double) ((int32_t) " + e.ptr(x) + "[i] - " + zx + ");");
        long m = Nodes.dims(w)[0];
        long perChannel = m == 0 ? 0 : Nodes.count(w) / m;
        String loop = "for (long oc = 0; oc < " + m + "L; oc++) for (long i = 0; i < " + perChannel + "L; i++) to[oc * " + perChannel
                + "L + i] = (double) ((int32_t) from[oc * " + perChannel + "L + i] - "
                + (wZero == null ? "0" : "(int32_t) zero[" + (Nodes.count(wZero) == 1 ? "0" : "oc") + "]") + ");";
        String declarations = "const " + CTypes.storage(w.type().dtype()) + "* from = " + e.ptr(w) + "; "
                + (wZero == null ? "" : "const " + CTypes.storage(wZero.type().dtype()) + "* zero = " + e.ptr(wZero) + "; ");
        String wd;
        if (w instanceof Constant && (wZero == null || wZero instanceof Constant)) {
            // shifted once, at load
            wd = "((double*) " + e.prepacked(2 * Nodes.count(w)) + ")";
            e.init("{ double* to = " + wd + "; " + declarations + loop + " }");
        } else {
            wd = buffers.buffer(Nodes.count(w), "double");
            e.line("{ double* to = " + wd + "; " + declarations + loop + " }");
        }
        String acc = buffers.buffer(Nodes.count(y), "double");
        e.line("static const kiln_conv_nd_shape s = " + g.convShape() + ";");
        e.line("kiln_conv_nd_f64(&s, 0, " + xd + ", " + wd + ", " + acc + ");");
        e.line("for (long i = 0; i < " + e.count(y) + "; i++) " + e.ptr(y) + "[i] = (int32_t) (uint32_t) (int64_t) " + acc + "[i];");
    }

    /**
     * CausalConvWithState: each (batch, channel) plane of length L convolved with the channel's k taps over [past
     * state or zeros (k - 1), input], then SiLU when asked; the sequence's last k - 1 elements are the new state.
     */
    private static void emitCausal(Node n, Emission e) {
        Value x = n.input(0);
        DType t = x.type().dtype();
        long[] xs = Nodes.dims(x);
        long channels = xs[1];
        long length = xs[2];
        long k = Nodes.dims(n.input(1))[2];
        Value bias = optional(n, 2);
        Value past = optional(n, 3);
        boolean silu = !Nodes.stringAttr(n, "activation", "none").equals("none");
        String storage = CTypes.storage(t);
        e.open("for (long p = 0; p < " + xs[0] * channels + "L; p++) {");
        e.line("long c = p % " + channels + "L;");
        e.line("const " + storage + "* xp = " + e.ptr(x) + " + p * " + length + "L;");
        if (past != null) e.line("const " + storage + "* pp = " + e.ptr(past) + " + p * " + (k - 1) + "L;");
        e.open("for (long t = 0; t < " + length + "L; t++) {");
        e.line("double sum = " + (bias == null ? "0.0" : "(double) " + CTypes.load(t, e.ptr(bias) + "[c]")) + ";");
        e.open("for (long j = 0; j < " + k + "L; j++) {");
        e.line("long q = t + j;");
        e.line("double v = q < " + (k - 1) + "L ? " + (past == null ? "0.0" : "(double) " + CTypes.load(t, "pp[q]")) + " : (double) "
                + CTypes.load(t, "xp[q - " + (k - 1) + "L]") + ";");
        e.line("sum += v * (double) " + CTypes.load(t, e.ptr(n.input(1)) + "[c * " + k + "L + j]") + ";");
        e.close("}");
        e.line(e.ptr(n.output(0)) + "[p * " + length + "L + t] = " + ComputeBuffers.fromDouble(t, silu ? "sum / (1.0 + exp(-sum))" : "sum") + ";");
        e.close("}");
        if (n.outputs().size() > 1 && k > 1) {
            // the state's elements are elements of the sequence, copied as they are stored
            e.open("for (long j = 0; j < " + (k - 1) + "L; j++) {");
            e.line("long q = " + length + "L + j;");
            e.line(e.ptr(n.output(1)) + "[p * " + (k - 1) + "L + j] = q < " + (k - 1) + "L ? " + (past == null ? "0" : "pp[q]") + " : xp[q - " + (k - 1) + "L];");
            e.close("}");
        }
        e.close("}");
    }
}
