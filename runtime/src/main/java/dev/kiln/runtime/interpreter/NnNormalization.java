package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.runtime.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * BatchNormalization, InstanceNormalization, GroupNormalization, LayerNormalization,
 * RMSNormalization and LRN. Statistics are computed in double; where ONNX casts the normalized
 * value back to the input type before scaling, so do these kernels (it matters for f16).
 */
final class NnNormalization {
    private NnNormalization() {}

    static List<Tensor> batchNormalization(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long[] xs = x.shape();
        int batch = (int) xs[0];
        int channels = xs.length > 1 ? (int) xs[1] : 1;
        int inner = (int) NnArrays.product(xs, 2, xs.length);
        double[] v = x.toDoubleArray();
        double[] scale = ctx.input(1).toDoubleArray();
        double[] bias = ctx.input(2).toDoubleArray();
        double[] mean = ctx.input(3).toDoubleArray();
        double[] var = ctx.input(4).toDoubleArray();
        double epsilon = ctx.floatAttr("epsilon");
        boolean training = ctx.intAttr("training_mode") != 0;
        double[] useMean = mean;
        double[] useVar = var;
        if (training) {
            useMean = new double[channels];
            useVar = new double[channels];
            for (int c = 0; c < channels; c++) {
                double sum = 0;
                for (int b = 0; b < batch; b++) {
                    for (int i = 0, at = (b * channels + c) * inner; i < inner; i++) sum += v[at + i];
                }
                double m = sum / ((double) batch * inner);
                double squares = 0;
                for (int b = 0; b < batch; b++) {
                    for (int i = 0, at = (b * channels + c) * inner; i < inner; i++) squares += (v[at + i] - m) * (v[at + i] - m);
                }
                useMean[c] = m;
                useVar[c] = squares / ((double) batch * inner);
            }
        }
        double[] y = new double[v.length];
        for (int c = 0; c < channels; c++) {
            double a = scale[c] / Math.sqrt(useVar[c] + epsilon);
            double shift = bias[c] - useMean[c] * a;
            for (int b = 0; b < batch; b++) {
                for (int i = 0, at = (b * channels + c) * inner; i < inner; i++) y[at + i] = v[at + i] * a + shift;
            }
        }
        List<Tensor> out = new ArrayList<>(List.of(NnArrays.fromDoubles(x.dtype(), xs, y)));
        double momentum = ctx.floatAttr("momentum");
        double[][] running = {mean, var};
        double[][] current = {useMean, useVar};
        for (int k = 1; k < ctx.outputCount(); k++) {
            double[] r = new double[channels];
            for (int c = 0; c < channels; c++) r[c] = running[k - 1][c] * momentum + current[k - 1][c] * (1 - momentum);
            out.add(NnArrays.fromDoubles(ctx.outputDType(k), new long[] {channels}, r));
        }
        return out;
    }

    static List<Tensor> instanceNormalization(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long[] xs = x.shape();
        int channels = (int) xs[1];
        return List.of(groupNormalize(ctx, x, channels, channels, ctx.input(1).toDoubleArray(), ctx.input(2).toDoubleArray()));
    }

    static List<Tensor> groupNormalization(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long groups = ctx.intAttr("num_groups");
        int channels = (int) x.dim(1);
        if (groups < 1 || channels % groups != 0) throw ctx.fail(channels + " channels are not divisible into " + groups + " groups");
        return List.of(groupNormalize(ctx, x, channels, (int) groups, ctx.input(1).toDoubleArray(), ctx.input(2).toDoubleArray()));
    }

    /** Normalizes each (batch, group of channels) block of x, then scales and shifts per channel. */
    private static Tensor groupNormalize(KernelContext ctx, Tensor x, int channels, int groups, double[] scale, double[] bias) {
        long[] xs = x.shape();
        if (scale.length != channels || bias.length != channels) {
            throw ctx.fail("scale and bias need " + channels + " values, got " + scale.length + " and " + bias.length);
        }
        int inner = (int) NnArrays.product(xs, 2, xs.length);
        int block = channels / groups * inner;
        double epsilon = ctx.floatAttr("epsilon");
        DType t = x.dtype();
        double[] v = x.toDoubleArray();
        double[] y = new double[v.length];
        for (int start = 0; start < v.length; start += block) {
            double[] stats = meanAndInvStdDev(v, start, block, epsilon);
            for (int i = start; i < start + block; i++) {
                int c = (i / inner) % channels;
                y[i] = scaleAndShift(t, (v[i] - stats[0]) * stats[1], scale[c], bias[c]);
            }
        }
        return NnArrays.fromDoubles(t, xs, y);
    }

    static List<Tensor> layerNormalization(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long[] xs = x.shape();
        int axis = ctx.axis(ctx.intAttr("axis"), xs.length);
        int inner = (int) NnArrays.product(xs, axis, xs.length);
        int outer = (int) NnArrays.product(xs, 0, axis);
        double epsilon = ctx.floatAttr("epsilon");
        DType t = x.dtype();
        double[] v = x.toDoubleArray();
        double[] scale = ctx.input(1).toDoubleArray();
        int[] scaleAt = NnArrays.broadcastIndex(ctx, ctx.input(1).shape(), xs);
        Tensor b = ctx.optionalInput(2);
        double[] bias = b == null ? null : b.toDoubleArray();
        int[] biasAt = b == null ? null : NnArrays.broadcastIndex(ctx, b.shape(), xs);
        double[] y = new double[v.length];
        double[] means = new double[outer];
        double[] invStdDevs = new double[outer];
        for (int o = 0; o < outer; o++) {
            double[] stats = meanAndInvStdDev(v, o * inner, inner, epsilon);
            means[o] = stats[0];
            invStdDevs[o] = stats[1];
            for (int i = o * inner; i < (o + 1) * inner; i++) {
                y[i] = scaleAndShift(t, (v[i] - stats[0]) * stats[1], scale[scaleAt[i]], bias == null ? 0 : bias[biasAt[i]]);
            }
        }
        List<Tensor> out = new ArrayList<>(List.of(NnArrays.fromDoubles(t, xs, y)));
        long[] statsShape = xs.clone();
        for (int d = axis; d < statsShape.length; d++) statsShape[d] = 1;
        if (ctx.outputCount() > 1) out.add(NnArrays.fromDoubles(ctx.outputDType(1), statsShape, means));
        if (ctx.outputCount() > 2) out.add(NnArrays.fromDoubles(ctx.outputDType(2), statsShape, invStdDevs));
        return out;
    }

    static List<Tensor> rmsNormalization(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long[] xs = x.shape();
        int axis = ctx.axis(ctx.intAttr("axis"), xs.length);
        int inner = (int) NnArrays.product(xs, axis, xs.length);
        double epsilon = ctx.floatAttr("epsilon");
        double[] v = x.toDoubleArray();
        double[] scale = ctx.input(1).toDoubleArray();
        int[] scaleAt = NnArrays.broadcastIndex(ctx, ctx.input(1).shape(), xs);
        DType yType = ctx.outputDType(0);
        double[] y = new double[v.length];
        for (int start = 0; start < v.length; start += inner) {
            double squares = 0;
            for (int i = start; i < start + inner; i++) squares += v[i] * v[i];
            double inverseRms = 1 / Math.sqrt(squares / inner + epsilon);
            for (int i = start; i < start + inner; i++) {
                y[i] = NnArrays.roundTo(x.dtype(), v[i] * inverseRms) * scale[scaleAt[i]];
            }
        }
        return List.of(NnArrays.fromDoubles(yType, xs, y));
    }

    static List<Tensor> lrn(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long[] xs = x.shape();
        int channels = (int) xs[1];
        int inner = (int) NnArrays.product(xs, 2, xs.length);
        long size = ctx.intAttr("size");
        double alpha = ctx.floatAttr("alpha");
        double beta = ctx.floatAttr("beta");
        double bias = ctx.floatAttr("bias");
        int below = (int) ((size - 1) / 2);
        int above = (int) (size / 2);
        double[] v = x.toDoubleArray();
        double[] y = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            int c = (i / inner) % channels;
            int planeStart = i - c * inner;
            double squares = 0;
            for (int k = Math.max(0, c - below); k <= Math.min(channels - 1, c + above); k++) {
                double e = v[planeStart + k * inner];
                squares += e * e;
            }
            y[i] = v[i] / Math.pow(bias + alpha / size * squares, beta);
        }
        return List.of(NnArrays.fromDoubles(x.dtype(), xs, y));
    }

    /** {mean, 1 / sqrt(population variance + epsilon)} of v[from, from + n). */
    private static double[] meanAndInvStdDev(double[] v, int from, int n, double epsilon) {
        double sum = 0;
        for (int i = from; i < from + n; i++) sum += v[i];
        double mean = sum / n;
        double squares = 0;
        for (int i = from; i < from + n; i++) squares += (v[i] - mean) * (v[i] - mean);
        return new double[] {mean, 1 / Math.sqrt(squares / n + epsilon)};
    }

    /** normalized * scale + bias with each step rounded to t, as ONNX's second stage computes it in t. */
    private static double scaleAndShift(DType t, double normalized, double scale, double bias) {
        return NnArrays.roundTo(t, NnArrays.roundTo(t, NnArrays.roundTo(t, normalized) * scale) + bias);
    }
}
