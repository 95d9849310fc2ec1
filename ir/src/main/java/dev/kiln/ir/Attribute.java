package dev.kiln.ir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;

/** A typed node attribute. */
public sealed interface Attribute {

    /** The kinds of attribute an op spec can declare. */
    enum Kind { INT, FLOAT, STRING, INTS, FLOATS, STRINGS, TENSOR }

    Kind kind();

    record Int(long value) implements Attribute {
        public Kind kind() { return Kind.INT; }
    }

    record Float(float value) implements Attribute {
        public Kind kind() { return Kind.FLOAT; }

        @Override
        public boolean equals(Object o) {
            return o instanceof Float f && java.lang.Float.floatToIntBits(f.value) == java.lang.Float.floatToIntBits(value);
        }

        @Override
        public int hashCode() { return java.lang.Float.floatToIntBits(value); }
    }

    record Str(String value) implements Attribute {
        public Kind kind() { return Kind.STRING; }
    }

    record Ints(long[] values) implements Attribute {
        public Ints { values = values.clone(); }

        public long[] values() { return values.clone(); }

        public Kind kind() { return Kind.INTS; }

        @Override
        public boolean equals(Object o) { return o instanceof Ints i && Arrays.equals(i.values, values); }

        @Override
        public int hashCode() { return Arrays.hashCode(values); }

        @Override
        public String toString() { return "Ints" + Arrays.toString(values); }
    }

    record Floats(float[] values) implements Attribute {
        public Floats { values = values.clone(); }

        public float[] values() { return values.clone(); }

        public Kind kind() { return Kind.FLOATS; }

        @Override
        public boolean equals(Object o) { return o instanceof Floats f && Arrays.equals(f.values, values); }

        @Override
        public int hashCode() { return Arrays.hashCode(values); }

        @Override
        public String toString() { return "Floats" + Arrays.toString(values); }
    }

    record Strs(List<String> values) implements Attribute {
        public Strs { values = List.copyOf(values); }

        public Kind kind() { return Kind.STRINGS; }
    }

    /** A tensor-valued attribute (e.g. ConstantOfShape's value); little-endian bytes, read-only. */
    record Tensor(TensorType type, ByteBuffer data) implements Attribute {
        public Tensor {
            long expected = Math.multiplyExact(type.shape().elementCount(), type.dtype().byteSize());
            if (data.remaining() != expected) {
                throw new IllegalArgumentException("tensor attribute of type " + type + " needs " + expected + " bytes, has " + data.remaining());
            }
            data = data.slice().asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
        }

        @Override
        public ByteBuffer data() { return data.duplicate().order(ByteOrder.LITTLE_ENDIAN); }

        public Kind kind() { return Kind.TENSOR; }

        @Override
        public boolean equals(Object o) { return o instanceof Tensor t && t.type.equals(type) && t.data.equals(data); }

        @Override
        public int hashCode() { return type.hashCode() * 31 + data.hashCode(); }
    }

    static Attribute of(long v) { return new Int(v); }

    static Attribute of(float v) { return new Float(v); }

    static Attribute of(String v) { return new Str(v); }

    static Attribute of(long... v) { return new Ints(v); }

    static Attribute of(float... v) { return new Floats(v); }
}
