package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Shape;
import dev.kiln.runtime.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import static dev.kiln.runtime.interpreter.ShapeBytes.bytes;
import static dev.kiln.runtime.interpreter.ShapeBytes.element;
import static dev.kiln.runtime.interpreter.ShapeBytes.gather;
import static dev.kiln.runtime.interpreter.ShapeBytes.identityOffsets;
import static dev.kiln.runtime.interpreter.ShapeBytes.strides;
import static dev.kiln.runtime.interpreter.ShapeBytes.tensor;

/**
 * Kernels of the tensor-manipulation ops. Data movement copies raw element bytes, so every dtype is
 * handled exactly; reshaping ops return views of their input's bytes.
 */
final class ShapeKernels {
    private ShapeKernels() {}

    static void register(Map<String, Kernel> table) {
        table.put("Reshape", single(ShapeKernels::reshape));
        table.put("Flatten", single(ShapeKernels::flatten));
        table.put("Transpose", single(ShapeKernels::transpose));
        table.put("Squeeze", single(ShapeKernels::squeeze));
        table.put("Unsqueeze", single(ShapeKernels::unsqueeze));
        table.put("Concat", single(ShapeKernels::concat));
        table.put("Split", ShapeKernels::split);
        table.put("Slice", single(ShapeKernels::slice));
        table.put("Expand", single(ShapeKernels::expand));
        table.put("Tile", single(ShapeKernels::tile));
        table.put("Pad", single(ShapeKernels::pad));
        table.put("Shape", single(ShapeKernels::shape));
        table.put("Size", single(ctx -> Tensor.ofLongs(new long[] {ctx.input(0).size()})));
        table.put("ConstantOfShape", single(ShapeKernels::constantOfShape));
        table.put("Range", single(ShapeKernels::range));
        table.put("DepthToSpace", single(ShapeKernels::depthToSpace));
        table.put("SpaceToDepth", single(ShapeKernels::spaceToDepth));
        table.put("Trilu", single(ShapeKernels::trilu));
        table.put("OneHot", single(ShapeKernels::oneHot));
        table.put("NonZero", single(ShapeKernels::nonZero));
        table.put("EyeLike", single(ShapeKernels::eyeLike));
        table.put("Compress", single(ShapeKernels::compress));
        table.put("CenterCropPad", single(ShapeKernels::centerCropPad));
        table.put("ReverseSequence", single(ShapeKernels::reverseSequence));
        table.put("Unique", ShapeUnique::unique);
        GatherKernels.register(table);
        ScatterKernels.register(table);
        table.put("Resize", single(ResizeKernel::resize));
    }

    /** A kernel of one output. */
    static Kernel single(Function<KernelContext, Tensor> f) {
        return ctx -> List.of(f.apply(ctx));
    }

    private static Tensor reshape(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long[] target = ctx.input(1).toLongArray();
        boolean allowZero = ctx.intAttr("allowzero") != 0;
        long[] out = new long[target.length];
        int inferred = -1;
        long known = 1;
        for (int i = 0; i < target.length; i++) {
            long v = target[i];
            if (v == -1 && inferred < 0) {
                inferred = i;
                continue;
            }
            if (v == 0 && !allowZero) {
                if (i >= x.rank()) throw ctx.fail("shape " + Arrays.toString(target) + " copies dimension " + i + " of an input of rank " + x.rank());
                v = x.dim(i);
            }
            if (v < 0) throw ctx.fail("shape " + Arrays.toString(target) + " has the invalid size " + v);
            out[i] = v;
            known *= v;
        }
        if (inferred >= 0) {
            if (known == 0 || x.size() % known != 0) throw ctx.fail("cannot reshape " + Arrays.toString(x.shape()) + " to " + Arrays.toString(target));
            out[inferred] = x.size() / known;
        }
        if (Shape.elementCount(out) != x.size()) throw ctx.fail("cannot reshape " + Arrays.toString(x.shape()) + " to " + Arrays.toString(target));
        return x.reshape(out);
    }

    private static Tensor flatten(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long axis = ctx.intAttr("axis");
        int a = (int) (axis < 0 ? axis + x.rank() : axis);
        long outer = Shape.elementCount(Arrays.copyOfRange(x.shape(), 0, a));
        return x.reshape(outer, outer == 0 ? Shape.elementCount(Arrays.copyOfRange(x.shape(), a, x.rank())) : x.size() / outer);
    }

    private static Tensor transpose(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long[] given = ctx.intsAttr("perm");
        int[] perm = new int[x.rank()];
        for (int i = 0; i < perm.length; i++) perm[i] = given == null ? perm.length - 1 - i : ctx.axis(given[i], perm.length);
        return ShapeBytes.transpose(x, perm);
    }

    private static Tensor squeeze(KernelContext ctx) {
        Tensor x = ctx.input(0);
        boolean[] squeezed = new boolean[x.rank()];
        if (ctx.hasInput(1)) {
            for (long a : ctx.input(1).toLongArray()) {
                int axis = ctx.axis(a, x.rank());
                if (x.dim(axis) != 1) throw ctx.fail("cannot squeeze axis " + axis + " of shape " + Arrays.toString(x.shape()));
                squeezed[axis] = true;
            }
        } else {
            for (int i = 0; i < x.rank(); i++) squeezed[i] = x.dim(i) == 1;
        }
        long[] out = new long[x.rank()];
        int n = 0;
        for (int i = 0; i < x.rank(); i++) if (!squeezed[i]) out[n++] = x.dim(i);
        return x.reshape(Arrays.copyOf(out, n));
    }

    private static Tensor unsqueeze(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long[] axes = ctx.input(1).toLongArray();
        int rank = x.rank() + axes.length;
        boolean[] inserted = new boolean[rank];
        for (long a : axes) {
            int axis = ctx.axis(a, rank);
            if (inserted[axis]) throw ctx.fail("axis " + a + " is repeated");
            inserted[axis] = true;
        }
        long[] out = new long[rank];
        for (int i = 0, next = 0; i < rank; i++) out[i] = inserted[i] ? 1 : x.dim(next++);
        return x.reshape(out);
    }

    private static Tensor concat(KernelContext ctx) {
        Tensor first = ctx.input(0);
        int rank = first.rank();
        int axis = ctx.axis(ctx.intAttr("axis"), rank);
        long[] outShape = first.shape();
        outShape[axis] = 0;
        for (int i = 0; i < ctx.inputCount(); i++) {
            Tensor t = ctx.input(i);
            for (int d = 0; d < rank; d++) {
                if (d != axis && t.dim(d) != first.dim(d)) {
                    throw ctx.fail("input " + i + " has shape " + Arrays.toString(t.shape()) + ", input 0 has " + Arrays.toString(first.shape()));
                }
            }
            outShape[axis] += t.dim(axis);
        }
        int es = first.dtype().byteSize();
        long outer = Shape.elementCount(Arrays.copyOfRange(outShape, 0, axis));
        long inner = Shape.elementCount(Arrays.copyOfRange(outShape, axis + 1, rank)) * es;
        byte[] out = new byte[Math.toIntExact(Shape.elementCount(outShape) * es)];
        int outRow = (int) (outShape[axis] * inner);
        int column = 0;
        for (int i = 0; i < ctx.inputCount(); i++) {
            Tensor t = ctx.input(i);
            byte[] in = bytes(t);
            int row = (int) (t.dim(axis) * inner);
            for (int o = 0; o < outer; o++) System.arraycopy(in, o * row, out, o * outRow + column, row);
            column += row;
        }
        return tensor(first.dtype(), outShape, out);
    }

    private static List<Tensor> split(KernelContext ctx) {
        Tensor x = ctx.input(0);
        int axis = ctx.axis(ctx.intAttr("axis"), x.rank());
        int n = ctx.outputCount();
        long d = x.dim(axis);
        long[] sizes;
        if (ctx.hasInput(1)) {
            sizes = ctx.input(1).toLongArray();
            if (sizes.length != n || Arrays.stream(sizes).sum() != d || Arrays.stream(sizes).anyMatch(s -> s < 0)) {
                throw ctx.fail("split " + Arrays.toString(sizes) + " does not divide size " + d + " into " + n + " parts");
            }
        } else {
            long chunk = (d + n - 1) / n;
            if (d - chunk * (n - 1) < 0) throw ctx.fail("cannot split size " + d + " into " + n + " parts");
            sizes = new long[n];
            Arrays.fill(sizes, chunk);
            sizes[n - 1] = d - chunk * (n - 1);
        }
        int es = x.dtype().byteSize();
        long[] shape = x.shape();
        long outer = Shape.elementCount(Arrays.copyOfRange(shape, 0, axis));
        long inner = Shape.elementCount(Arrays.copyOfRange(shape, axis + 1, shape.length)) * es;
        byte[] in = bytes(x);
        List<Tensor> parts = new ArrayList<>(n);
        long start = 0;
        for (long size : sizes) {
            long[] partShape = shape.clone();
            partShape[axis] = size;
            int row = (int) (size * inner);
            byte[] out = new byte[Math.toIntExact(outer * row)];
            for (int o = 0; o < outer; o++) System.arraycopy(in, (int) ((o * d + start) * inner), out, o * row, row);
            parts.add(tensor(x.dtype(), partShape, out));
            start += size;
        }
        return parts;
    }

    private static Tensor slice(KernelContext ctx) {
        Tensor x = ctx.input(0);
        int rank = x.rank();
        long[] starts = ctx.input(1).toLongArray();
        long[] ends = ctx.input(2).toLongArray();
        long[] axes = ctx.hasInput(3) ? ctx.input(3).toLongArray() : null;
        long[] steps = ctx.hasInput(4) ? ctx.input(4).toLongArray() : null;
        int n = starts.length;
        if (ends.length != n || (axes != null && axes.length != n) || (steps != null && steps.length != n)) {
            throw ctx.fail("starts, ends, axes and steps differ in length");
        }
        long[] shape = x.shape();
        long[] strides = strides(shape);
        long[] outShape = shape.clone();
        long[] first = new long[rank];
        long[] step = new long[rank];
        Arrays.fill(step, 1);
        boolean[] seen = new boolean[rank];
        for (int i = 0; i < n; i++) {
            int a = ctx.axis(axes == null ? i : axes[i], rank);
            if (seen[a]) throw ctx.fail("axis " + a + " is sliced twice");
            seen[a] = true;
            long s = steps == null ? 1 : steps[i];
            if (s == 0) throw ctx.fail("step 0 on axis " + a);
            long d = shape[a];
            long begin = starts[i] < 0 ? starts[i] + d : starts[i];
            long end = ends[i] < 0 ? ends[i] + d : ends[i];
            if (s > 0) {
                begin = Math.max(0, Math.min(begin, d));
                end = Math.max(0, Math.min(end, d));
                outShape[a] = end > begin ? (end - begin + s - 1) / s : 0;
            } else {
                begin = Math.max(0, Math.min(begin, d - 1));
                end = Math.max(-1, Math.min(end, d - 1));
                outShape[a] = begin > end ? (begin - end - s - 1) / -s : 0;
            }
            first[a] = begin;
            step[a] = s;
        }
        long[][] offsets = new long[rank][];
        for (int a = 0; a < rank; a++) {
            offsets[a] = new long[(int) outShape[a]];
            for (int o = 0; o < outShape[a]; o++) offsets[a][o] = (first[a] + o * step[a]) * strides[a];
        }
        return gather(x, outShape, offsets, null);
    }

    private static Tensor expand(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long[] target = ctx.input(1).toLongArray();
        int rank = Math.max(x.rank(), target.length);
        long[] outShape = new long[rank];
        long[][] offsets = new long[rank][];
        long[] strides = strides(x.shape());
        for (int d = 0; d < rank; d++) {
            int k = d - (rank - x.rank());
            int t = d - (rank - target.length);
            long in = k >= 0 ? x.dim(k) : 1;
            long want = t >= 0 ? target[t] : 1;
            if (in != want && in != 1 && want != 1) {
                throw ctx.fail("cannot expand shape " + Arrays.toString(x.shape()) + " to " + Arrays.toString(target));
            }
            outShape[d] = in == 1 ? want : in;
            offsets[d] = identityOffsets(outShape[d], in == 1 ? 0 : strides[k]);
        }
        return gather(x, outShape, offsets, null);
    }

    private static Tensor tile(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long[] repeats = ctx.input(1).toLongArray();
        if (repeats.length != x.rank()) throw ctx.fail("repeats " + Arrays.toString(repeats) + " do not match rank " + x.rank());
        long[] strides = strides(x.shape());
        long[] outShape = new long[x.rank()];
        long[][] offsets = new long[x.rank()][];
        for (int d = 0; d < x.rank(); d++) {
            if (repeats[d] < 0) throw ctx.fail("negative repeat " + repeats[d]);
            outShape[d] = x.dim(d) * repeats[d];
            offsets[d] = new long[(int) outShape[d]];
            for (int o = 0; o < outShape[d]; o++) offsets[d][o] = (o % x.dim(d)) * strides[d];
        }
        return gather(x, outShape, offsets, null);
    }

    private static Tensor pad(KernelContext ctx) {
        Tensor x = ctx.input(0);
        int rank = x.rank();
        long[] pads = ctx.input(1).toLongArray();
        long[] axes = ctx.hasInput(3) ? ctx.input(3).toLongArray() : null;
        int n = axes == null ? rank : axes.length;
        if (pads.length != 2 * n) throw ctx.fail("pads " + Arrays.toString(pads) + " do not match " + n + " axes");
        long[] begin = new long[rank];
        long[] end = new long[rank];
        for (int i = 0; i < n; i++) {
            int a = axes == null ? i : ctx.axis(axes[i], rank);
            begin[a] = pads[i];
            end[a] = pads[i + n];
        }
        String mode = ctx.stringAttr("mode");
        Tensor value = ctx.optionalInput(2);
        byte[] fill = value != null && value.size() > 0 ? element(value, 0) : new byte[x.dtype().byteSize()];
        long[] strides = strides(x.shape());
        long[] outShape = new long[rank];
        long[][] offsets = new long[rank][];
        for (int a = 0; a < rank; a++) {
            long d = x.dim(a);
            outShape[a] = d + begin[a] + end[a];
            if (outShape[a] < 0) throw ctx.fail("pads " + Arrays.toString(pads) + " remove more than axis " + a + " holds");
            if (outShape[a] > 0 && d == 0 && !mode.equals("constant")) throw ctx.fail("cannot pad an empty axis in mode " + mode);
            offsets[a] = new long[(int) outShape[a]];
            for (int o = 0; o < outShape[a]; o++) {
                long i = padSource(ctx, mode, o - begin[a], d);
                offsets[a][o] = i < 0 ? -1 : i * strides[a];
            }
        }
        return gather(x, outShape, offsets, fill);
    }

    /** The source coordinate that padding mode reads for coordinate i of an axis of size d, or -1 for the constant. */
    private static long padSource(KernelContext ctx, String mode, long i, long d) {
        if (i >= 0 && i < d) return i;
        return switch (mode) {
            case "constant" -> -1;
            case "edge" -> i < 0 ? 0 : d - 1;
            case "wrap" -> Math.floorMod(i, d);
            case "reflect" -> {
                if (d == 1) yield 0;
                long period = 2 * (d - 1);
                long m = Math.floorMod(i, period);
                yield m >= d ? period - m : m;
            }
            default -> throw ctx.fail("unknown mode '" + mode + "'");
        };
    }

    private static Tensor shape(KernelContext ctx) {
        long[] dims = ctx.input(0).shape();
        long start = clampAxis(ctx.intAttr("start"), dims.length);
        long end = ctx.hasAttr("end") ? clampAxis(ctx.intAttr("end"), dims.length) : dims.length;
        long[] out = end > start ? Arrays.copyOfRange(dims, (int) start, (int) end) : new long[0];
        return Tensor.ofLongs(out, out.length);
    }

    private static long clampAxis(long axis, int rank) {
        long a = axis < 0 ? axis + rank : axis;
        return Math.max(0, Math.min(a, rank));
    }

    private static Tensor constantOfShape(KernelContext ctx) {
        long[] shape = ctx.input(0).toLongArray();
        DType dtype = ctx.outputDType(0);
        Tensor out = Tensor.allocate(dtype, shape);
        if (ctx.attr("value") instanceof Attribute.Tensor value) {
            byte[] v = new byte[dtype.byteSize()];
            value.data().get(v);
            byte[] all = new byte[out.size() * v.length];
            for (int i = 0; i < all.length; i += v.length) System.arraycopy(v, 0, all, i, v.length);
            return tensor(dtype, shape, all);
        }
        return out;
    }

    private static Tensor range(KernelContext ctx) {
        Tensor start = ctx.input(0);
        Tensor limit = ctx.input(1);
        Tensor delta = ctx.input(2);
        DType t = start.dtype();
        if (t.isFloatingPoint()) {
            double first = start.getDouble(0);
            double step = delta.getDouble(0);
            if (step == 0) throw ctx.fail("delta is zero");
            long n = Math.max(0, (long) Math.ceil((limit.getDouble(0) - first) / step));
            Tensor out = Tensor.allocate(t, n);
            // Half-precision types compute in f32 (stash_type 1) or add up in their own precision (stash_type 0).
            boolean ownPrecision = (t == DType.F16 || t == DType.BF16) && ctx.intAttr("stash_type") == 0;
            for (int i = 0; i < n; i++) out.setDouble(i, ownPrecision && i > 0 ? out.getDouble(i - 1) + step : first + i * step);
            return out;
        }
        long first = start.getLong(0);
        long step = delta.getLong(0);
        if (step == 0) throw ctx.fail("delta is zero");
        long n = Math.max(0, -Math.floorDiv(first - limit.getLong(0), step));
        Tensor out = Tensor.allocate(t, n);
        for (int i = 0; i < n; i++) out.setLong(i, first + i * step);
        return out;
    }

    private static Tensor depthToSpace(KernelContext ctx) {
        Tensor x = ctx.input(0);
        int b = (int) ctx.intAttr("blocksize");
        long n = x.dim(0);
        long c = x.dim(1) / ((long) b * b);
        long h = x.dim(2);
        long w = x.dim(3);
        if (c * b * b != x.dim(1)) throw ctx.fail("channels " + x.dim(1) + " are not divisible by blocksize^2 = " + (long) b * b);
        Tensor moved = ctx.stringAttr("mode").equals("DCR")
                ? ShapeBytes.transpose(x.reshape(n, b, b, c, h, w), new int[] {0, 3, 4, 1, 5, 2})
                : ShapeBytes.transpose(x.reshape(n, c, b, b, h, w), new int[] {0, 1, 4, 2, 5, 3});
        return moved.reshape(n, c, h * b, w * b);
    }

    private static Tensor spaceToDepth(KernelContext ctx) {
        Tensor x = ctx.input(0);
        int b = (int) ctx.intAttr("blocksize");
        long n = x.dim(0);
        long c = x.dim(1);
        long h = x.dim(2) / b;
        long w = x.dim(3) / b;
        if (h * b != x.dim(2) || w * b != x.dim(3)) throw ctx.fail("shape " + Arrays.toString(x.shape()) + " is not divisible by blocksize " + b);
        Tensor moved = ShapeBytes.transpose(x.reshape(n, c, h, b, w, b), new int[] {0, 3, 5, 1, 2, 4});
        return moved.reshape(n, c * b * b, h, w);
    }

    private static Tensor trilu(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long k = ctx.hasInput(1) ? ctx.input(1).getLong(0) : 0;
        boolean upper = ctx.intAttr("upper") != 0;
        int es = x.dtype().byteSize();
        long rows = x.dim(x.rank() - 2);
        long cols = x.dim(x.rank() - 1);
        byte[] in = bytes(x);
        byte[] out = new byte[in.length];
        for (int e = 0; e < x.size(); e++) {
            long i = (e / cols) % rows;
            long j = e % cols;
            if (upper ? j - i >= k : j - i <= k) System.arraycopy(in, e * es, out, e * es, es);
        }
        return tensor(x.dtype(), x.shape(), out);
    }

    private static Tensor oneHot(KernelContext ctx) {
        Tensor indices = ctx.input(0);
        Tensor depthTensor = ctx.input(1);
        Tensor values = ctx.input(2);
        long depth = depthTensor.dtype().isFloatingPoint() ? (long) depthTensor.getDouble(0) : depthTensor.getLong(0);
        if (depth < 1) throw ctx.fail("depth must be positive, got " + depth);
        if (values.size() != 2) throw ctx.fail("values must hold [off, on], has " + values.size() + " elements");
        int axis = ctx.axis(ctx.intAttr("axis"), indices.rank() + 1);
        long[] outShape = new long[indices.rank() + 1];
        for (int d = 0, k = 0; d < outShape.length; d++) outShape[d] = d == axis ? depth : indices.dim(k++);
        long inner = Shape.elementCount(Arrays.copyOfRange(indices.shape(), axis, indices.rank()));
        byte[] off = element(values, 0);
        byte[] on = element(values, 1);
        int es = off.length;
        byte[] out = new byte[Math.toIntExact(Shape.elementCount(outShape) * es)];
        for (int i = 0; i < out.length; i += es) System.arraycopy(off, 0, out, i, es);
        for (int i = 0; i < indices.size(); i++) {
            long v = indices.getLong(i);
            if (v < 0) v += depth;
            if (v < 0 || v >= depth) continue;
            long outer = i / inner;
            long at = (outer * depth + v) * inner + i % inner;
            System.arraycopy(on, 0, out, (int) (at * es), es);
        }
        return tensor(values.dtype(), outShape, out);
    }

    private static Tensor nonZero(KernelContext ctx) {
        Tensor x = ctx.input(0);
        int rank = x.rank();
        long[] shape = x.shape();
        int count = 0;
        for (int i = 0; i < x.size(); i++) if (x.getBoolean(i)) count++;
        long[] out = new long[rank * count];
        int column = 0;
        for (int i = 0; i < x.size(); i++) {
            if (!x.getBoolean(i)) continue;
            long rest = i;
            for (int d = rank - 1; d >= 0; d--) {
                out[d * count + column] = rest % shape[d];
                rest /= shape[d];
            }
            column++;
        }
        return Tensor.ofLongs(out, rank, count);
    }

    private static Tensor eyeLike(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long k = ctx.intAttr("k");
        long rows = x.dim(0);
        long cols = x.dim(1);
        Tensor out = Tensor.allocate(ctx.outputDType(0), rows, cols);
        for (long i = Math.max(0, -k); i < rows && i + k < cols; i++) out.setLong((int) (i * cols + i + k), 1);
        return out;
    }

    private static Tensor compress(KernelContext ctx) {
        Tensor x = ctx.input(0);
        Tensor condition = ctx.input(1);
        Tensor source = ctx.hasAttr("axis") ? x : x.reshape(x.size());
        int axis = ctx.hasAttr("axis") ? ctx.axis(ctx.intAttr("axis"), x.rank()) : 0;
        long d = source.dim(axis);
        if (condition.size() > d) {
            for (int i = (int) d; i < condition.size(); i++) {
                if (condition.getBoolean(i)) throw ctx.fail("condition selects index " + i + " beyond the size " + d + " of the axis");
            }
        }
        List<Long> kept = new ArrayList<>();
        for (int i = 0; i < Math.min(d, condition.size()); i++) if (condition.getBoolean(i)) kept.add((long) i);
        long[] shape = source.shape();
        long[] strides = strides(shape);
        long[] outShape = shape.clone();
        outShape[axis] = kept.size();
        long[][] offsets = new long[shape.length][];
        for (int a = 0; a < shape.length; a++) offsets[a] = identityOffsets(outShape[a], strides[a]);
        for (int j = 0; j < kept.size(); j++) offsets[axis][j] = kept.get(j) * strides[axis];
        return gather(source, outShape, offsets, null);
    }

    /** Crops each given axis to a centred window (start rounded down) or pads it with zeros (the extra one on the right). */
    private static Tensor centerCropPad(KernelContext ctx) {
        Tensor x = ctx.input(0);
        int rank = x.rank();
        long[] target = ctx.input(1).toLongArray();
        long[] given = ctx.intsAttr("axes");
        long[] outShape = x.shape();
        long[] strides = strides(outShape);
        long[] first = new long[rank];
        if (target.length != (given == null ? rank : given.length)) throw ctx.fail("shape " + Arrays.toString(target) + " does not match the axes");
        for (int i = 0; i < target.length; i++) {
            int a = given == null ? i : ctx.axis(given[i], rank);
            first[a] = x.dim(a) >= target[i] ? (x.dim(a) - target[i]) / 2 : -((target[i] - x.dim(a)) / 2);
            outShape[a] = target[i];
        }
        long[][] offsets = new long[rank][];
        for (int a = 0; a < rank; a++) {
            offsets[a] = new long[(int) outShape[a]];
            for (int o = 0; o < outShape[a]; o++) {
                long i = first[a] + o;
                offsets[a][o] = i >= 0 && i < x.dim(a) ? i * strides[a] : -1;
            }
        }
        return gather(x, outShape, offsets, new byte[x.dtype().byteSize()]);
    }

    /** Reverses the first sequence_lens[b] steps along the time axis of each batch entry b. */
    private static Tensor reverseSequence(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long[] lengths = ctx.input(1).toLongArray();
        int batchAxis = (int) ctx.intAttr("batch_axis");
        int timeAxis = (int) ctx.intAttr("time_axis");
        long[] shape = x.shape();
        if (lengths.length != shape[batchAxis]) throw ctx.fail(lengths.length + " sequence lengths for a batch of " + shape[batchAxis]);
        long[] strides = strides(shape);
        int es = x.dtype().byteSize();
        byte[] in = bytes(x);
        byte[] out = new byte[in.length];
        for (int e = 0; e < x.size(); e++) {
            long b = e / strides[batchAxis] % shape[batchAxis];
            long t = e / strides[timeAxis] % shape[timeAxis];
            long n = lengths[(int) b];
            if (n < 0 || n > shape[timeAxis]) throw ctx.fail("sequence length " + n + " is out of range for " + shape[timeAxis] + " steps");
            long source = t < n ? e + (n - 1 - 2 * t) * strides[timeAxis] : e;
            System.arraycopy(in, (int) (source * es), out, e * es, es);
        }
        return tensor(x.dtype(), shape, out);
    }
}
