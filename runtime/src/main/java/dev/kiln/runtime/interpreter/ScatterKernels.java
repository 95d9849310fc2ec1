package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.ir.Shape;
import dev.kiln.runtime.Tensor;

import java.util.Arrays;
import java.util.Map;

import static dev.kiln.runtime.interpreter.GatherKernels.elementOffset;
import static dev.kiln.runtime.interpreter.GatherKernels.sliceTuplesShape;
import static dev.kiln.runtime.interpreter.GatherKernels.tupleOffset;
import static dev.kiln.runtime.interpreter.ShapeBytes.bytes;
import static dev.kiln.runtime.interpreter.ShapeBytes.strides;
import static dev.kiln.runtime.interpreter.ShapeBytes.tensor;

/**
 * ScatterND and ScatterElements: a copy of the data with updates written (reduction none) or
 * combined (add, mul, max, min) at indexed places, in the order the updates come.
 */
final class ScatterKernels {
    private ScatterKernels() {}

    static void register(Map<String, Kernel> table) {
        table.put("ScatterND", ShapeKernels.single(ScatterKernels::scatterNd));
        table.put("ScatterElements", ShapeKernels.single(ScatterKernels::scatterElements));
        table.put("TensorScatter", ShapeKernels.single(ScatterKernels::tensorScatter));
    }

    private static Tensor scatterNd(KernelContext ctx) {
        Tensor data = ctx.input(0);
        Tensor indices = ctx.input(1);
        Tensor updates = ctx.input(2);
        long[] shape = data.shape();
        long[] indexShape = indices.shape();
        int q = indexShape.length;
        int k = (int) indexShape[q - 1];
        if (k > shape.length) throw ctx.fail("indices of shape " + Arrays.toString(indexShape) + " index more dimensions than data has");
        long[] updateShape = sliceTuplesShape(indexShape, shape, 0);
        if (!Arrays.equals(updates.shape(), updateShape)) {
            throw ctx.fail("updates have shape " + Arrays.toString(updates.shape()) + ", expected " + Arrays.toString(updateShape));
        }
        Reduction reduction = reduction(ctx);
        Tensor out = copy(data);
        long[] strides = strides(shape);
        long[] idx = indices.toLongArray();
        int slice = (int) Shape.elementCount(Arrays.copyOfRange(shape, k, shape.length));
        long tuples = Shape.elementCount(Arrays.copyOfRange(indexShape, 0, q - 1));
        for (int t = 0; t < tuples; t++) {
            long dst = tupleOffset(ctx, idx, t * k, k, shape, strides, 0);
            for (int e = 0; e < slice; e++) reduction.apply(out, (int) dst + e, updates, t * slice + e);
        }
        return out;
    }

    private static Tensor scatterElements(KernelContext ctx) {
        Tensor data = ctx.input(0);
        Tensor indices = ctx.input(1);
        Tensor updates = ctx.input(2);
        long[] shape = data.shape();
        long[] indexShape = indices.shape();
        int axis = ctx.axis(ctx.intAttr("axis"), shape.length);
        if (!Arrays.equals(updates.shape(), indexShape) || indexShape.length != shape.length) {
            throw ctx.fail("indices " + Arrays.toString(indexShape) + " and updates " + Arrays.toString(updates.shape())
                    + " must have one shape of the rank of data " + Arrays.toString(shape));
        }
        Reduction reduction = reduction(ctx);
        Tensor out = copy(data);
        long[] strides = strides(shape);
        for (int i = 0; i < indices.size(); i++) {
            long dst = elementOffset(ctx, shape, strides, indexShape, axis, i, indices.getLong(i));
            reduction.apply(out, (int) dst, updates, i);
        }
        return out;
    }

    /** Writes the update's sequence into the cache at each batch entry's write index (modulo its length when circular). */
    private static Tensor tensorScatter(KernelContext ctx) {
        Tensor cache = ctx.input(0);
        Tensor update = ctx.input(1);
        long[] shape = cache.shape();
        long[] updateShape = update.shape();
        int axis = ctx.axis(ctx.intAttr("axis"), shape.length);
        for (int d = 0; d < shape.length; d++) {
            if (d == axis ? updateShape[d] > shape[d] : updateShape[d] != shape[d]) {
                throw ctx.fail("update of shape " + Arrays.toString(updateShape) + " does not fit the cache of shape " + Arrays.toString(shape));
            }
        }
        boolean circular = ctx.stringAttr("mode").equals("circular");
        long[] writeAt = ctx.hasInput(2) ? ctx.input(2).toLongArray() : new long[(int) shape[0]];
        long maxLength = shape[axis];
        long steps = updateShape[axis];
        int es = cache.dtype().byteSize();
        int inner = (int) (Shape.elementCount(Arrays.copyOfRange(shape, axis + 1, shape.length)) * es);
        long prefixes = Shape.elementCount(Arrays.copyOfRange(shape, 0, axis));
        long perBatch = prefixes / shape[0];
        byte[] in = bytes(update);
        byte[] result = bytes(cache);
        for (long p = 0; p < prefixes; p++) {
            long start = writeAt[(int) (p / perBatch)];
            for (long s = 0; s < steps; s++) {
                long at = circular ? Math.floorMod(start + s, maxLength) : start + s;
                if (at < 0 || at >= maxLength) throw ctx.fail("write index " + at + " is out of range for a cache of length " + maxLength);
                System.arraycopy(in, (int) ((p * steps + s) * inner), result, (int) ((p * maxLength + at) * inner), inner);
            }
        }
        return tensor(cache.dtype(), shape, result);
    }

    private static Tensor copy(Tensor t) {
        return tensor(t.dtype(), t.shape(), bytes(t));
    }

    /** How an update combines with the element it lands on. */
    @FunctionalInterface
    private interface Reduction {
        void apply(Tensor out, int at, Tensor updates, int from);
    }

    private static Reduction reduction(KernelContext ctx) {
        String name = ctx.stringAttr("reduction");
        if (!name.equals("none") && !name.equals("add") && !name.equals("mul") && !name.equals("max") && !name.equals("min")) {
            throw ctx.fail("unknown reduction '" + name + "'");
        }
        DType t = ctx.input(0).dtype();
        if (name.equals("none")) {
            int es = t.byteSize();
            return (out, at, updates, from) -> {
                byte[] e = new byte[es];
                updates.data().get(from * es, e);
                out.data().put(at * es, e);
            };
        }
        if (t.isFloatingPoint()) {
            return (out, at, updates, from) -> {
                double a = out.getDouble(at);
                double b = updates.getDouble(from);
                out.setDouble(at, switch (name) {
                    case "add" -> a + b;
                    case "mul" -> a * b;
                    case "max" -> Math.max(a, b);
                    default -> Math.min(a, b);
                });
            };
        }
        boolean unsigned64 = t == DType.U64;
        return (out, at, updates, from) -> {
            long a = out.getLong(at);
            long b = updates.getLong(from);
            int order = unsigned64 ? Long.compareUnsigned(a, b) : Long.compare(a, b);
            out.setLong(at, switch (name) {
                case "add" -> a + b;
                case "mul" -> a * b;
                case "max" -> order >= 0 ? a : b;
                default -> order <= 0 ? a : b;
            });
        };
    }
}
