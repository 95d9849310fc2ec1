package dev.kiln.runtime;

import dev.kiln.ir.DType;
import dev.kiln.ir.Shape;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * NumPy {@code .npy} files (format versions 1, 2 and 3), the way tensors cross the command line.
 * bfloat16 has no NumPy type, so it is written widened to float32.
 */
public final class Npy {
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final Pattern DESCR = Pattern.compile("'descr'\\s*:\\s*'([<>|=])([a-zA-Z])(\\d+)'");
    private static final Pattern FORTRAN = Pattern.compile("'fortran_order'\\s*:\\s*(True|False)");
    private static final Pattern SHAPE = Pattern.compile("'shape'\\s*:\\s*\\(([^)]*)\\)");

    private Npy() {}

    /** Reads a file; any malformation is an {@link IOException} naming the problem. */
    public static Tensor read(Path file) throws IOException {
        long fileSize = Files.size(file);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer head = ByteBuffer.allocate((int) Math.min(fileSize, 12)).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, head, file);
            head.flip();
            for (byte b : MAGIC) {
                if (!head.hasRemaining() || head.get() != b) throw new IOException(file + " is not a .npy file (bad magic)");
            }
            if (head.remaining() < 4) throw new IOException(file + " is truncated in its header");
            int major = head.get() & 0xff;
            head.get();
            long headerLength;
            int prefix;
            if (major == 1) {
                headerLength = head.getShort() & 0xffff;
                prefix = 10;
            } else if (major == 2 || major == 3) {
                if (head.remaining() < 4) throw new IOException(file + " is truncated in its header");
                headerLength = head.getInt() & 0xffffffffL;
                prefix = 12;
            } else {
                throw new IOException(file + " has unsupported .npy format version " + major);
            }
            if (prefix + headerLength > fileSize || headerLength > 1 << 20) throw new IOException(file + " is truncated in its header");
            ByteBuffer hb = ByteBuffer.allocate((int) headerLength);
            ch.position(prefix);
            readFully(ch, hb, file);
            String header = new String(hb.array(), major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
            return parseBody(file, header, ch, prefix + headerLength, fileSize);
        }
    }

    private static Tensor parseBody(Path file, String header, FileChannel ch, long dataStart, long fileSize) throws IOException {
        Matcher d = DESCR.matcher(header);
        Matcher f = FORTRAN.matcher(header);
        Matcher s = SHAPE.matcher(header);
        if (!d.find() || !f.find() || !s.find()) throw new IOException(file + " has a malformed .npy header: " + header.strip());
        DType dtype = dtypeOf(d.group(2), Integer.parseInt(d.group(3)), file);
        boolean bigEndian = d.group(1).equals(">") && dtype.byteSize() > 1;
        if (f.group(1).equals("True")) throw new IOException(file + " is in Fortran order; save it with numpy.ascontiguousarray first");
        long[] shape = parseShape(s.group(1), file);
        long count;
        try {
            count = Shape.elementCount(shape);
            long bytes = Math.multiplyExact(count, dtype.byteSize());
            if (bytes > Integer.MAX_VALUE - 8) throw new IOException(file + " holds " + bytes + " bytes, more than one tensor can");
            if (dataStart + bytes != fileSize) {
                throw new IOException(file + " should hold " + bytes + " bytes of data for shape " + Shape.of(shape)
                        + " and dtype " + dtype + " but holds " + (fileSize - dataStart));
            }
            ByteBuffer data = ByteBuffer.allocate((int) bytes);
            ch.position(dataStart);
            readFully(ch, data, file);
            data.flip();
            if (bigEndian) data = swapBytes(data, dtype.byteSize());
            return Tensor.wrap(dtype, shape, data.order(ByteOrder.LITTLE_ENDIAN));
        } catch (ArithmeticException e) {
            throw new IOException(file + " has a shape whose size overflows: " + Shape.of(shape));
        }
    }

    private static long[] parseShape(String text, Path file) throws IOException {
        List<Long> dims = new ArrayList<>();
        for (String part : text.split(",")) {
            String p = part.strip().replace("L", "");
            if (p.isEmpty()) continue;
            try {
                long v = Long.parseLong(p);
                if (v < 0) throw new NumberFormatException();
                dims.add(v);
            } catch (NumberFormatException e) {
                throw new IOException(file + " has a malformed shape (" + text + ")");
            }
        }
        return dims.stream().mapToLong(Long::longValue).toArray();
    }

    private static DType dtypeOf(String kind, int size, Path file) throws IOException {
        DType t = switch (kind + size) {
            case "f4" -> DType.F32;
            case "f8" -> DType.F64;
            case "f2" -> DType.F16;
            case "i1" -> DType.I8;
            case "u1" -> DType.U8;
            case "i2" -> DType.I16;
            case "u2" -> DType.U16;
            case "i4" -> DType.I32;
            case "u4" -> DType.U32;
            case "i8" -> DType.I64;
            case "u8" -> DType.U64;
            case "b1" -> DType.BOOL;
            default -> null;
        };
        if (t == null) throw new IOException(file + " has unsupported element type '" + kind + size + "'");
        return t;
    }

    private static ByteBuffer swapBytes(ByteBuffer in, int width) {
        ByteBuffer out = ByteBuffer.allocate(in.remaining());
        for (int i = 0; i < in.remaining(); i += width) {
            for (int k = 0; k < width; k++) out.put(i + k, in.get(i + width - 1 - k));
        }
        return out;
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, Path file) throws IOException {
        while (buf.hasRemaining()) {
            if (ch.read(buf) < 0) throw new IOException(file + " is truncated");
        }
    }

    /** Writes a tensor as a version 1.0 .npy file. */
    public static void write(Path file, Tensor t) throws IOException {
        Tensor out = t.dtype() == DType.BF16 ? widen(t) : t;
        StringBuilder shape = new StringBuilder("(");
        for (long dim : out.shape()) shape.append(dim).append(", ");
        if (out.rank() > 1) shape.setLength(shape.length() - 2);
        else if (out.rank() == 1) shape.setLength(shape.length() - 1);
        shape.append(')');
        String dict = "{'descr': '" + descr(out.dtype()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
        int unpadded = 10 + dict.length() + 1;
        int padding = (64 - unpadded % 64) % 64;
        String header = dict + " ".repeat(padding) + "\n";
        try (OutputStream os = Files.newOutputStream(file)) {
            os.write(MAGIC);
            os.write(new byte[] {1, 0, (byte) (header.length() & 0xff), (byte) (header.length() >>> 8)});
            os.write(header.getBytes(StandardCharsets.ISO_8859_1));
            ByteBuffer data = out.data();
            byte[] bytes = new byte[data.remaining()];
            data.get(bytes);
            os.write(bytes);
        }
    }

    private static Tensor widen(Tensor t) {
        Tensor w = Tensor.allocate(DType.F32, t.shape());
        for (int i = 0; i < t.size(); i++) w.setDouble(i, t.getDouble(i));
        return w;
    }

    private static String descr(DType t) {
        return switch (t) {
            case F32 -> "<f4";
            case F64 -> "<f8";
            case F16 -> "<f2";
            case I8 -> "|i1";
            case U8 -> "|u1";
            case I16 -> "<i2";
            case U16 -> "<u2";
            case I32 -> "<i4";
            case U32 -> "<u4";
            case I64 -> "<i8";
            case U64 -> "<u8";
            case BOOL -> "|b1";
            case BF16 -> throw new IllegalStateException("bf16 is widened before writing");
        };
    }
}
