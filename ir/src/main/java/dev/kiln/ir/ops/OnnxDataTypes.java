package dev.kiln.ir.ops;

import dev.kiln.ir.DType;

/**
 * ONNX TensorProto.DataType codes. IR ops keep ONNX semantics, so attributes such as Cast's
 * {@code to} hold these codes; frontends use the same table for tensors.
 */
public final class OnnxDataTypes {
    private static final String[] NAMES = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64",
        "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16",
        "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1",
        "FLOAT8E8M0", "UINT2", "INT2"};

    private OnnxDataTypes() {}

    /** The IR dtype of a code, or null when the IR has no such dtype (string, float8, int4, ...). */
    public static DType dtype(long code) {
        return switch ((int) code) {
            case 1 -> DType.F32;
            case 2 -> DType.U8;
            case 3 -> DType.I8;
            case 4 -> DType.U16;
            case 5 -> DType.I16;
            case 6 -> DType.I32;
            case 7 -> DType.I64;
            case 9 -> DType.BOOL;
            case 10 -> DType.F16;
            case 11 -> DType.F64;
            case 12 -> DType.U32;
            case 13 -> DType.U64;
            case 16 -> DType.BF16;
            default -> null;
        };
    }

    /** The ONNX name of a code, for messages. */
    public static String name(long code) {
        return code >= 0 && code < NAMES.length ? NAMES[(int) code] : "type code " + code;
    }

    /** The dtype an attribute names; fails naming the attribute when the IR lacks it. */
    static DType require(InferenceContext ctx, String attr, long code) {
        DType t = dtype(code);
        if (t != null) return t;
        if (code > 0 && code < NAMES.length) {
            throw ctx.fail("'" + attr + "' is ONNX data type " + NAMES[(int) code] + ", which the IR does not support");
        }
        throw ctx.fail("'" + attr + "' is not an ONNX data type: " + code);
    }
}
