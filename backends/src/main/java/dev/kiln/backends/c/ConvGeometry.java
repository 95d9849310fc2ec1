package dev.kiln.backends.c;

import dev.kiln.ir.Node;

import java.util.Arrays;

/**
 * A 1-D or 2-D convolution's or pooling's geometry from logical dims, 1-D as height 1: input n x c x h x w,
 * output m x oh x ow, kernel, strides, dilations, pads top, left, bottom, right, groups.
 */
record ConvGeometry(long n, long c, long h, long w, long m, long oh, long ow, long kh, long kw, long sh, long sw,
                    long dh, long dw, long pt, long pl, long pb, long pr, long group) {
    /** A 1x1 convolution with stride 1 and no padding: its planes read as one row of h * w positions. */
    boolean pointwise() { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && pb == 0 && pr == 0; }

    /** The output positions of one row of the tiled convolution. */
    long rowPositions() { return pointwise() ? oh * ow : ow; }

    boolean depthwise() { return group == c && group == m; }

    /** The geometry of a convolution (kernel from its filter) or pooling (kernel_shape). */
    static ConvGeometry of(Node n) {
        long[] xs = Nodes.logical(n.input(0));
        long[] ys = Nodes.logical(n.output(0));
        int spatial = xs.length - 2;
        if (spatial != 1 && spatial != 2) throw new IllegalArgumentException("node " + n.name() + ": backend c takes 1-D and 2-D " + n.op() + " only, not " + spatial + "-D");
        boolean conv = n.op().equals("Conv") || n.op().equals("FusedConv");
        long[] kernel = conv ? Arrays.copyOfRange(Nodes.logical(n.input(1)), 2, 2 + spatial) : Nodes.ints(n, "kernel_shape", spatial, 1);
        long h = spatial == 2 ? xs[2] : 1;
        long wd = xs[xs.length - 1];
        long oh = spatial == 2 ? ys[2] : 1;
        long ow = ys[ys.length - 1];
        long kh = spatial == 2 ? kernel[0] : 1;
        long kw = kernel[spatial - 1];
        long[] strides = Nodes.ints(n, "strides", spatial, 1);
        long[] dil = Nodes.ints(n, "dilations", spatial, 1);
        long sh = spatial == 2 ? strides[0] : 1;
        long sw = strides[spatial - 1];
        long dh = spatial == 2 ? dil[0] : 1;
        long dw = dil[spatial - 1];
        long[] pads = pads(n, new long[] {h, wd}, new long[] {oh, ow}, new long[] {kh, kw}, new long[] {sh, sw}, new long[] {dh, dw}, spatial);
        long group = Nodes.intAttr(n, "group", 1);
        return new ConvGeometry(xs[0], xs[1], h, wd, ys[1], oh, ow, kh, kw, sh, sw, dh, dw, pads[0], pads[1], pads[2], pads[3], group);
    }

    /** The top and left pads (for 1-D: 0 and the begin pad), from auto_pad or pads; index 2, 3: bottom and right. */
    private static long[] pads(Node n, long[] in, long[] out, long[] k, long[] s, long[] d, int spatial) {
        String autoPad = Nodes.stringAttr(n, "auto_pad", "NOTSET");
        long[] result = new long[4];
        if (autoPad.equals("SAME_UPPER") || autoPad.equals("SAME_LOWER")) {
            for (int i = 0; i < 2; i++) {
                long total = Math.max(0, (out[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in[i]);
                long begin = autoPad.equals("SAME_UPPER") ? total / 2 : total - total / 2;
                result[i] = begin;
                result[i + 2] = total - begin;
            }
        } else if (!autoPad.equals("VALID")) {
            long[] p = Nodes.ints(n, "pads", 2 * spatial, 0);
            result = spatial == 2 ? new long[] {p[0], p[1], p[2], p[3]} : new long[] {0, p[0], 0, p[1]};
        }
        return result;
    }
}
