package dev.kiln.ir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A value whose contents are known at compile time. The bytes stay where they were loaded
 * (off-heap or memory-mapped) and are shared read-only, never copied by passes.
 * Elements are little-endian, row-major; bool is one byte per element.
 */
public final class Constant extends Value {
    private final ByteBuffer data;

    Constant(String name, TensorType type, ByteBuffer data) {
        super(name, type);
        if (!type.shape().isStatic()) throw new IllegalArgumentException("constant '" + name + "' needs a static shape, got " + type.shape());
        long expected = Math.multiplyExact(type.shape().elementCount(), type.dtype().byteSize());
        if (data.remaining() != expected) {
            throw new IllegalArgumentException("constant '" + name + "' of type " + type + " needs " + expected
                    + " bytes but has " + data.remaining());
        }
        this.data = data.slice().asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** A read-only little-endian view of the contents, positioned at 0. */
    public ByteBuffer data() { return data.duplicate().order(ByteOrder.LITTLE_ENDIAN); }

    @Override
    public boolean isConstant() { return true; }
}
