package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.runtime.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * Conv and ConvTranspose over any number of spatial axes, and CausalConvWithState. Conv and
 * ConvTranspose in f32 run on float[]: im2col and a blocked GEMM, with the input used in place for
 * 1x1 windows and a direct kernel for 2-D depthwise convolutions. Everything else accumulates in
 * double, QLinearConv and ConvInteger included (see QuantizationKernels).
 */
final class ConvKernels {
    /** Most floats of unfolded windows (im2col) held at once. */
    private static final int IM2COL_FLOATS = 1 << 18;

    private ConvKernels() {}

    /** The sizes of one convolution layer: batch, input and output channels, groups, spatial geometry. */
    record Layer(int batch, int inChannels, int outChannels, int group, ConvGeometry geometry) {
        int inPerGroup() { return inChannels / group; }

        int outPerGroup() { return outChannels / group; }

        long[] outputShape() {
            long[] spatial = geometry.output();
            long[] s = new long[2 + spatial.length];
            s[0] = batch;
            s[1] = outChannels;
            System.arraycopy(spatial, 0, s, 2, spatial.length);
            return s;
        }
    }

    /** The layer of a convolution (Conv, QLinearConv, ConvInteger) of input xs (N, C, D...) with weights ws (M, C/group, K...). */
    static Layer convLayer(KernelContext ctx, long[] xs, long[] ws) {
        int group = (int) ctx.intAttr("group");
        if (xs[1] != ws[1] * group) {
            throw ctx.fail("input has " + xs[1] + " channels but weights " + Arrays.toString(ws) + " with group " + group + " need " + ws[1] * group);
        }
        if (ws[0] % group != 0) throw ctx.fail(ws[0] + " output channels are not divisible by group " + group);
        return new Layer((int) xs[0], (int) xs[1], (int) ws[0], group, ConvGeometry.window(ctx, NnArrays.tail(xs, 2), kernelShape(ctx, ws), false));
    }

    static List<Tensor> conv(KernelContext ctx) {
        Layer layer = convLayer(ctx, ctx.input(0).shape(), ctx.input(1).shape());
        return run(ctx, layer, ConvKernels::convF32, ConvKernels::convDouble);
    }

    static List<Tensor> convTranspose(KernelContext ctx) {
        long[] xs = ctx.input(0).shape();
        long[] ws = ctx.input(1).shape();
        int group = (int) ctx.intAttr("group");
        if (xs[1] != ws[0]) throw ctx.fail("input has " + xs[1] + " channels but weights " + Arrays.toString(ws) + " expect " + ws[0]);
        if (xs[1] % group != 0) throw ctx.fail(xs[1] + " input channels are not divisible by group " + group);
        ConvGeometry geometry = ConvGeometry.transposed(ctx, NnArrays.tail(xs, 2), kernelShape(ctx, ws));
        Layer layer = new Layer((int) xs[0], (int) xs[1], (int) (ws[1] * group), group, geometry);
        return run(ctx, layer, ConvKernels::convTransposeF32, ConvKernels::convTransposeDouble);
    }

    /** A convolution over float[] that adds the bias (null: none) itself. */
    private interface F32Convolution {
        float[] apply(float[] x, float[] w, float[] bias, Layer layer);
    }

    /** A convolution over double[]; the bias is added afterwards. */
    private interface DoubleConvolution {
        double[] apply(double[] x, double[] w, Layer layer);
    }

    /** Runs a layer on the node's X, W and optional B: f32 through float[], every other dtype in double. */
    private static List<Tensor> run(KernelContext ctx, Layer layer, F32Convolution f32, DoubleConvolution other) {
        Tensor x = ctx.input(0);
        Tensor w = ctx.input(1);
        Tensor bias = ctx.optionalInput(2);
        checkBias(ctx, bias, layer.outChannels());
        long[] ys = layer.outputShape();
        if (x.dtype() == DType.F32) {
            return List.of(Tensor.ofFloats(f32.apply(x.toFloatArray(), w.toFloatArray(), bias == null ? null : bias.toFloatArray(), layer), ys));
        }
        double[] y = other.apply(x.toDoubleArray(), w.toDoubleArray(), layer);
        addBias(y, bias, layer);
        return List.of(NnArrays.fromDoubles(x.dtype(), ys, y));
    }

    /**
     * CausalConvWithState: each channel of (batch, channels, length) convolved with its own k taps
     * over [past state (or zeros), input], optionally followed by SiLU; the last k - 1 positions of
     * that sequence are the new state.
     */
    static List<Tensor> causalConvWithState(KernelContext ctx) {
        Tensor x = ctx.input(0);
        Tensor w = ctx.input(1);
        Tensor bias = ctx.optionalInput(2);
        Tensor past = ctx.optionalInput(3);
        long[] xs = x.shape();
        int batch = (int) xs[0];
        int channels = (int) xs[1];
        int length = (int) xs[2];
        int k = (int) w.dim(2);
        if (w.dim(0) != channels || w.dim(1) != 1) throw ctx.fail("weight of shape " + Arrays.toString(w.shape()) + " must be (" + channels + ", 1, k)");
        checkBias(ctx, bias, channels);
        long[] stateShape = {batch, channels, k - 1};
        if (past != null && !Arrays.equals(past.shape(), stateShape)) {
            throw ctx.fail("past_state of shape " + Arrays.toString(past.shape()) + " must be " + Arrays.toString(stateShape));
        }
        boolean silu = !ctx.stringAttr("activation").equals("none");
        double[] xv = x.toDoubleArray();
        double[] wv = w.toDoubleArray();
        double[] bv = bias == null ? null : bias.toDoubleArray();
        double[] pv = past == null ? new double[batch * channels * (k - 1)] : past.toDoubleArray();
        double[] y = new double[xv.length];
        double[] state = new double[pv.length];
        double[] sequence = new double[k - 1 + length];
        for (int plane = 0; plane < batch * channels; plane++) {
            int c = plane % channels;
            System.arraycopy(pv, plane * (k - 1), sequence, 0, k - 1);
            System.arraycopy(xv, plane * length, sequence, k - 1, length);
            for (int t = 0; t < length; t++) {
                double sum = bv == null ? 0 : bv[c];
                for (int j = 0; j < k; j++) sum += sequence[t + j] * wv[c * k + j];
                y[plane * length + t] = silu ? sum / (1 + Math.exp(-sum)) : sum;
            }
            System.arraycopy(sequence, length, state, plane * (k - 1), k - 1);
        }
        Tensor out = NnArrays.fromDoubles(x.dtype(), xs, y);
        return ctx.outputCount() == 1 ? List.of(out) : List.of(out, NnArrays.fromDoubles(x.dtype(), stateShape, state));
    }

    /** kernel_shape when given (it must match the weights), else the weights' spatial sizes. */
    private static long[] kernelShape(KernelContext ctx, long[] ws) {
        long[] fromWeights = NnArrays.tail(ws, 2);
        long[] k = ctx.intsAttr("kernel_shape");
        if (k != null && !Arrays.equals(k, fromWeights)) {
            throw ctx.fail("kernel_shape " + Arrays.toString(k) + " does not match weights of shape " + Arrays.toString(ws));
        }
        return fromWeights;
    }

    private static void checkBias(KernelContext ctx, Tensor bias, long outChannels) {
        if (bias != null && (bias.rank() != 1 || bias.dim(0) != outChannels)) {
            throw ctx.fail("bias of shape " + Arrays.toString(bias.shape()) + " must be a vector of " + outChannels + " values");
        }
    }

    /** Adds bias value c (none when bias is null) to every element of output channel c of the layer's output y. */
    static void addBias(double[] y, Tensor bias, Layer layer) {
        if (bias == null) return;
        double[] b = bias.toDoubleArray();
        int planeSize = layer.geometry().outputSize();
        int channels = layer.outChannels();
        for (int i = 0; i < y.length; i++) y[i] += b[(i / planeSize) % channels];
    }

    private static float[] convF32(float[] x, float[] w, float[] bias, Layer layer) {
        ConvGeometry g = layer.geometry();
        int m = layer.outChannels();
        int p = g.outputSize();
        float[] y = new float[layer.batch() * m * p];
        if (bias != null) {
            for (int plane = 0; plane < layer.batch() * m; plane++) Arrays.fill(y, plane * p, (plane + 1) * p, bias[plane % m]);
        }
        if (layer.inPerGroup() == 1 && g.input().length == 2) {
            depthwise2d(x, w, y, layer);
            return y;
        }
        int cg = layer.inPerGroup();
        int mg = layer.outPerGroup();
        int s = g.inputSize();
        int q = g.kernelSize();
        int depth = cg * q;
        if (g.isPointwise()) {
            for (int b = 0; b < layer.batch(); b++) {
                for (int gi = 0; gi < layer.group(); gi++) {
                    GemmF32.multiplyAdd(mg, p, depth, w, gi * mg * depth, depth,
                            x, (b * layer.inChannels() + gi * cg) * s, p, y, (b * m + gi * mg) * p, p);
                }
            }
            return y;
        }
        int[] taps = g.windowTaps();
        // The unfolded windows are made for a band of output positions at a time, to bound their memory.
        int band = Math.max(1, Math.min(p, IM2COL_FLOATS / depth));
        float[] col = new float[depth * band];
        for (int b = 0; b < layer.batch(); b++) {
            for (int gi = 0; gi < layer.group(); gi++) {
                int xOff = (b * layer.inChannels() + gi * cg) * s;
                for (int p0 = 0; p0 < p; p0 += band) {
                    int width = Math.min(band, p - p0);
                    im2col(x, xOff, s, cg, taps, q, p, p0, width, col);
                    GemmF32.multiplyAdd(mg, width, depth, w, gi * mg * depth, depth, col, 0, width, y, (b * m + gi * mg) * p + p0, p);
                }
            }
        }
        return y;
    }

    /**
     * Unfolds the windows of cg channels at output positions [p0, p0 + width) into rows
     * (channel, tap) x columns (output position).
     */
    private static void im2col(float[] x, int xOff, int s, int cg, int[] taps, int q, int p, int p0, int width, float[] col) {
        NnArrays.forEach(cg, (long) cg * q * width, ci -> {
            int xb = xOff + ci * s;
            for (int qi = 0; qi < q; qi++) {
                int row = (ci * q + qi) * width;
                int tb = qi * p + p0;
                for (int j = 0; j < width; j++) {
                    int idx = taps[tb + j];
                    col[row + j] = idx < 0 ? 0f : x[xb + idx];
                }
            }
        });
    }

    /** 2-D convolution where every output channel reads a single input channel; innermost loop along the output row. */
    private static void depthwise2d(float[] x, float[] w, float[] y, Layer layer) {
        ConvGeometry g = layer.geometry();
        int h = (int) g.input()[0];
        int wd = (int) g.input()[1];
        int oh = (int) g.output()[0];
        int ow = (int) g.output()[1];
        int kh = (int) g.kernel()[0];
        int kw = (int) g.kernel()[1];
        int sh = (int) g.strides()[0];
        int sw = (int) g.strides()[1];
        int dh = (int) g.dilations()[0];
        int dw = (int) g.dilations()[1];
        int ph = (int) g.padsBegin()[0];
        int pw = (int) g.padsBegin()[1];
        int m = layer.outChannels();
        int mg = layer.outPerGroup();
        int planes = layer.batch() * m;
        NnArrays.forEach(planes, (long) planes * oh * ow * kh * kw, plane -> {
            int oc = plane % m;
            int xOff = ((plane / m) * layer.inChannels() + oc / mg) * h * wd;
            int yOff = plane * oh * ow;
            int wOff = oc * kh * kw;
            for (int i = 0; i < oh; i++) {
                int yRow = yOff + i * ow;
                for (int u = 0; u < kh; u++) {
                    int ih = i * sh + u * dh - ph;
                    if (ih < 0 || ih >= h) continue;
                    int xRow = xOff + ih * wd;
                    for (int v = 0; v < kw; v++) {
                        float wv = w[wOff + u * kw + v];
                        // Output column j reads input column j * sw + shift; keep it inside the row.
                        int shift = v * dw - pw;
                        int j0 = shift >= 0 ? 0 : Math.floorDiv(-shift + sw - 1, sw);
                        int j1 = Math.min(ow, Math.floorDiv(wd - 1 - shift, sw) + 1);
                        if (sw == 1) {
                            int base = xRow + shift;
                            for (int j = j0; j < j1; j++) y[yRow + j] += wv * x[base + j];
                        } else {
                            for (int j = j0; j < j1; j++) y[yRow + j] += wv * x[xRow + j * sw + shift];
                        }
                    }
                }
            }
        });
    }

    static double[] convDouble(double[] x, double[] w, Layer layer) {
        ConvGeometry g = layer.geometry();
        int cg = layer.inPerGroup();
        int mg = layer.outPerGroup();
        int m = layer.outChannels();
        int s = g.inputSize();
        int p = g.outputSize();
        int q = g.kernelSize();
        int[] taps = g.windowTaps();
        double[] y = new double[layer.batch() * m * p];
        int planes = layer.batch() * m;
        NnArrays.forEach(planes, (long) planes * cg * q * p, plane -> {
            int b = plane / m;
            int oc = plane % m;
            int yOff = plane * p;
            for (int ci = 0; ci < cg; ci++) {
                int xb = (b * layer.inChannels() + (oc / mg) * cg + ci) * s;
                int wb = (oc * cg + ci) * q;
                for (int qi = 0; qi < q; qi++) {
                    double wv = w[wb + qi];
                    int tb = qi * p;
                    for (int pi = 0; pi < p; pi++) {
                        int idx = taps[tb + pi];
                        if (idx >= 0) y[yOff + pi] += wv * x[xb + idx];
                    }
                }
            }
        });
        return y;
    }

    /** ConvTranspose as GEMM (W^T X per group) followed by a scatter-add of the columns into the output. */
    private static float[] convTransposeF32(float[] x, float[] w, float[] bias, Layer layer) {
        ConvGeometry g = layer.geometry();
        int cg = layer.inPerGroup();
        int mg = layer.outPerGroup();
        int m = layer.outChannels();
        int s = g.inputSize();
        int o = g.outputSize();
        int q = g.kernelSize();
        int[] taps = g.scatterTaps();
        float[] y = new float[layer.batch() * m * o];
        float[] col = new float[mg * q * s];
        for (int gi = 0; gi < layer.group(); gi++) {
            float[] wt = GemmF32.transpose(w, gi * cg * mg * q, cg, mg * q);
            for (int b = 0; b < layer.batch(); b++) {
                Arrays.fill(col, 0f);
                GemmF32.multiplyAdd(mg * q, s, cg, wt, 0, cg, x, (b * layer.inChannels() + gi * cg) * s, s, col, 0, s);
                int yGroup = (b * m + gi * mg) * o;
                NnArrays.forEach(mg, (long) mg * q * s, mi -> {
                    int yb = yGroup + mi * o;
                    for (int qi = 0; qi < q; qi++) {
                        int cb = (mi * q + qi) * s;
                        int tb = qi * s;
                        for (int pi = 0; pi < s; pi++) {
                            int idx = taps[tb + pi];
                            if (idx >= 0) y[yb + idx] += col[cb + pi];
                        }
                    }
                });
            }
        }
        if (bias != null) {
            for (int i = 0; i < y.length; i++) y[i] += bias[(i / o) % m];
        }
        return y;
    }

    private static double[] convTransposeDouble(double[] x, double[] w, Layer layer) {
        ConvGeometry g = layer.geometry();
        int cg = layer.inPerGroup();
        int mg = layer.outPerGroup();
        int m = layer.outChannels();
        int s = g.inputSize();
        int o = g.outputSize();
        int q = g.kernelSize();
        int[] taps = g.scatterTaps();
        double[] y = new double[layer.batch() * m * o];
        int planes = layer.batch() * m;
        NnArrays.forEach(planes, (long) planes * cg * q * s, plane -> {
            int b = plane / m;
            int gi = (plane % m) / mg;
            int mi = (plane % m) % mg;
            int yb = plane * o;
            for (int ci = 0; ci < cg; ci++) {
                int xb = (b * layer.inChannels() + gi * cg + ci) * s;
                int wb = ((gi * cg + ci) * mg + mi) * q;
                for (int qi = 0; qi < q; qi++) {
                    double wv = w[wb + qi];
                    int tb = qi * s;
                    for (int pi = 0; pi < s; pi++) {
                        int idx = taps[tb + pi];
                        if (idx >= 0) y[yb + idx] += wv * x[xb + pi];
                    }
                }
            }
        });
        return y;
    }
}
