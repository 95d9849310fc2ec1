package dev.kiln.runtime.interpreter;

import dev.kiln.runtime.Tensor;

import java.util.Arrays;

import static dev.kiln.runtime.interpreter.ShapeBytes.elementOf;
import static dev.kiln.runtime.interpreter.ShapeBytes.gather;
import static dev.kiln.runtime.interpreter.ShapeBytes.identityOffsets;
import static dev.kiln.runtime.interpreter.ShapeBytes.strides;

/**
 * Resize (ONNX 19): nearest, N-linear and N-cubic interpolation, one axis at a time. Every output
 * coordinate maps to a real input coordinate by the coordinate transformation mode; the taps around
 * it (edge-clamped) and their weights follow the ONNX reference implementation, so that antialias,
 * exclude_outside and the nearest rounding modes agree with it.
 */
final class ResizeKernel {
    private ResizeKernel() {}

    /** The input positions and weights that make up each output coordinate of one axis. */
    private record Taps(int[][] index, double[][] weight, boolean[] outside) {}

    static Tensor resize(KernelContext ctx) {
        Tensor x = ctx.input(0);
        int rank = x.rank();
        long[] inShape = x.shape();
        int[] axes = axes(ctx, rank);
        Tensor scales = nonEmpty(ctx.optionalInput(2));
        Tensor sizes = nonEmpty(ctx.optionalInput(3));
        if ((scales == null) == (sizes == null)) throw ctx.fail("exactly one of scales and sizes must be given");
        double[] scale = new double[rank];
        Arrays.fill(scale, 1.0);
        long[] outShape = inShape.clone();
        if (sizes != null) {
            long[] given = sizes.toLongArray();
            if (given.length != axes.length) throw ctx.fail("sizes " + Arrays.toString(given) + " do not match " + axes.length + " axes");
            for (int i = 0; i < axes.length; i++) {
                scale[axes[i]] = (double) given[i] / inShape[axes[i]];
                outShape[axes[i]] = given[i];
            }
            String policy = ctx.stringAttr("keep_aspect_ratio_policy");
            if (!policy.equals("stretch")) {
                double s = scale[axes[0]];
                for (int a : axes) s = policy.equals("not_larger") ? Math.min(s, scale[a]) : Math.max(s, scale[a]);
                for (int a : axes) {
                    scale[a] = s;
                    outShape[a] = (long) Math.floor(s * inShape[a] + 0.5);
                }
            }
        } else {
            float[] given = scales.toFloatArray();
            if (given.length != axes.length) throw ctx.fail("scales " + Arrays.toString(given) + " do not match " + axes.length + " axes");
            for (int i = 0; i < axes.length; i++) {
                if (!(given[i] > 0)) throw ctx.fail("scale " + given[i] + " is not positive");
                scale[axes[i]] = given[i];
                outShape[axes[i]] = (long) Math.floor(inShape[axes[i]] * (double) given[i]);
            }
        }
        String transform = ctx.stringAttr("coordinate_transformation_mode");
        double[] roi = roi(ctx, rank, axes, transform);
        Taps[] taps = new Taps[rank];
        for (int a : axes) {
            boolean identity = outShape[a] == inShape[a] && scale[a] == 1.0 && !transform.equals("tf_crop_and_resize");
            if (!identity) taps[a] = taps(ctx, transform, inShape[a], outShape[a], scale[a], sizes == null, roi[a], roi[rank + a]);
        }
        double extrapolation = ctx.floatAttr("extrapolation_value");
        if (ctx.stringAttr("mode").equals("nearest")) return nearest(x, outShape, taps, extrapolation);
        double[] data = x.toDoubleArray();
        long[] shape = inShape.clone();
        for (int a = 0; a < rank; a++) {
            if (taps[a] == null) continue;
            data = resample(data, shape, a, outShape[a], taps[a], extrapolation);
            shape[a] = outShape[a];
        }
        Tensor out = Tensor.allocate(x.dtype(), outShape);
        for (int i = 0; i < data.length; i++) out.setDouble(i, data[i]);
        return out;
    }

    private static int[] axes(KernelContext ctx, int rank) {
        long[] given = ctx.intsAttr("axes");
        int[] axes = new int[given == null ? rank : given.length];
        for (int i = 0; i < axes.length; i++) axes[i] = given == null ? i : ctx.axis(given[i], rank);
        return axes;
    }

    private static Tensor nonEmpty(Tensor t) {
        return t == null || t.size() == 0 ? null : t;
    }

    /** Region of interest as [start_0..start_r-1, end_0..end_r-1] in normalised input coordinates. */
    private static double[] roi(KernelContext ctx, int rank, int[] axes, String transform) {
        double[] roi = new double[2 * rank];
        Arrays.fill(roi, rank, 2 * rank, 1.0);
        Tensor given = nonEmpty(ctx.optionalInput(1));
        if (given == null || !transform.equals("tf_crop_and_resize")) return roi;
        if (given.size() != 2 * axes.length) throw ctx.fail("roi has " + given.size() + " values for " + axes.length + " axes");
        for (int i = 0; i < axes.length; i++) {
            roi[axes[i]] = given.getDouble(i);
            roi[rank + axes[i]] = given.getDouble(axes.length + i);
        }
        return roi;
    }

    private static Taps taps(KernelContext ctx, String transform, long inLen, long outLen, double scale, boolean fromScales,
                             double roiStart, double roiEnd) {
        String mode = ctx.stringAttr("mode");
        boolean antialias = ctx.intAttr("antialias") != 0;
        boolean excludeOutside = ctx.intAttr("exclude_outside") != 0;
        double cubicA = ctx.floatAttr("cubic_coeff_a");
        String nearestMode = ctx.stringAttr("nearest_mode");
        // The fractional output length; with scales it is an f32 product, as in the reference.
        double outWidth = fromScales ? (float) (scale * inLen) : scale * inLen;
        int n = (int) outLen;
        int[][] index = new int[n][];
        double[][] weight = new double[n][];
        boolean[] outside = new boolean[n];
        for (int o = 0; o < n; o++) {
            double xOri = switch (transform) {
                case "half_pixel" -> (o + 0.5) / scale - 0.5;
                case "half_pixel_symmetric" -> {
                    double offset = inLen / 2.0 * (1 - outLen / outWidth);
                    yield offset + (o + 0.5) / scale - 0.5;
                }
                case "pytorch_half_pixel" -> outWidth == 1 ? -0.5 : (o + 0.5) / scale - 0.5;
                case "align_corners" -> outWidth == 1 ? 0 : o * (inLen - 1) / (outWidth - 1);
                case "asymmetric" -> o / scale;
                case "tf_crop_and_resize" -> (outWidth == 1 ? (roiEnd - roiStart) * (inLen - 1) / 2
                        : o * (roiEnd - roiStart) * (inLen - 1) / (outWidth - 1)) + roiStart * (inLen - 1);
                default -> throw ctx.fail("unknown coordinate_transformation_mode '" + transform + "'");
            };
            if (transform.equals("tf_crop_and_resize") && (xOri < 0 || xOri > inLen - 1)) {
                outside[o] = true;
                continue;
            }
            // The taps start left of xOri; an integral xOri counts as ratio 1 from the tap before it.
            double floor = Math.floor(xOri);
            boolean integral = xOri == floor;
            double ratio = integral ? 1 : xOri - floor;
            long base = (long) floor - (integral ? 1 : 0);
            double[] w = switch (mode) {
                case "nearest" -> nearest(ctx, nearestMode, ratio, integral);
                case "linear" -> antialias ? linearAntialias(ratio, scale) : new double[] {1 - ratio, ratio};
                case "cubic" -> antialias ? cubicAntialias(ratio, scale, cubicA) : cubic(ratio, cubicA);
                default -> throw ctx.fail("unknown mode '" + mode + "'");
            };
            long first = base - (w.length / 2 - 1);
            int[] idx = new int[w.length];
            double sum = 0;
            for (int j = 0; j < w.length; j++) {
                long i = first + j;
                if (excludeOutside && (i < 0 || i >= inLen)) w[j] = 0;
                sum += w[j];
                idx[j] = (int) Math.max(0, Math.min(i, inLen - 1));
            }
            if (excludeOutside) for (int j = 0; j < w.length; j++) w[j] /= sum;
            index[o] = idx;
            weight[o] = w;
        }
        return new Taps(index, weight, outside);
    }

    private static double[] nearest(KernelContext ctx, String nearestMode, double ratio, boolean integral) {
        if (integral) return new double[] {0, 1};
        boolean right = switch (nearestMode) {
            case "round_prefer_floor" -> ratio > 0.5;
            case "round_prefer_ceil" -> ratio >= 0.5;
            case "floor" -> false;
            case "ceil" -> true;
            default -> throw ctx.fail("unknown nearest_mode '" + nearestMode + "'");
        };
        return right ? new double[] {0, 1} : new double[] {1, 0};
    }

    private static double[] cubic(double r, double a) {
        double s = 1 - r;
        return new double[] {
            ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a,
            ((a + 2) * r - (a + 3)) * r * r + 1,
            ((a + 2) * s - (a + 3)) * s * s + 1,
            ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a,
        };
    }

    /** The linear (triangle) filter stretched by 1/scale when downscaling, normalised. */
    private static double[] linearAntialias(double ratio, double scale) {
        double s = Math.min(scale, 1.0);
        int start = (int) Math.floor(-1 / s) + 1;
        double[] w = new double[2 - 2 * start];
        double sum = 0;
        for (int j = 0; j < w.length; j++) {
            w[j] = Math.max(0, Math.min(1, 1 - Math.abs((start + j - ratio) * s)));
            sum += w[j];
        }
        for (int j = 0; j < w.length; j++) w[j] /= sum;
        return w;
    }

    /** The cubic filter stretched by 1/scale when downscaling, normalised. */
    private static double[] cubicAntialias(double ratio, double scale, double a) {
        double s = Math.min(scale, 1.0);
        int start = (int) Math.floor(-2 / s) + 1;
        double[] w = new double[2 - 2 * start];
        double sum = 0;
        for (int j = 0; j < w.length; j++) {
            double x = Math.abs(s * (start + j - ratio));
            w[j] = x <= 1 ? (a + 2) * x * x * x - (a + 3) * x * x + 1
                    : x < 2 ? a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a : 0;
            sum += w[j];
        }
        for (int j = 0; j < w.length; j++) w[j] /= sum;
        return w;
    }

    /** Nearest picks one input element per axis, so it is a pure gather and exact for every dtype. */
    private static Tensor nearest(Tensor x, long[] outShape, Taps[] taps, double extrapolation) {
        long[] strides = strides(x.shape());
        long[][] offsets = new long[outShape.length][];
        for (int a = 0; a < outShape.length; a++) {
            if (taps[a] == null) {
                offsets[a] = identityOffsets(outShape[a], strides[a]);
                continue;
            }
            offsets[a] = new long[(int) outShape[a]];
            for (int o = 0; o < outShape[a]; o++) {
                Taps t = taps[a];
                offsets[a][o] = t.outside()[o] ? -1 : (t.weight()[o][0] > t.weight()[o][1] ? t.index()[o][0] : t.index()[o][1]) * strides[a];
            }
        }
        return gather(x, outShape, offsets, elementOf(x.dtype(), extrapolation));
    }

    /** Interpolates along one axis: each output line is the weighted sum of its taps' input lines. */
    private static double[] resample(double[] src, long[] shape, int axis, long outLen, Taps taps, double extrapolation) {
        long outer = 1;
        for (int d = 0; d < axis; d++) outer *= shape[d];
        long inner = 1;
        for (int d = axis + 1; d < shape.length; d++) inner *= shape[d];
        long inLen = shape[axis];
        double[] dst = new double[Math.toIntExact(outer * outLen * inner)];
        int line = (int) inner;
        for (long o = 0; o < outer; o++) {
            for (int x = 0; x < outLen; x++) {
                int to = (int) ((o * outLen + x) * inner);
                if (taps.outside()[x]) {
                    Arrays.fill(dst, to, to + line, extrapolation);
                    continue;
                }
                int[] idx = taps.index()[x];
                double[] w = taps.weight()[x];
                for (int j = 0; j < idx.length; j++) {
                    int from = (int) ((o * inLen + idx[j]) * inner);
                    for (int e = 0; e < line; e++) dst[to + e] += w[j] * src[from + e];
                }
            }
        }
        return dst;
    }
}
