package dev.kiln.runtime.interpreter;

import java.util.Arrays;

/**
 * The spatial geometry of a sliding-window op (Conv, ConvTranspose, pooling): per spatial axis the
 * input and output sizes, kernel, strides, dilations and the padding actually applied.
 */
record ConvGeometry(long[] input, long[] output, long[] kernel, long[] strides, long[] dilations,
                    long[] padsBegin, long[] padsEnd) {

    /** The geometry of a convolution or pooling window over input, from the node's attributes. */
    static ConvGeometry window(KernelContext ctx, long[] input, long[] kernel, boolean ceilMode) {
        int n = input.length;
        long[] strides = perAxis(ctx, "strides", n, 1);
        long[] dilations = perAxis(ctx, "dilations", n, 1);
        long[] pads = ctx.intsAttr("pads");
        if (pads != null && pads.length != 2 * n) throw ctx.fail("pads has " + pads.length + " values for " + n + " spatial axes");
        String autoPad = ctx.stringAttr("auto_pad");
        long[] begin = new long[n];
        long[] end = new long[n];
        long[] output = new long[n];
        for (int i = 0; i < n; i++) {
            long s = strides[i];
            long extent = (kernel[i] - 1) * dilations[i] + 1;
            switch (autoPad) {
                case "SAME_UPPER", "SAME_LOWER" -> {
                    output[i] = Math.floorDiv(input[i] + s - 1, s);
                    long total = Math.max(0, (output[i] - 1) * s + extent - input[i]);
                    begin[i] = autoPad.equals("SAME_UPPER") ? total / 2 : total - total / 2;
                    end[i] = total - begin[i];
                }
                case "VALID" -> output[i] = input[i] < extent ? 0 : (input[i] - extent) / s + 1;
                case "NOTSET" -> {
                    begin[i] = pads == null ? 0 : pads[i];
                    end[i] = pads == null ? 0 : pads[i + n];
                    long span = input[i] + begin[i] + end[i] - extent;
                    if (span >= 0) {
                        output[i] = ceilMode ? Math.floorDiv(span + s - 1, s) + 1 : span / s + 1;
                        // A last window that would start inside the end padding is dropped.
                        if (ceilMode && (output[i] - 1) * s >= input[i] + begin[i]) output[i]--;
                    }
                }
                default -> throw ctx.fail("unknown auto_pad '" + autoPad + "'");
            }
            if (output[i] < 1) {
                throw ctx.fail("a window of extent " + extent + " does not fit spatial axis " + i + " of size " + input[i]);
            }
        }
        return new ConvGeometry(input, output, kernel, strides, dilations, begin, end);
    }

    /** The geometry of ConvTranspose over input: output size and padding from output_shape, auto_pad or pads. */
    static ConvGeometry transposed(KernelContext ctx, long[] input, long[] kernel) {
        int n = input.length;
        long[] strides = perAxis(ctx, "strides", n, 1);
        long[] dilations = perAxis(ctx, "dilations", n, 1);
        long[] outputPadding = perAxis(ctx, "output_padding", n, 0);
        long[] outputShape = ctx.intsAttr("output_shape");
        long[] pads = ctx.intsAttr("pads");
        if (pads != null && pads.length != 2 * n) throw ctx.fail("pads has " + pads.length + " values for " + n + " spatial axes");
        String autoPad = ctx.stringAttr("auto_pad");
        long[] begin = new long[n];
        long[] end = new long[n];
        long[] output = new long[n];
        for (int i = 0; i < n; i++) {
            long full = strides[i] * (input[i] - 1) + outputPadding[i] + (kernel[i] - 1) * dilations[i] + 1;
            boolean same = autoPad.equals("SAME_UPPER") || autoPad.equals("SAME_LOWER");
            if (outputShape != null || same) {
                output[i] = outputShape != null ? outputShape[outputShape.length - n + i] : input[i] * strides[i];
                long total = full - output[i];
                begin[i] = autoPad.equals("SAME_UPPER") ? Math.floorDiv(total, 2) : total - Math.floorDiv(total, 2);
                end[i] = total - begin[i];
            } else {
                if (!autoPad.equals("VALID") && pads != null) {
                    begin[i] = pads[i];
                    end[i] = pads[i + n];
                }
                output[i] = full - begin[i] - end[i];
            }
            if (output[i] < 1) throw ctx.fail("the output along spatial axis " + i + " would be empty (" + output[i] + ")");
        }
        return new ConvGeometry(input, output, kernel, strides, dilations, begin, end);
    }

    private static long[] perAxis(KernelContext ctx, String attr, int n, long dflt) {
        long[] v = ctx.intsAttr(attr);
        if (v == null) {
            v = new long[n];
            Arrays.fill(v, dflt);
        } else if (v.length != n) {
            throw ctx.fail(attr + " has " + v.length + " values for " + n + " spatial axes");
        }
        return v;
    }

    int inputSize() { return (int) NnArrays.product(input); }

    int outputSize() { return (int) NnArrays.product(output); }

    int kernelSize() { return (int) NnArrays.product(kernel); }

    /** Whether every output element reads exactly the input element at the same place (a 1x1 window, no stride or padding). */
    boolean isPointwise() {
        for (int i = 0; i < input.length; i++) {
            if (kernel[i] != 1 || strides[i] != 1 || padsBegin[i] != 0 || output[i] != input[i]) return false;
        }
        return true;
    }

    /**
     * For each kernel tap q and output position p, the flat input index the window at p reads
     * through tap q, or -1 where it falls in the padding. Laid out as [q][p].
     */
    int[] windowTaps() { return taps(output, input); }

    /**
     * ConvTranspose's scatter: for each kernel tap q and input position p, the flat output index
     * that p contributes to through tap q, or -1 where it falls outside the output. Laid out as [q][p].
     */
    int[] scatterTaps() { return taps(input, output); }

    private int[] taps(long[] positions, long[] target) {
        int rank = positions.length;
        int p = (int) NnArrays.product(positions);
        int q = kernelSize();
        int[] table = new int[q * p];
        int[] tap = new int[rank];
        int[] pos = new int[rank];
        for (int qi = 0; qi < q; qi++) {
            Arrays.fill(pos, 0);
            for (int pi = 0; pi < p; pi++) {
                long flat = 0;
                for (int d = 0; d < rank && flat >= 0; d++) {
                    long c = pos[d] * strides[d] + tap[d] * dilations[d] - padsBegin[d];
                    flat = c < 0 || c >= target[d] ? -1 : flat * target[d] + c;
                }
                table[qi * p + pi] = (int) flat;
                increment(pos, positions);
            }
            increment(tap, kernel);
        }
        return table;
    }

    /** Advances a row-major multi-index within the given sizes. */
    static void increment(int[] index, long[] sizes) {
        for (int d = index.length - 1; d >= 0; d--) {
            if (++index[d] < sizes[d]) return;
            index[d] = 0;
        }
    }
}
