package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Shape;
import dev.kiln.runtime.Tensor;

import java.util.Arrays;
import java.util.Map;

import static dev.kiln.runtime.interpreter.ShapeBytes.bytes;
import static dev.kiln.runtime.interpreter.ShapeBytes.strides;
import static dev.kiln.runtime.interpreter.ShapeBytes.tensor;

/** Gather, GatherElements and GatherND: copies of indexed elements or slices; negative indices count from the end. */
final class GatherKernels {
    private GatherKernels() {}

    static void register(Map<String, Kernel> table) {
        table.put("Gather", ShapeKernels.single(GatherKernels::gather));
        table.put("GatherElements", ShapeKernels.single(GatherKernels::gatherElements));
        table.put("GatherND", ShapeKernels.single(GatherKernels::gatherNd));
    }

    /** An index into an axis of size d, with negative values counted from the end; fails when out of range. */
    static long index(KernelContext ctx, long i, long d) {
        long k = i < 0 ? i + d : i;
        if (k < 0 || k >= d) throw ctx.fail("index " + i + " is out of range for a dimension of size " + d);
        return k;
    }

    /** The data offset that element i of indices (of value value) picks: i's coordinates with the one on axis replaced by value. */
    static long elementOffset(KernelContext ctx, long[] shape, long[] strides, long[] indexShape, int axis, int i, long value) {
        long offset = 0;
        long rest = i;
        for (int d = shape.length - 1; d >= 0; d--) {
            long c = rest % indexShape[d];
            rest /= indexShape[d];
            if (d != axis && c >= shape[d]) throw ctx.fail("indices of shape " + Arrays.toString(indexShape) + " exceed data of shape " + Arrays.toString(shape));
            offset += (d == axis ? index(ctx, value, shape[d]) : c) * strides[d];
        }
        return offset;
    }

    /** The data offset that the index tuple idx[at..at+k) picks along data's axes from..from+k-1. */
    static long tupleOffset(KernelContext ctx, long[] idx, int at, int k, long[] shape, long[] strides, int from) {
        long offset = 0;
        for (int j = 0; j < k; j++) offset += index(ctx, idx[at + j], shape[from + j]) * strides[from + j];
        return offset;
    }

    /** GatherND's output and ScatterND's updates: indices' axes but the last, then data's axes after the batch and indexed ones. */
    static long[] sliceTuplesShape(long[] indexShape, long[] shape, int batchDims) {
        int q = indexShape.length;
        int tail = shape.length - batchDims - (int) indexShape[q - 1];
        long[] r = new long[q - 1 + tail];
        System.arraycopy(indexShape, 0, r, 0, q - 1);
        System.arraycopy(shape, shape.length - tail, r, q - 1, tail);
        return r;
    }

    private static Tensor gather(KernelContext ctx) {
        Tensor data = ctx.input(0);
        Tensor indices = ctx.input(1);
        long[] shape = data.shape();
        int axis = ctx.axis(ctx.intAttr("axis"), shape.length);
        long d = shape[axis];
        long[] outShape = new long[shape.length - 1 + indices.rank()];
        System.arraycopy(shape, 0, outShape, 0, axis);
        System.arraycopy(indices.shape(), 0, outShape, axis, indices.rank());
        System.arraycopy(shape, axis + 1, outShape, axis + indices.rank(), shape.length - axis - 1);
        int es = data.dtype().byteSize();
        long outer = Shape.elementCount(Arrays.copyOfRange(shape, 0, axis));
        int inner = (int) (Shape.elementCount(Arrays.copyOfRange(shape, axis + 1, shape.length)) * es);
        long[] idx = indices.toLongArray();
        for (int j = 0; j < idx.length; j++) idx[j] = index(ctx, idx[j], d);
        byte[] in = bytes(data);
        byte[] out = new byte[Math.toIntExact(Shape.elementCount(outShape) * es)];
        for (long o = 0; o < outer; o++) {
            for (int j = 0; j < idx.length; j++) {
                System.arraycopy(in, (int) ((o * d + idx[j]) * inner), out, (int) ((o * idx.length + j) * inner), inner);
            }
        }
        return tensor(data.dtype(), outShape, out);
    }

    private static Tensor gatherElements(KernelContext ctx) {
        Tensor data = ctx.input(0);
        Tensor indices = ctx.input(1);
        long[] shape = data.shape();
        long[] indexShape = indices.shape();
        int axis = ctx.axis(ctx.intAttr("axis"), shape.length);
        for (int d = 0; d < shape.length; d++) {
            if (d != axis && indexShape[d] > shape[d]) {
                throw ctx.fail("indices of shape " + Arrays.toString(indexShape) + " exceed data of shape " + Arrays.toString(shape));
            }
        }
        long[] strides = strides(shape);
        int es = data.dtype().byteSize();
        byte[] in = bytes(data);
        byte[] out = new byte[indices.size() * es];
        for (int i = 0; i < indices.size(); i++) {
            long src = elementOffset(ctx, shape, strides, indexShape, axis, i, indices.getLong(i));
            System.arraycopy(in, (int) (src * es), out, i * es, es);
        }
        return tensor(data.dtype(), indexShape, out);
    }

    private static Tensor gatherNd(KernelContext ctx) {
        Tensor data = ctx.input(0);
        Tensor indices = ctx.input(1);
        long[] shape = data.shape();
        long[] indexShape = indices.shape();
        int b = (int) ctx.intAttr("batch_dims");
        int q = indexShape.length;
        int k = (int) indexShape[q - 1];
        for (int d = 0; d < b; d++) {
            if (indexShape[d] != shape[d]) throw ctx.fail("batch dimension " + d + " differs: data " + Arrays.toString(shape) + ", indices " + Arrays.toString(indexShape));
        }
        long[] outShape = sliceTuplesShape(indexShape, shape, b);
        long batches = Shape.elementCount(Arrays.copyOfRange(indexShape, 0, b));
        long tuples = Shape.elementCount(Arrays.copyOfRange(indexShape, b, q - 1));
        long batchSize = Shape.elementCount(Arrays.copyOfRange(shape, b, shape.length));
        int es = data.dtype().byteSize();
        int slice = (int) (Shape.elementCount(Arrays.copyOfRange(shape, b + k, shape.length)) * es);
        long[] strides = strides(shape);
        long[] idx = indices.toLongArray();
        byte[] in = bytes(data);
        byte[] out = new byte[Math.toIntExact(Shape.elementCount(outShape) * es)];
        int dst = 0;
        for (long batch = 0; batch < batches; batch++) {
            for (long t = 0; t < tuples; t++, dst += slice) {
                long src = batch * batchSize + tupleOffset(ctx, idx, (int) ((batch * tuples + t) * k), k, shape, strides, b);
                System.arraycopy(in, (int) (src * es), out, dst, slice);
            }
        }
        return tensor(data.dtype(), outShape, out);
    }
}
