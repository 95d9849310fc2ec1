package dev.kiln.runtime;

import dev.kiln.ir.DType;
import dev.kiln.ir.Shape;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A dense row-major tensor: element type, static shape and little-endian bytes.
 * Element access converts through double or long so that kernels can be written once for
 * every dtype; heavy kernels use the bulk array views instead.
 */
public final class Tensor {
    /** Where {@link #allocateDirect} starts a tensor's bytes: a cache line, the widest vector load. */
    private static final int DIRECT_ALIGNMENT = 64;

    private final DType dtype;
    private final long[] shape;
    private final int size;
    private final ByteBuffer data;

    private Tensor(DType dtype, long[] shape, ByteBuffer data) {
        this.dtype = dtype;
        this.shape = shape.clone();
        long n = Shape.elementCount(this.shape);
        long bytes = Math.multiplyExact(n, dtype.byteSize());
        if (bytes > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor of shape " + Arrays.toString(shape) + " and dtype " + dtype + " is too large (" + bytes + " bytes)");
        }
        if (data.remaining() != bytes) {
            throw new IllegalArgumentException("tensor of shape " + Arrays.toString(shape) + " and dtype " + dtype
                    + " needs " + bytes + " bytes, got " + data.remaining());
        }
        this.size = (int) n;
        this.data = data.slice().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** A zero-filled tensor. */
    public static Tensor allocate(DType dtype, long... shape) {
        long bytes = Math.multiplyExact(Shape.elementCount(shape), dtype.byteSize());
        if (bytes > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor of shape " + Arrays.toString(shape) + " and dtype " + dtype + " is too large (" + bytes + " bytes)");
        }
        return new Tensor(dtype, shape, ByteBuffer.allocate((int) bytes));
    }

    /**
     * A zero-filled tensor in direct (native) memory starting at a 64-byte boundary: {@link Model#run(java.util.Map, java.util.Map)}
     * reads such an input and writes such an output where it is, with no copy.
     */
    public static Tensor allocateDirect(DType dtype, long... shape) {
        long bytes = Math.multiplyExact(Shape.elementCount(shape), dtype.byteSize());
        if (bytes > Integer.MAX_VALUE - 8 - DIRECT_ALIGNMENT) {
            throw new IllegalArgumentException("tensor of shape " + Arrays.toString(shape) + " and dtype " + dtype + " is too large (" + bytes + " bytes)");
        }
        ByteBuffer raw = ByteBuffer.allocateDirect((int) bytes + DIRECT_ALIGNMENT);
        int skip = (DIRECT_ALIGNMENT - raw.alignmentOffset(0, DIRECT_ALIGNMENT)) % DIRECT_ALIGNMENT;
        return new Tensor(dtype, shape, raw.position(skip).limit(skip + (int) bytes));
    }

    /** Wraps existing little-endian bytes without copying. */
    public static Tensor wrap(DType dtype, long[] shape, ByteBuffer data) {
        return new Tensor(dtype, shape, data);
    }

    public static Tensor ofFloats(float[] values, long... shape) {
        Tensor t = allocate(DType.F32, shape);
        t.data.asFloatBuffer().put(values);
        return t;
    }

    public static Tensor ofDoubles(double[] values, long... shape) {
        Tensor t = allocate(DType.F64, shape);
        t.data.asDoubleBuffer().put(values);
        return t;
    }

    public static Tensor ofLongs(long[] values, long... shape) {
        Tensor t = allocate(DType.I64, shape);
        t.data.asLongBuffer().put(values);
        return t;
    }

    public static Tensor ofInts(int[] values, long... shape) {
        Tensor t = allocate(DType.I32, shape);
        t.data.asIntBuffer().put(values);
        return t;
    }

    public static Tensor ofBooleans(boolean[] values, long... shape) {
        Tensor t = allocate(DType.BOOL, shape);
        for (int i = 0; i < values.length; i++) t.data.put(i, (byte) (values[i] ? 1 : 0));
        return t;
    }

    public DType dtype() { return dtype; }

    public long[] shape() { return shape.clone(); }

    public int rank() { return shape.length; }

    public long dim(int i) { return shape[i]; }

    /** Whether the tensor is of exactly this dtype and shape (without copying its shape, for checks made per inference). */
    boolean hasType(DType dtype, long[] shape) { return this.dtype == dtype && Arrays.equals(this.shape, shape); }

    /** Number of elements. */
    public int size() { return size; }

    /** A little-endian view of the bytes, positioned at 0, sharing the storage. */
    public ByteBuffer data() { return data.duplicate().order(ByteOrder.LITTLE_ENDIAN); }

    /** The same bytes seen with another shape of equal element count. */
    public Tensor reshape(long... newShape) { return new Tensor(dtype, newShape, data.duplicate()); }

    /** Element i as a double: unsigned integers read unsigned, bool as 0 or 1. */
    public double getDouble(int i) {
        return switch (dtype) {
            case F32 -> data.getFloat(i * 4);
            case F64 -> data.getDouble(i * 8);
            case F16 -> HalfFloats.halfToFloat(data.getShort(i * 2));
            case BF16 -> HalfFloats.bfloat16ToFloat(data.getShort(i * 2));
            case U64 -> {
                long v = data.getLong(i * 8);
                yield v >= 0 ? v : (double) (v >>> 1) * 2.0 + (v & 1);
            }
            default -> getLong(i);
        };
    }

    /**
     * Element i as a long: signed integers sign-extended, unsigned zero-extended (u64 as raw bits),
     * bool as 0 or 1, floating point truncated toward zero.
     */
    public long getLong(int i) {
        return switch (dtype) {
            case I8 -> data.get(i);
            case U8, BOOL -> data.get(i) & 0xffL;
            case I16 -> data.getShort(i * 2);
            case U16 -> data.getShort(i * 2) & 0xffffL;
            case I32 -> data.getInt(i * 4);
            case U32 -> data.getInt(i * 4) & 0xffffffffL;
            case I64, U64 -> data.getLong(i * 8);
            default -> (long) getDouble(i);
        };
    }

    public boolean getBoolean(int i) {
        return dtype.isFloatingPoint() ? getDouble(i) != 0.0 : getLong(i) != 0;
    }

    /**
     * Stores v at element i: floating types round to nearest, integers take v truncated toward
     * zero and wrapped to their width, bool stores v != 0.
     */
    public void setDouble(int i, double v) {
        switch (dtype) {
            case F32 -> data.putFloat(i * 4, (float) v);
            case F64 -> data.putDouble(i * 8, v);
            case F16 -> data.putShort(i * 2, HalfFloats.floatToHalf((float) v));
            case BF16 -> data.putShort(i * 2, HalfFloats.floatToBfloat16((float) v));
            case BOOL -> data.put(i, (byte) (v != 0.0 ? 1 : 0));
            case U64 -> setLong(i, v >= 0x1p63 ? (long) (v - 0x1p63) ^ Long.MIN_VALUE : (long) v);
            default -> setLong(i, (long) v);
        }
    }

    /** Stores v at element i: integers wrap to their width, floating types convert, bool stores v != 0. */
    public void setLong(int i, long v) {
        switch (dtype) {
            case I8, U8 -> data.put(i, (byte) v);
            case BOOL -> data.put(i, (byte) (v != 0 ? 1 : 0));
            case I16, U16 -> data.putShort(i * 2, (short) v);
            case I32, U32 -> data.putInt(i * 4, (int) v);
            case I64, U64 -> data.putLong(i * 8, v);
            default -> setDouble(i, (double) v);
        }
    }

    public void setBoolean(int i, boolean v) { setLong(i, v ? 1 : 0); }

    /** All elements converted to float. */
    public float[] toFloatArray() {
        float[] r = new float[size];
        if (dtype == DType.F32) {
            data.asFloatBuffer().get(r);
        } else {
            for (int i = 0; i < size; i++) r[i] = (float) getDouble(i);
        }
        return r;
    }

    public double[] toDoubleArray() {
        double[] r = new double[size];
        if (dtype == DType.F64) {
            data.asDoubleBuffer().get(r);
        } else {
            for (int i = 0; i < size; i++) r[i] = getDouble(i);
        }
        return r;
    }

    public long[] toLongArray() {
        long[] r = new long[size];
        if (dtype == DType.I64) {
            data.asLongBuffer().get(r);
        } else {
            for (int i = 0; i < size; i++) r[i] = getLong(i);
        }
        return r;
    }

    /** Same dtype, shape and bytes. */
    public boolean contentEquals(Tensor o) {
        return dtype == o.dtype && Arrays.equals(shape, o.shape) && data.equals(o.data);
    }

    @Override
    public String toString() { return "Tensor(" + dtype + Arrays.toString(shape) + ")"; }
}
