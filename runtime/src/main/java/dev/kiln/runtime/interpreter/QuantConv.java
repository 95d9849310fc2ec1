package dev.kiln.runtime.interpreter;

import java.util.Arrays;

/**
 * N-D grouped convolution over 32-bit integers, shared by QLinearConv and ConvInteger: the
 * Conv attributes (auto_pad, dilations, group, kernel_shape, pads, strides) resolved for one
 * input and weight shape. Accumulation wraps in 32 bits, as ONNX allows.
 */
final class QuantConv {
    final long[] outShape;
    private final long[] inShape;
    private final long[] weightShape;
    private final int spatial;
    private final int group;
    private final long[] strides;
    private final long[] dilations;
    private final long[] padsBegin;

    QuantConv(KernelContext ctx, long[] inShape, long[] weightShape) {
        this.inShape = inShape;
        this.weightShape = weightShape;
        this.spatial = inShape.length - 2;
        if (spatial < 1 || weightShape.length != inShape.length) {
            throw ctx.fail("input " + Arrays.toString(inShape) + " and weights " + Arrays.toString(weightShape) + " do not form a convolution");
        }
        this.group = (int) ctx.intAttr("group");
        if (group < 1 || inShape[1] != weightShape[1] * group || weightShape[0] % group != 0) {
            throw ctx.fail("input channels " + inShape[1] + ", weight shape " + Arrays.toString(weightShape) + " and group " + group + " do not agree");
        }
        long[] kernel = ctx.intsAttr("kernel_shape");
        if (kernel != null && !Arrays.equals(kernel, Arrays.copyOfRange(weightShape, 2, weightShape.length))) {
            throw ctx.fail("kernel_shape " + Arrays.toString(kernel) + " differs from the weight shape " + Arrays.toString(weightShape));
        }
        this.strides = ints(ctx, "strides", spatial, 1);
        this.dilations = ints(ctx, "dilations", spatial, 1);
        long[] pads = ints(ctx, "pads", 2 * spatial, 0);
        String autoPad = ctx.stringAttr("auto_pad");
        this.padsBegin = new long[spatial];
        this.outShape = new long[inShape.length];
        outShape[0] = inShape[0];
        outShape[1] = weightShape[0];
        for (int d = 0; d < spatial; d++) {
            long in = inShape[2 + d];
            long extent = (weightShape[2 + d] - 1) * dilations[d] + 1;
            long out;
            switch (autoPad) {
                case "NOTSET" -> {
                    padsBegin[d] = pads[d];
                    out = Math.floorDiv(in + pads[d] + pads[d + spatial] - extent, strides[d]) + 1;
                }
                case "VALID" -> out = Math.floorDiv(in - extent, strides[d]) + 1;
                case "SAME_UPPER", "SAME_LOWER" -> {
                    out = (in + strides[d] - 1) / strides[d];
                    long needed = Math.max(0, (out - 1) * strides[d] + extent - in);
                    padsBegin[d] = autoPad.equals("SAME_UPPER") ? needed / 2 : (needed + 1) / 2;
                }
                default -> throw ctx.fail("auto_pad '" + autoPad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
            }
            if (out < 1) throw ctx.fail("the kernel of extent " + extent + " does not fit spatial axis " + d + " of size " + in);
            outShape[2 + d] = out;
        }
    }

    private static long[] ints(KernelContext ctx, String name, int count, long fallback) {
        long[] v = ctx.intsAttr(name);
        if (v == null) {
            v = new long[count];
            Arrays.fill(v, fallback);
        } else if (v.length != count) {
            throw ctx.fail(name + " has " + v.length + " values; expected " + count);
        }
        return v;
    }

    /**
     * Convolves x (already shifted by its zero point) with w (likewise), adding bias[m] (or
     * nothing when bias is null) to each output channel m.
     */
    int[] run(int[] x, int[] w, int[] bias) {
        int batch = (int) inShape[0];
        int channels = (int) inShape[1];
        int outChannels = (int) weightShape[0];
        int groupIn = channels / group;
        int groupOut = outChannels / group;
        int inSpatial = (int) product(inShape, 2);
        int kernelSize = (int) product(weightShape, 2);
        int outSpatial = (int) product(outShape, 2);
        // Per kernel position: its offset along each spatial axis (dilated) and its flat offset in x.
        long[][] kernelOffsets = new long[kernelSize][spatial];
        int[] kernelFlat = new int[kernelSize];
        int[] k = new int[spatial];
        for (int p = 0; p < kernelSize; p++) {
            int flat = 0;
            for (int d = 0; d < spatial; d++) {
                kernelOffsets[p][d] = k[d] * dilations[d];
                flat = (int) (flat * inShape[2 + d] + kernelOffsets[p][d]);
            }
            kernelFlat[p] = flat;
            next(k, weightShape);
        }
        int[] y = new int[batch * outChannels * outSpatial];
        long[] origin = new long[spatial];
        int[] o = new int[spatial];
        for (int pos = 0; pos < outSpatial; pos++) {
            int originFlat = 0;
            boolean inside = true;
            for (int d = 0; d < spatial; d++) {
                origin[d] = o[d] * strides[d] - padsBegin[d];
                originFlat = (int) (originFlat * inShape[2 + d] + origin[d]);
            }
            for (int p = 0; p < kernelSize && inside; p++) inside = inBounds(origin, kernelOffsets[p]);
            for (int n = 0; n < batch; n++) {
                for (int m = 0; m < outChannels; m++) {
                    int g = m / groupOut;
                    int acc = bias == null ? 0 : bias[m];
                    for (int c = 0; c < groupIn; c++) {
                        int xBase = (n * channels + g * groupIn + c) * inSpatial + originFlat;
                        int wBase = (m * groupIn + c) * kernelSize;
                        for (int p = 0; p < kernelSize; p++) {
                            if (inside || inBounds(origin, kernelOffsets[p])) acc += x[xBase + kernelFlat[p]] * w[wBase + p];
                        }
                    }
                    y[(n * outChannels + m) * outSpatial + pos] = acc;
                }
            }
            next(o, outShape);
        }
        return y;
    }

    private boolean inBounds(long[] origin, long[] offset) {
        for (int d = 0; d < spatial; d++) {
            long c = origin[d] + offset[d];
            if (c < 0 || c >= inShape[2 + d]) return false;
        }
        return true;
    }

    /** Advances a spatial index odometer over dims[2..]. */
    private void next(int[] index, long[] dims) {
        for (int d = spatial - 1; d >= 0; d--) {
            if (++index[d] < dims[2 + d]) return;
            index[d] = 0;
        }
    }

    private static long product(long[] dims, int from) {
        long p = 1;
        for (int i = from; i < dims.length; i++) p *= dims[i];
        return p;
    }
}
