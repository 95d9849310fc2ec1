package dev.kiln.ir.ops;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Evaluates the small integer computations exporters build shapes with (Shape, Gather, Concat,
 * Unsqueeze, arithmetic, ...) when their inputs are known, so that a Reshape or Expand fed by them
 * gets a constant operand and a static output type. ONNX calls this data propagation.
 * Only integer and bool tensors of at most {@link #MAX_ELEMENTS} elements are evaluated; anything
 * else is left to run time.
 */
public final class ShapeFolding {
    static final int MAX_ELEMENTS = 4096;

    private ShapeFolding() {}

    /** A small integer or bool tensor, values widened to long. */
    private record Ints(DType dtype, long[] shape, long[] v) {
        int rank() { return shape.length; }
    }

    /**
     * The outputs of the node as constants when they can be computed now, else null.
     * {@code types} are the inferred output types (their dtypes decide the results').
     */
    public static List<Attribute.Tensor> fold(String op, List<Value> inputs, Map<String, Attribute> attrs, List<TensorType> types) {
        if (types.size() != 1) return null;
        OpSpec spec = OpRegistry.spec(op);
        TensorType out = types.get(0);
        if (op.equals("ConstantOfShape")) return constantOfShape(inputs, spec.attributeOrDefault(attrs, "value"), out);
        if (!out.shape().isStatic() || !isFoldable(out.dtype()) || out.shape().elementCount() > MAX_ELEMENTS) return null;
        List<Ints> in = new ArrayList<>();
        for (Value v : inputs) in.add(v == null ? null : known(v));
        long[] result = switch (op) {
            case "Shape" -> shape(inputs.get(0), spec, attrs);
            case "Size" -> inputs.get(0).type().shape().isStatic() ? new long[] {inputs.get(0).type().shape().elementCount()} : null;
            default -> all(in) ? evaluate(op, in, spec, attrs, out) : null;
        };
        if (result == null || result.length != out.shape().elementCount()) return null;
        return List.of(new Attribute.Tensor(out, encode(out.dtype(), result)));
    }

    private static boolean isFoldable(DType t) { return t.isInteger() || t == DType.BOOL; }

    private static boolean all(List<Ints> in) {
        for (Ints i : in) if (i == null) return false;
        return !in.isEmpty();
    }

    private static Ints known(Value v) {
        if (!(v instanceof Constant c) || !isFoldable(c.type().dtype()) || c.type().dtype() == DType.U64 || c.type().shape().elementCount() > MAX_ELEMENTS) return null;
        ByteBuffer b = c.data();
        DType t = c.type().dtype();
        long[] vals = new long[(int) c.type().shape().elementCount()];
        for (int i = 0; i < vals.length; i++) {
            vals[i] = switch (t) {
                case I8 -> b.get(i);
                case U8, BOOL -> b.get(i) & 0xff;
                case I16 -> b.getShort(i * 2);
                case U16 -> b.getShort(i * 2) & 0xffff;
                case I32 -> b.getInt(i * 4);
                case U32 -> b.getInt(i * 4) & 0xffffffffL;
                default -> b.getLong(i * 8);
            };
        }
        return new Ints(t, c.type().shape().sizes(), vals);
    }

    private static long[] shape(Value x, OpSpec spec, Map<String, Attribute> attrs) {
        Shape s = x.type().shape();
        int rank = s.rank();
        int start = clampAxis(intAttr(spec, attrs, "start", 0), rank);
        int end = clampAxis(intAttr(spec, attrs, "end", rank), rank);
        long[] dims = new long[Math.max(0, end - start)];
        for (int i = 0; i < dims.length; i++) {
            if (!s.dim(start + i).isStatic()) return null;
            dims[i] = s.dim(start + i).size();
        }
        return dims;
    }

    private static int clampAxis(long a, int rank) {
        long v = a < 0 ? a + rank : a;
        return (int) Math.max(0, Math.min(rank, v));
    }

    private static long intAttr(OpSpec spec, Map<String, Attribute> attrs, String name, long dflt) {
        return spec.attributeOrDefault(attrs, name) instanceof Attribute.Int i ? i.value() : dflt;
    }

    private static long[] evaluate(String op, List<Ints> in, OpSpec spec, Map<String, Attribute> attrs, TensorType out) {
        Ints a = in.get(0);
        return switch (op) {
            case "Identity", "Unsqueeze", "Squeeze", "Reshape", "Flatten" -> a.v();
            case "Cast" -> a.v();
            case "Neg" -> map(a, x -> -x);
            case "Abs" -> map(a, Math::abs);
            case "Add", "Sub", "Mul", "Div", "Max", "Min", "Equal", "Less", "Greater" -> in.size() == 2 ? binary(op, a, in.get(1), out) : null;
            case "Where" -> where(a, in.get(1), in.get(2), out);
            case "Gather" -> gather(a, in.get(1), (int) intAttr(spec, attrs, "axis", 0));
            case "Concat" -> concat(in, (int) intAttr(spec, attrs, "axis", 0));
            case "Slice" -> slice(in);
            case "Range" -> range(a, in.get(1), in.get(2));
            case "ReduceProd", "ReduceSum", "ReduceMax", "ReduceMin" -> reduceAll(op, in, spec, attrs);
            default -> null;
        };
    }

    private static long[] map(Ints a, java.util.function.LongUnaryOperator f) {
        long[] r = new long[a.v().length];
        for (int i = 0; i < r.length; i++) r[i] = f.applyAsLong(a.v()[i]);
        return r;
    }

    private static long[] binary(String op, Ints a, Ints b, TensorType out) {
        long[] outShape = out.shape().sizes();
        int n = (int) Shape.elementCount(outShape);
        long[] r = new long[n];
        for (int i = 0; i < n; i++) {
            long x = a.v()[broadcastIndex(i, outShape, a.shape())];
            long y = b.v()[broadcastIndex(i, outShape, b.shape())];
            switch (op) {
                case "Add" -> r[i] = x + y;
                case "Sub" -> r[i] = x - y;
                case "Mul" -> r[i] = x * y;
                case "Div" -> {
                    if (y == 0) return null;
                    r[i] = x / y;
                }
                case "Max" -> r[i] = Math.max(x, y);
                case "Min" -> r[i] = Math.min(x, y);
                case "Equal" -> r[i] = x == y ? 1 : 0;
                case "Less" -> r[i] = x < y ? 1 : 0;
                default -> r[i] = x > y ? 1 : 0;
            }
        }
        return r;
    }

    private static long[] where(Ints c, Ints x, Ints y, TensorType out) {
        long[] outShape = out.shape().sizes();
        int n = (int) Shape.elementCount(outShape);
        long[] r = new long[n];
        for (int i = 0; i < n; i++) {
            boolean pick = c.v()[broadcastIndex(i, outShape, c.shape())] != 0;
            r[i] = pick ? x.v()[broadcastIndex(i, outShape, x.shape())] : y.v()[broadcastIndex(i, outShape, y.shape())];
        }
        return r;
    }

    /** The flat index into an input of shape {@code in} that output element {@code flat} reads under numpy broadcasting. */
    private static int broadcastIndex(int flat, long[] out, long[] in) {
        int index = 0;
        long stride = 1;
        int rem = flat;
        int[] coords = new int[out.length];
        for (int d = out.length - 1; d >= 0; d--) {
            coords[d] = (int) (rem % out[d]);
            rem /= (int) out[d];
        }
        for (int d = in.length - 1; d >= 0; d--) {
            int od = d + out.length - in.length;
            int c = in[d] == 1 ? 0 : coords[od];
            index += (int) (c * stride);
            stride *= in[d];
        }
        return index;
    }

    private static long[] gather(Ints data, Ints idx, int axisAttr) {
        int rank = data.rank();
        if (rank == 0) return null;
        int axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
        long outer = 1;
        for (int d = 0; d < axis; d++) outer *= data.shape()[d];
        long inner = 1;
        for (int d = axis + 1; d < rank; d++) inner *= data.shape()[d];
        long dimSize = data.shape()[axis];
        long[] r = new long[(int) (outer * idx.v().length * inner)];
        int k = 0;
        for (long o = 0; o < outer; o++) {
            for (long j : idx.v()) {
                long jj = j < 0 ? j + dimSize : j;
                if (jj < 0 || jj >= dimSize) return null;
                for (long i = 0; i < inner; i++) r[k++] = data.v()[(int) ((o * dimSize + jj) * inner + i)];
            }
        }
        return r;
    }

    private static long[] concat(List<Ints> in, int axisAttr) {
        int rank = in.get(0).rank();
        if (rank == 0) return null;
        int axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
        long outer = 1;
        for (int d = 0; d < axis; d++) outer *= in.get(0).shape()[d];
        List<Long> r = new ArrayList<>();
        for (long o = 0; o < outer; o++) {
            for (Ints t : in) {
                long chunk = t.v().length / Math.max(1, outer);
                if (outer > 0 && t.v().length % outer != 0) return null;
                for (long i = 0; i < chunk; i++) r.add(t.v()[(int) (o * chunk + i)]);
            }
        }
        return r.stream().mapToLong(Long::longValue).toArray();
    }

    /** Slices of 1-D tensors, the form shape arithmetic uses. */
    private static long[] slice(List<Ints> in) {
        Ints data = in.get(0);
        if (data.rank() != 1 || in.size() < 3) return null;
        if (in.size() > 3 && (in.get(3).v().length != 1 || (in.get(3).v()[0] != 0 && in.get(3).v()[0] != -1))) return null;
        long n = data.v().length;
        long step = in.size() > 4 ? in.get(4).v()[0] : 1;
        if (step == 0 || in.get(1).v().length != 1 || in.get(2).v().length != 1) return null;
        long start = in.get(1).v()[0];
        long end = in.get(2).v()[0];
        start = start < 0 ? start + n : start;
        end = end < 0 ? end + n : end;
        List<Long> r = new ArrayList<>();
        if (step > 0) {
            start = Math.max(0, Math.min(n, start));
            end = Math.max(0, Math.min(n, end));
            for (long i = start; i < end; i += step) r.add(data.v()[(int) i]);
        } else {
            start = Math.max(-1, Math.min(n - 1, start));
            end = Math.max(-1, Math.min(n - 1, end));
            for (long i = start; i > end; i += step) r.add(data.v()[(int) i]);
        }
        return r.stream().mapToLong(Long::longValue).toArray();
    }

    private static long[] range(Ints start, Ints limit, Ints delta) {
        long s = start.v()[0];
        long l = limit.v()[0];
        long d = delta.v()[0];
        if (d == 0) return null;
        long n = Math.max(0, (l - s + d + (d > 0 ? -1 : 1)) / d);
        if (n > MAX_ELEMENTS) return null;
        long[] r = new long[(int) n];
        for (int i = 0; i < n; i++) r[i] = s + i * d;
        return r;
    }

    /** Reductions over every axis, as used to count elements; partial reductions are left to run time. */
    private static long[] reduceAll(String op, List<Ints> in, OpSpec spec, Map<String, Attribute> attrs) {
        Ints a = in.get(0);
        boolean allAxes = in.size() < 2 || in.get(1).v().length == 0 || (a.rank() == 1 && in.get(1).v().length == 1);
        if (!allAxes || (in.size() >= 2 && in.get(1).v().length == 0 && intAttr(spec, attrs, "noop_with_empty_axes", 0) != 0)) return null;
        long acc = switch (op) {
            case "ReduceProd" -> 1;
            case "ReduceSum" -> 0;
            case "ReduceMax" -> Long.MIN_VALUE;
            default -> Long.MAX_VALUE;
        };
        if (a.v().length == 0 && (op.equals("ReduceMax") || op.equals("ReduceMin"))) return null;
        for (long x : a.v()) {
            acc = switch (op) {
                case "ReduceProd" -> acc * x;
                case "ReduceSum" -> acc + x;
                case "ReduceMax" -> Math.max(acc, x);
                default -> Math.min(acc, x);
            };
        }
        return new long[] {acc};
    }

    private static List<Attribute.Tensor> constantOfShape(List<Value> inputs, Attribute value, TensorType out) {
        if (!out.shape().isStatic()) return null;
        long n = out.shape().elementCount();
        int width = out.dtype().byteSize();
        if (n * width > MAX_ELEMENTS * 8L) return null;
        ByteBuffer one = value instanceof Attribute.Tensor t ? t.data() : ByteBuffer.allocate(width);
        if (one.remaining() != width) return null;
        ByteBuffer b = ByteBuffer.allocate((int) (n * width)).order(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < n; i++) b.put(one.duplicate());
        b.flip();
        return List.of(new Attribute.Tensor(out, b));
    }

    private static ByteBuffer encode(DType t, long[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * t.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        for (long x : v) {
            switch (t) {
                case I8, U8 -> b.put((byte) x);
                case BOOL -> b.put((byte) (x != 0 ? 1 : 0));
                case I16, U16 -> b.putShort((short) x);
                case I32, U32 -> b.putInt((int) x);
                default -> b.putLong(x);
            }
        }
        b.flip();
        return b;
    }
}
