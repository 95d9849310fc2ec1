package dev.kiln.runtime.interpreter;

import dev.kiln.runtime.Tensor;

import java.util.Arrays;

/**
 * Which scale / zero-point element applies to each element of the quantized tensor: one for the
 * whole tensor, one per index along the axis, or one per block of block_size indices along the
 * axis (the scale then has the input's shape with that axis divided into blocks).
 */
final class QuantParams {
    private final int inner;
    private final int axisLength;
    private final int blocks;
    private final int blockSize;
    private final Granularity granularity;

    private enum Granularity { TENSOR, AXIS, BLOCKED }

    private QuantParams(Granularity granularity, int inner, int axisLength, int blocks, int blockSize) {
        this.granularity = granularity;
        this.inner = inner;
        this.axisLength = axisLength;
        this.blocks = blocks;
        this.blockSize = blockSize;
    }

    /** Resolves the granularity from the scale's shape and the axis and block_size attributes. */
    static QuantParams of(KernelContext ctx, long[] xShape, Tensor scale, Tensor zeroPoint) {
        long[] s = scale.shape();
        if (zeroPoint != null && !Arrays.equals(zeroPoint.shape(), s)) {
            throw ctx.fail("scale shape " + Arrays.toString(s) + " and zero point shape " + Arrays.toString(zeroPoint.shape()) + " differ");
        }
        long blockSize = ctx.intAttr("block_size");
        if (scale.size() == 1 && blockSize == 0 || s.length == 0) return new QuantParams(Granularity.TENSOR, 1, 1, 1, 1);
        int axis = ctx.axis(ctx.intAttr("axis"), xShape.length);
        int inner = 1;
        for (int d = axis + 1; d < xShape.length; d++) inner *= (int) xShape[d];
        int length = (int) xShape[axis];
        if (blockSize == 0) {
            if (s.length != 1 || s[0] != length) {
                throw ctx.fail("per-axis scale of shape " + Arrays.toString(s) + " does not match axis " + axis + " of x " + Arrays.toString(xShape));
            }
            return new QuantParams(Granularity.AXIS, inner, length, length, 1);
        }
        if (blockSize < 0) throw ctx.fail("block_size " + blockSize + " is negative");
        long[] expected = xShape.clone();
        expected[axis] = (length + blockSize - 1) / blockSize;
        if (!Arrays.equals(s, expected)) {
            throw ctx.fail("blocked scale of shape " + Arrays.toString(s) + " does not fit x " + Arrays.toString(xShape)
                    + " with block_size " + blockSize + " on axis " + axis);
        }
        return new QuantParams(Granularity.BLOCKED, inner, length, (int) expected[axis], (int) blockSize);
    }

    /** The scale element for element i of x. */
    int index(int i) {
        return switch (granularity) {
            case TENSOR -> 0;
            case AXIS -> (i / inner) % axisLength;
            case BLOCKED -> ((i / (axisLength * inner)) * blocks + (i / inner) % axisLength / blockSize) * inner + i % inner;
        };
    }
}
