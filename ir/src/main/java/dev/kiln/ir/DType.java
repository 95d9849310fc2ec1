package dev.kiln.ir;

import java.util.Locale;

/** Element types of tensors. The short name is the one the IR text uses. */
public enum DType {
    F32("f32", 4), F16("f16", 2), BF16("bf16", 2), F64("f64", 8),
    I8("i8", 1), U8("u8", 1), I16("i16", 2), U16("u16", 2),
    I32("i32", 4), U32("u32", 4), I64("i64", 8), U64("u64", 8),
    BOOL("bool", 1);

    private final String irName;
    private final int byteSize;

    DType(String irName, int byteSize) {
        this.irName = irName;
        this.byteSize = byteSize;
    }

    public String irName() { return irName; }

    public int byteSize() { return byteSize; }

    public boolean isFloatingPoint() { return this == F32 || this == F16 || this == BF16 || this == F64; }

    public boolean isInteger() { return !isFloatingPoint() && this != BOOL; }

    public boolean isSignedInteger() { return this == I8 || this == I16 || this == I32 || this == I64; }

    public boolean isUnsignedInteger() { return this == U8 || this == U16 || this == U32 || this == U64; }

    public static DType fromIrName(String name) {
        for (DType t : values()) {
            if (t.irName.equals(name)) return t;
        }
        throw new IllegalArgumentException("unknown dtype '" + name + "'");
    }

    @Override
    public String toString() { return irName.toLowerCase(Locale.ROOT); }
}
