package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.ir.Shape;
import dev.kiln.runtime.Tensor;

import java.nio.ByteBuffer;

/**
 * Dtype-independent data movement for the shape kernels: elements are copied as raw bytes, so
 * one implementation serves every dtype exactly.
 */
final class ShapeBytes {
    private ShapeBytes() {}

    static byte[] bytes(Tensor t) {
        ByteBuffer b = t.data();
        byte[] a = new byte[b.remaining()];
        b.get(a);
        return a;
    }

    static Tensor tensor(DType dtype, long[] shape, byte[] bytes) {
        return Tensor.wrap(dtype, shape, ByteBuffer.wrap(bytes));
    }

    /** Row-major element strides of a shape. */
    static long[] strides(long[] shape) {
        long[] s = new long[shape.length];
        long n = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            s[i] = n;
            n *= shape[i];
        }
        return s;
    }

    /** The bytes of element i of t. */
    static byte[] element(Tensor t, int i) {
        int es = t.dtype().byteSize();
        byte[] e = new byte[es];
        t.data().get(i * es, e);
        return e;
    }

    /** The bytes of v stored in one element of the given dtype. */
    static byte[] elementOf(DType dtype, double v) {
        Tensor t = Tensor.allocate(dtype);
        t.setDouble(0, v);
        return bytes(t);
    }

    /**
     * Builds a tensor of shape outShape whose element at coordinates (o_0, ..., o_r-1) is the source
     * element at flat index offsets[0][o_0] + ... + offsets[r-1][o_r-1], or fill where any of those
     * offsets is negative. Transpose, Slice, Expand, Tile, Pad and nearest Resize are all this.
     */
    static Tensor gather(Tensor src, long[] outShape, long[][] offsets, byte[] fill) {
        int es = src.dtype().byteSize();
        int rank = outShape.length;
        byte[] in = bytes(src);
        long count = Shape.elementCount(outShape);
        byte[] out = new byte[Math.toIntExact(count * es)];
        if (count == 0) return tensor(src.dtype(), outShape, out);
        if (rank == 0) {
            System.arraycopy(in, 0, out, 0, es);
            return tensor(src.dtype(), outShape, out);
        }
        long[] inner = offsets[rank - 1];
        int rowLength = (int) outShape[rank - 1];
        boolean contiguous = inner[0] >= 0;
        for (int j = 0; j < rowLength; j++) contiguous &= inner[j] == inner[0] + j;
        int[] index = new int[rank - 1];
        int dst = 0;
        for (long row = 0, rows = count / rowLength; row < rows; row++) {
            long base = 0;
            for (int d = 0; d < rank - 1 && base >= 0; d++) {
                long o = offsets[d][index[d]];
                base = o < 0 ? -1 : base + o;
            }
            if (base >= 0 && contiguous) {
                System.arraycopy(in, (int) ((base + inner[0]) * es), out, dst, rowLength * es);
                dst += rowLength * es;
            } else {
                for (int j = 0; j < rowLength; j++, dst += es) {
                    long o = inner[j];
                    if (base < 0 || o < 0) System.arraycopy(fill, 0, out, dst, es);
                    else System.arraycopy(in, (int) ((base + o) * es), out, dst, es);
                }
            }
            for (int d = rank - 2; d >= 0; d--) {
                if (++index[d] < outShape[d]) break;
                index[d] = 0;
            }
        }
        return tensor(src.dtype(), outShape, out);
    }

    /** Offsets that read a source dimension straight through: coordinate o reads o * stride. */
    static long[] identityOffsets(long size, long stride) {
        long[] t = new long[(int) size];
        for (int o = 0; o < size; o++) t[o] = o * stride;
        return t;
    }

    /** The dims of src permuted: output dimension d reads source dimension perm[d]. */
    static Tensor transpose(Tensor src, int[] perm) {
        long[] shape = src.shape();
        long[] strides = strides(shape);
        long[] outShape = new long[perm.length];
        long[][] offsets = new long[perm.length][];
        for (int d = 0; d < perm.length; d++) {
            outShape[d] = shape[perm[d]];
            offsets[d] = identityOffsets(outShape[d], strides[perm[d]]);
        }
        return gather(src, outShape, offsets, null);
    }
}
