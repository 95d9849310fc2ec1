package dev.kiln.ir.ops;

import dev.kiln.ir.Dim;
import dev.kiln.ir.Shape;

import java.util.ArrayList;
import java.util.List;

/**
 * Output sizes of the sliding-window ops (Conv, ConvTranspose, pooling, QLinearConv, ConvInteger)
 * from the kernel and the auto_pad, pads, strides, dilations and output_padding attributes.
 */
final class ConvShapes {
    private ConvShapes() {}

    /**
     * The output (N, M, D'...) of a convolution of x (N, C, D...) with weights w (M, C/group, K...);
     * a spatial size is fresh where the input size or the kernel is not known.
     */
    static Shape convolution(InferenceContext ctx, Shape x, Shape w) {
        int spatial = spatialRank(ctx, x);
        if (w.rank() != x.rank()) throw ctx.fail("weights of shape " + w + " do not match input of shape " + x);
        long group = ctx.intAttr("group");
        if (group < 1) throw ctx.fail("group must be positive, got " + group);
        Dim c = x.dim(1);
        Dim wc = w.dim(1);
        if (c.isStatic() && wc.isStatic() && c.size() != wc.size() * group) {
            throw ctx.fail("input has " + c + " channels but weights of shape " + w + " with group " + group + " need " + wc.size() * group);
        }
        if (w.dim(0).isStatic() && w.dim(0).size() % group != 0) {
            throw ctx.fail(w.dim(0) + " output channels are not divisible by group " + group);
        }
        long[] kernel = kernelShape(ctx, w, spatial);
        List<Dim> out = new ArrayList<>(List.of(x.dim(0), w.dim(0)));
        for (int i = 0; i < spatial; i++) {
            Dim in = x.dim(2 + i);
            out.add(kernel == null || !in.isStatic() ? ctx.freshDim() : Dim.of(windowCount(ctx, in.size(), i, spatial, kernel[i], false)));
        }
        return new Shape(out);
    }

    /** Number of window positions along one spatial axis, per the op's pads, auto_pad, strides and dilations. */
    static long windowCount(InferenceContext ctx, long in, int axis, int spatial, long kernel, boolean ceilMode) {
        long stride = entry(ctx, "strides", axis, spatial, 1);
        long dilation = entry(ctx, "dilations", axis, spatial, 1);
        long extent = (kernel - 1) * dilation + 1;
        if (stride < 1 || dilation < 1 || kernel < 1) throw ctx.fail("strides, dilations and kernel sizes must be positive");
        String autoPad = ctx.stringAttr("auto_pad");
        long count = switch (autoPad) {
            case "SAME_UPPER", "SAME_LOWER" -> Math.floorDiv(in + stride - 1, stride);
            case "VALID" -> in < extent ? 0 : (in - extent) / stride + 1;
            case "NOTSET" -> {
                long begin = pad(ctx, axis, spatial, 0);
                long span = in + begin + pad(ctx, axis, spatial, 1) - extent;
                if (span < 0) yield 0;
                long n = ceilMode ? Math.floorDiv(span + stride - 1, stride) + 1 : span / stride + 1;
                // A last window that would start inside the end padding is dropped.
                yield ceilMode && (n - 1) * stride >= in + begin ? n - 1 : n;
            }
            default -> throw ctx.fail("unknown auto_pad '" + autoPad + "'");
        };
        if (count < 1) throw ctx.fail("a window of extent " + extent + " does not fit spatial axis " + axis + " of size " + in);
        return count;
    }

    /** ConvTranspose's output size along one spatial axis when output_shape is not given. */
    static long transposedSize(InferenceContext ctx, long in, int axis, int spatial, long kernel) {
        long stride = entry(ctx, "strides", axis, spatial, 1);
        String autoPad = ctx.stringAttr("auto_pad");
        if (autoPad.equals("SAME_UPPER") || autoPad.equals("SAME_LOWER")) return in * stride;
        long extent = (kernel - 1) * entry(ctx, "dilations", axis, spatial, 1) + 1;
        long padding = autoPad.equals("VALID") ? 0 : pad(ctx, axis, spatial, 0) + pad(ctx, axis, spatial, 1);
        long size = stride * (in - 1) + entry(ctx, "output_padding", axis, spatial, 0) + extent - padding;
        if (size < 1) throw ctx.fail("the output along spatial axis " + axis + " would be empty (" + size + ")");
        return size;
    }

    /** kernel_shape, or the weights' spatial sizes; null when neither is known. */
    static long[] kernelShape(InferenceContext ctx, Shape w, int spatial) {
        long[] k = ctx.intsAttr("kernel_shape");
        if (k != null) {
            if (k.length != spatial) throw ctx.fail("kernel_shape has " + k.length + " sizes for " + spatial + " spatial axes");
            return k;
        }
        k = new long[spatial];
        for (int i = 0; i < spatial; i++) {
            Dim d = w.dim(2 + i);
            if (!d.isStatic()) return null;
            k[i] = d.size();
        }
        return k;
    }

    static int spatialRank(InferenceContext ctx, Shape x) {
        if (x.rank() < 3) throw ctx.fail("input of shape " + x + " needs a batch, a channel and at least one spatial axis");
        return x.rank() - 2;
    }

    /** Entry {@code axis} of an INTS attribute holding one value per spatial axis, or the default when absent. */
    private static long entry(InferenceContext ctx, String attr, int axis, int spatial, long dflt) {
        long[] v = ctx.intsAttr(attr);
        if (v == null) return dflt;
        if (v.length != spatial) throw ctx.fail(attr + " has " + v.length + " values for " + spatial + " spatial axes");
        return v[axis];
    }

    /** The begin (side 0) or end (side 1) padding of a spatial axis. */
    private static long pad(InferenceContext ctx, int axis, int spatial, int side) {
        long[] pads = ctx.intsAttr("pads");
        if (pads == null) return 0;
        if (pads.length != 2 * spatial) throw ctx.fail("pads has " + pads.length + " values for " + spatial + " spatial axes");
        return pads[side * spatial + axis];
    }
}
