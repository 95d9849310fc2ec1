package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Node;

import java.util.Arrays;

/**
 * The geometry of a convolution, transposed convolution or pooling over any number of spatial axes, from the
 * static dims of a node's values and its attributes, as the reference interpreter derives it: batch n, input
 * channels c, output channels m, groups; per spatial axis the input and output sizes, kernel, strides,
 * dilations and begin and end pads. For ConvTranspose, in and out are its own input and output. Activations in a
 * blocked layout count their padded channels.
 */
record ConvGeometryNd(long n, long c, long m, long group, long[] in, long[] out, long[] kernel, long[] strides, long[] dilations,
                      long[] padsBegin, long[] padsEnd) {
    /** The most spatial axes the kernels take (conv_nd.h's KILN_CONV_AXES, pool_nd.h's KILN_POOL_AXES). */
    static final int MAX_SPATIAL = 8;

    int rank() { return in.length; }

    long inSize() { return Nodes.product(in, 0, in.length); }

    long outSize() { return Nodes.product(out, 0, out.length); }

    long taps() { return Nodes.product(kernel, 0, kernel.length); }

    /** Null when a node with input x of this rank has spatial axes the kernels take, else why not. */
    static String spatialProblem(int inputRank) {
        int spatial = inputRank - 2;
        return spatial < 1 || spatial > MAX_SPATIAL ? " (" + spatial + "-D)" : null;
    }

    /** Conv, FusedConv or ConvInteger: kernel from the weights (input 1). */
    static ConvGeometryNd conv(Node n) {
        long[] xs = Nodes.logical(n.input(0));
        long[] ws = Nodes.logical(n.input(1));
        long[] ys = Nodes.logical(n.output(0));
        long[] in = spatial(xs);
        long[] out = spatial(ys);
        long[] kernel = spatial(ws);
        return window(n, xs[0], xs[1], ys[1], Nodes.intAttr(n, "group", 1), in, out, kernel, false);
    }

    /** MaxPool, AveragePool or LpPool: kernel_shape, planes of batch x channels (c = m = channels, one group). */
    static ConvGeometryNd pool(Node n) {
        long[] xs = Nodes.logical(n.input(0));
        long[] in = spatial(xs);
        long[] kernel = Nodes.ints(n, "kernel_shape", in.length, 1);
        return window(n, xs[0], xs[1], xs[1], 1, in, spatial(Nodes.logical(n.output(0))), kernel, Nodes.intAttr(n, "ceil_mode", 0) != 0);
    }

    /** The pads of a sliding window: auto_pad SAME from the output size, VALID none, else the pads attribute. */
    private static ConvGeometryNd window(Node node, long n, long c, long m, long group, long[] in, long[] out, long[] kernel, boolean ceilMode) {
        int rank = in.length;
        long[] strides = Nodes.ints(node, "strides", rank, 1);
        long[] dilations = Nodes.ints(node, "dilations", rank, 1);
        long[] begin = new long[rank];
        long[] end = new long[rank];
        String autoPad = Nodes.stringAttr(node, "auto_pad", "NOTSET");
        long[] pads = Nodes.ints(node, "pads", 2 * rank, 0);
        for (int i = 0; i < rank; i++) {
            if (autoPad.equals("SAME_UPPER") || autoPad.equals("SAME_LOWER")) {
                long total = Math.max(0, (out[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in[i]);
                begin[i] = autoPad.equals("SAME_UPPER") ? total / 2 : total - total / 2;
                end[i] = total - begin[i];
            } else if (!autoPad.equals("VALID")) {
                begin[i] = pads[i];
                end[i] = pads[i + rank];
            }
        }
        return new ConvGeometryNd(n, c, m, group, in, out, kernel, strides, dilations, begin, end);
    }

    /** ConvTranspose or FusedConvTranspose: output size and pads from output_shape, auto_pad or pads. */
    static ConvGeometryNd transposed(Node node) {
        long[] xs = Nodes.logical(node.input(0));
        long[] ws = Nodes.logical(node.input(1));
        long[] in = spatial(xs);
        long[] out = spatial(Nodes.logical(node.output(0)));
        long[] kernel = spatial(ws);
        int rank = in.length;
        long group = Nodes.intAttr(node, "group", 1);
        long[] strides = Nodes.ints(node, "strides", rank, 1);
        long[] dilations = Nodes.ints(node, "dilations", rank, 1);
        long[] outputPadding = Nodes.ints(node, "output_padding", rank, 0);
        String autoPad = Nodes.stringAttr(node, "auto_pad", "NOTSET");
        boolean outputShape = node.attribute("output_shape") instanceof Attribute.Ints s && s.values().length > 0;
        long[] pads = Nodes.ints(node, "pads", 2 * rank, 0);
        long[] begin = new long[rank];
        long[] end = new long[rank];
        for (int i = 0; i < rank; i++) {
            long full = strides[i] * (in[i] - 1) + outputPadding[i] + (kernel[i] - 1) * dilations[i] + 1;
            if (outputShape || autoPad.equals("SAME_UPPER") || autoPad.equals("SAME_LOWER")) {
                long total = full - out[i];
                begin[i] = autoPad.equals("SAME_UPPER") ? Math.floorDiv(total, 2) : total - Math.floorDiv(total, 2);
                end[i] = total - begin[i];
            } else if (!autoPad.equals("VALID")) {
                begin[i] = pads[i];
                end[i] = pads[i + rank];
            }
        }
        return new ConvGeometryNd(xs[0], xs[1], ws[1] * group, group, in, out, kernel, strides, dilations, begin, end);
    }

    private static long[] spatial(long[] dims) { return Arrays.copyOfRange(dims, 2, dims.length); }

    /** conv_nd.h's kiln_conv_nd_shape initialiser. */
    String convShape() {
        return "{" + rank() + ", " + n + "L, " + c + "L, " + m + "L, " + group + "L, " + axes(in) + ", " + axes(out) + ", " + axes(kernel) + ", "
                + axes(strides) + ", " + axes(dilations) + ", " + axes(padsBegin) + "}";
    }

    /** pool_nd.h's kiln_pool_nd_shape initialiser (KILN_POOL_MAX 0, AVERAGE 1, LP 2). */
    String poolShape(int kind, boolean countIncludePad, boolean columnMajor, long p) {
        return "{" + rank() + ", " + (n * c) + "L, " + axes(in) + ", " + axes(out) + ", " + axes(kernel) + ", " + axes(strides) + ", "
                + axes(dilations) + ", " + axes(padsBegin) + ", " + axes(padsEnd) + ", " + kind + ", " + (countIncludePad ? 1 : 0) + ", "
                + (columnMajor ? 1 : 0) + ", " + p + "L}";
    }

    /** Entries of pool_nd.h's window table: three per output position of every axis. */
    long poolTableSize() {
        long n = 0;
        for (long o : out) n += 3 * o;
        return n;
    }

    private static String axes(long[] v) {
        StringBuilder b = new StringBuilder("{");
        for (int i = 0; i < v.length; i++) b.append(i > 0 ? ", " : "").append(v[i]).append('L');
        return b.append('}').toString();
    }
}
