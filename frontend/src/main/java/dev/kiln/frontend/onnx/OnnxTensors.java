package dev.kiln.frontend.onnx;

import ai.onnx.proto.OnnxMl;
import dev.kiln.frontend.ImportException;
import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.ops.OnnxDataTypes;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;


/** Decoding of ONNX TensorProto contents into little-endian bytes, from any of the places ONNX keeps them. */
public final class OnnxTensors {
    private OnnxTensors() {}

    /** Parses a serialized TensorProto (as the ONNX test data sets store them). */
    public static Attribute.Tensor parse(byte[] serialized) {
        try {
            return decode(OnnxMl.TensorProto.parseFrom(serialized), null);
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw ImportException.client("not a valid ONNX TensorProto: " + e.getMessage());
        }
    }

    /** The IR dtype of an ONNX element type code; unsupported ones fail naming the type. */
    static DType dtype(int code, String where) {
        DType t = OnnxDataTypes.dtype(code);
        if (t == null) {
            throw new ImportException("UnsupportedDataType", where + " has element type " + OnnxDataTypes.name(code) + ", which Kiln does not support");
        }
        return t;
    }

    /**
     * The tensor's type and bytes. Raw data is shared with the parsed message, and external data
     * is memory-mapped from its file under {@code modelDir}, so that large weights are not copied.
     */
    static Attribute.Tensor decode(OnnxMl.TensorProto t, Path modelDir) {
        String where = "tensor '" + t.getName() + "'";
        DType dtype = dtype(t.getDataType(), where);
        long[] dims = new long[t.getDimsCount()];
        for (int i = 0; i < dims.length; i++) {
            dims[i] = t.getDims(i);
            if (dims[i] < 0) throw ImportException.client(where + " has negative dimension " + dims[i]);
        }
        long count;
        long bytes;
        try {
            count = Shape.elementCount(dims);
            bytes = Math.multiplyExact(count, dtype.byteSize());
        } catch (ArithmeticException e) {
            throw ImportException.client(where + " has a shape whose size overflows: " + Shape.of(dims));
        }
        if (bytes > Integer.MAX_VALUE - 8) throw ImportException.client(where + " is larger than 2 GiB, which one tensor cannot hold");
        TensorType type = TensorType.of(dtype, Shape.of(dims));
        ByteBuffer data;
        if (t.getDataLocation() == OnnxMl.TensorProto.DataLocation.EXTERNAL) {
            data = external(t, modelDir, where, bytes);
        } else if (t.hasRawData()) {
            data = t.getRawData().asReadOnlyByteBuffer();
            if (data.remaining() != bytes) {
                throw ImportException.client(where + " of type " + type + " needs " + bytes + " bytes but its raw data has " + data.remaining());
            }
        } else {
            data = typed(t, dtype, (int) count, where, type);
        }
        return new Attribute.Tensor(type, data.order(ByteOrder.LITTLE_ENDIAN));
    }

    private static ByteBuffer typed(OnnxMl.TensorProto t, DType dtype, int count, String where, TensorType type) {
        ByteBuffer out = ByteBuffer.allocateDirect(count * dtype.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        int given = switch (dtype) {
            case F32 -> t.getFloatDataCount();
            case F64 -> t.getDoubleDataCount();
            case I64 -> t.getInt64DataCount();
            case U32, U64 -> t.getUint64DataCount();
            default -> t.getInt32DataCount();
        };
        if (given != count) {
            throw ImportException.client(where + " of type " + type + " has " + given + " values, expected " + count);
        }
        for (int i = 0; i < count; i++) {
            switch (dtype) {
                case F32 -> out.putFloat(t.getFloatData(i));
                case F64 -> out.putDouble(t.getDoubleData(i));
                case I64 -> out.putLong(t.getInt64Data(i));
                case U64 -> out.putLong(t.getUint64Data(i));
                case U32 -> out.putInt((int) t.getUint64Data(i));
                case I32 -> out.putInt(t.getInt32Data(i));
                // f16 and bf16 are stored as their bit patterns in int32_data.
                case I16, U16, F16, BF16 -> out.putShort((short) t.getInt32Data(i));
                case I8, U8, BOOL -> out.put((byte) t.getInt32Data(i));
            }
        }
        out.flip();
        return out;
    }

    private static ByteBuffer external(OnnxMl.TensorProto t, Path modelDir, String where, long bytes) {
        String location = null;
        long offset = 0;
        long length = -1;
        for (OnnxMl.StringStringEntryProto e : t.getExternalDataList()) {
            switch (e.getKey()) {
                case "location" -> location = e.getValue();
                case "offset" -> offset = parseLong(e.getValue(), where);
                case "length" -> length = parseLong(e.getValue(), where);
                default -> { }
            }
        }
        if (location == null) throw ImportException.client(where + " has external data without a location");
        if (modelDir == null) throw ImportException.client(where + " refers to external data, which needs the model's directory");
        Path base = modelDir.toAbsolutePath().normalize();
        Path file = base.resolve(location).normalize();
        if (!file.startsWith(base) || Path.of(location).isAbsolute()) {
            throw ImportException.client(where + " refers to external data outside the model directory: " + location);
        }
        if (!Files.isRegularFile(file)) throw ImportException.client(where + " refers to missing external data file " + location);
        if (length < 0) length = bytes;
        if (length != bytes) throw ImportException.client(where + " has external length " + length + " but its shape needs " + bytes + " bytes");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            if (offset < 0 || offset + length > ch.size()) {
                throw ImportException.client(where + " reads bytes " + offset + ".." + (offset + length) + " of " + location + ", which has " + ch.size());
            }
            return ch.map(FileChannel.MapMode.READ_ONLY, offset, length);
        } catch (IOException e) {
            throw ImportException.client(where + ": cannot read external data " + location + ": " + e.getMessage());
        }
    }

    private static long parseLong(String s, String where) {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw ImportException.client(where + " has a malformed external data number '" + s + "'");
        }
    }

}
