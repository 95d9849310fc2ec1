package dev.kiln.backends.c;

import dev.kiln.ir.DType;

/**
 * How each IR dtype is held and computed in the generated C: its storage type, the type arithmetic runs in
 * (f16 and bf16 are 16-bit words computed in float), and the conversions between the two.
 */
final class CTypes {
    private CTypes() {}

    /** The C type of one stored element. */
    static String storage(DType t) {
        return switch (t) {
            case F32 -> "float";
            case F64 -> "double";
            case F16, BF16 -> "uint16_t";
            case I8 -> "int8_t";
            case U8, BOOL -> "uint8_t";
            case I16 -> "int16_t";
            case U16 -> "uint16_t";
            case I32 -> "int32_t";
            case U32 -> "uint32_t";
            case I64 -> "int64_t";
            case U64 -> "uint64_t";
        };
    }

    /** The C type arithmetic on the dtype runs in: float for the 16-bit floats, else the storage type. */
    static String compute(DType t) {
        return t == DType.F16 || t == DType.BF16 ? "float" : storage(t);
    }

    /** An unsigned C integer type of the dtype's width, for moving elements whatever they are. */
    static String bits(DType t) {
        return switch (t.byteSize()) {
            case 1 -> "uint8_t";
            case 2 -> "uint16_t";
            case 4 -> "uint32_t";
            default -> "uint64_t";
        };
    }

    /** The expression of a stored element {@code stored} in the compute type. */
    static String load(DType t, String stored) {
        return switch (t) {
            case F16 -> "kiln_f16_to_f32(" + stored + ")";
            case BF16 -> "kiln_bf16_to_f32(" + stored + ")";
            default -> stored;
        };
    }

    /** The expression storing {@code computed} (of the compute type) as the dtype. */
    static String store(DType t, String computed) {
        return switch (t) {
            case F16 -> "kiln_f32_to_f16(" + computed + ")";
            case BF16 -> "kiln_f32_to_bf16(" + computed + ")";
            case BOOL -> "(uint8_t) ((" + computed + ") != 0)";
            default -> computed;
        };
    }

    /** The ONNX TensorProto code of a dtype: what kiln_input_dtype and kiln_output_dtype return. */
    static int onnxCode(DType t) {
        return switch (t) {
            case F32 -> 1;
            case U8 -> 2;
            case I8 -> 3;
            case U16 -> 4;
            case I16 -> 5;
            case I32 -> 6;
            case I64 -> 7;
            case BOOL -> 9;
            case F16 -> 10;
            case F64 -> 11;
            case U32 -> 12;
            case U64 -> 13;
            case BF16 -> 16;
        };
    }

    /** A float literal that C reads back exactly. */
    static String floatLiteral(double value) {
        float f = (float) value;
        if (Float.isNaN(f)) return "NAN";
        if (Float.isInfinite(f)) return f > 0 ? "INFINITY" : "(-INFINITY)";
        return "(" + Float.toHexString(f) + "f)";
    }

    /** A double literal that C reads back exactly. */
    static String doubleLiteral(double value) {
        if (Double.isNaN(value)) return "((double) NAN)";
        if (Double.isInfinite(value)) return value > 0 ? "((double) INFINITY)" : "(-(double) INFINITY)";
        return "(" + Double.toHexString(value) + ")";
    }

    /** A long literal. */
    static String longLiteral(long value) {
        return value == Long.MIN_VALUE ? "(-9223372036854775807LL - 1)" : "(" + value + "LL)";
    }
}
