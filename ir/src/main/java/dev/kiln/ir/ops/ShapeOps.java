package dev.kiln.ir.ops;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.kiln.ir.Attribute.Kind.FLOAT;
import static dev.kiln.ir.Attribute.Kind.INT;
import static dev.kiln.ir.Attribute.Kind.INTS;
import static dev.kiln.ir.Attribute.Kind.STRING;
import static dev.kiln.ir.Attribute.Kind.TENSOR;

/**
 * Tensor-manipulation ops: reshaping, slicing, joining and splitting, gathering and scattering,
 * padding, resizing, and shape queries. Shapes are inferred from constant inputs where they decide
 * a size; a size that only the data decides becomes a fresh symbolic dimension.
 */
final class ShapeOps {
    private ShapeOps() {}

    static List<OpSpec> specs() {
        return List.of(
                OpSpec.builder("Reshape").inputs(2).attr("allowzero", INT, Attribute.of(0L)).infer(ShapeOps::reshape).build(),
                OpSpec.builder("Flatten").attr("axis", INT, Attribute.of(1L)).infer(ShapeOps::flatten).build(),
                OpSpec.builder("Transpose").attr("perm", INTS, null).infer(ShapeOps::transpose).build(),
                OpSpec.builder("Squeeze").inputs(1, 2).infer(ShapeOps::squeeze).build(),
                OpSpec.builder("Unsqueeze").inputs(2).infer(ShapeOps::unsqueeze).build(),
                OpSpec.builder("Concat").inputs(1, OpSpec.VARIADIC).requiredAttr("axis", INT).infer(ShapeOps::concat).build(),
                OpSpec.builder("Split").inputs(1, 2).outputs(1, OpSpec.VARIADIC)
                        .attr("axis", INT, Attribute.of(0L)).attr("num_outputs", INT, null).infer(ShapeOps::split).build(),
                OpSpec.builder("Slice").inputs(3, 5).infer(ShapeOps::slice).build(),
                OpSpec.builder("Gather").inputs(2).attr("axis", INT, Attribute.of(0L)).infer(ShapeOps::gather).build(),
                OpSpec.builder("GatherElements").inputs(2).attr("axis", INT, Attribute.of(0L)).infer(ShapeOps::gatherElements).build(),
                OpSpec.builder("GatherND").inputs(2).attr("batch_dims", INT, Attribute.of(0L)).infer(ShapeOps::gatherNd).build(),
                OpSpec.builder("ScatterND").inputs(3).attr("reduction", STRING, Attribute.of("none")).infer(ShapeOps::scatter).build(),
                OpSpec.builder("ScatterElements").inputs(3).attr("axis", INT, Attribute.of(0L))
                        .attr("reduction", STRING, Attribute.of("none")).infer(ShapeOps::scatter).build(),
                OpSpec.builder("Expand").inputs(2).infer(ShapeOps::expand).build(),
                OpSpec.builder("Tile").inputs(2).infer(ShapeOps::tile).build(),
                OpSpec.builder("Pad").inputs(2, 4).attr("mode", STRING, Attribute.of("constant")).infer(ShapeOps::pad).build(),
                OpSpec.builder("Shape").attr("start", INT, Attribute.of(0L)).attr("end", INT, null).infer(ShapeOps::shape).build(),
                OpSpec.builder("Size").infer(ctx -> List.of(TensorType.of(DType.I64, Shape.scalar()))).build(),
                OpSpec.builder("ConstantOfShape").attr("value", TENSOR, null).infer(ShapeOps::constantOfShape).build(),
                OpSpec.builder("Range").inputs(3).attr("stash_type", INT, Attribute.of(1L)).infer(ShapeOps::range).build(),
                OpSpec.builder("DepthToSpace").requiredAttr("blocksize", INT).attr("mode", STRING, Attribute.of("DCR"))
                        .infer(ShapeOps::depthToSpace).build(),
                OpSpec.builder("SpaceToDepth").requiredAttr("blocksize", INT).infer(ShapeOps::spaceToDepth).build(),
                OpSpec.builder("Resize").inputs(1, 4)
                        .attr("antialias", INT, Attribute.of(0L))
                        .attr("axes", INTS, null)
                        .attr("coordinate_transformation_mode", STRING, Attribute.of("half_pixel"))
                        .attr("cubic_coeff_a", FLOAT, Attribute.of(-0.75f))
                        .attr("exclude_outside", INT, Attribute.of(0L))
                        .attr("extrapolation_value", FLOAT, Attribute.of(0.0f))
                        .attr("keep_aspect_ratio_policy", STRING, Attribute.of("stretch"))
                        .attr("mode", STRING, Attribute.of("nearest"))
                        .attr("nearest_mode", STRING, Attribute.of("round_prefer_floor"))
                        .infer(ShapeOps::resize).build(),
                OpSpec.builder("Trilu").inputs(1, 2).attr("upper", INT, Attribute.of(1L)).infer(ShapeOps::sameAsInput).build(),
                OpSpec.builder("OneHot").inputs(3).attr("axis", INT, Attribute.of(-1L)).infer(ShapeOps::oneHot).build(),
                OpSpec.builder("NonZero").infer(ctx -> List.of(TensorType.of(DType.I64,
                        new Shape(List.of(Dim.of(ctx.shape(0).rank()), ctx.freshDim()))))).build(),
                OpSpec.builder("EyeLike").attr("dtype", INT, null).attr("k", INT, Attribute.of(0L)).infer(ShapeOps::eyeLike).build(),
                OpSpec.builder("Compress").inputs(2).attr("axis", INT, null).infer(ShapeOps::compress).build(),
                OpSpec.builder("CenterCropPad").inputs(2).attr("axes", INTS, null).infer(ShapeOps::centerCropPad).build(),
                OpSpec.builder("ReverseSequence").inputs(2).attr("batch_axis", INT, Attribute.of(1L))
                        .attr("time_axis", INT, Attribute.of(0L)).infer(ShapeOps::reverseSequence).build(),
                OpSpec.builder("TensorScatter").inputs(2, 3).attr("axis", INT, Attribute.of(-2L))
                        .attr("mode", STRING, Attribute.of("linear")).infer(ShapeOps::tensorScatter).build(),
                OpSpec.builder("Unique").outputs(1, 4).attr("axis", INT, null).attr("sorted", INT, Attribute.of(1L))
                        .infer(ShapeOps::unique).build());
    }

    private static List<TensorType> reshape(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        long[] target = ctx.constantLongs(1);
        if (target == null) return List.of(TensorType.of(ctx.dtype(0), freshShape(ctx, staticLength(ctx, 1, "shape"))));
        boolean allowZero = ctx.intAttr("allowzero") != 0;
        List<Dim> out = new ArrayList<>(target.length);
        int inferred = -1;
        for (int i = 0; i < target.length; i++) {
            long v = target[i];
            if (v == -1) {
                if (inferred >= 0) throw ctx.fail("shape " + Arrays.toString(target) + " has more than one -1");
                inferred = i;
                out.add(null);
            } else if (v == 0 && !allowZero) {
                if (i >= in.rank()) throw ctx.fail("shape " + Arrays.toString(target) + " copies dimension " + i + " of an input of rank " + in.rank());
                out.add(in.dim(i));
            } else if (v < 0) {
                throw ctx.fail("shape " + Arrays.toString(target) + " has the invalid size " + v);
            } else {
                out.add(Dim.of(v));
            }
        }
        if (inferred >= 0) {
            List<Dim> known = new ArrayList<>(out);
            known.remove(inferred);
            out.set(inferred, remainingDim(ctx, in.dims(), known, target));
        } else if (in.isStatic() && new Shape(out).isStatic() && in.elementCount() != new Shape(out).elementCount()) {
            throw ctx.fail("cannot reshape " + in + " to " + new Shape(out));
        }
        return List.of(TensorType.of(ctx.dtype(0), new Shape(out)));
    }

    /** The size of Reshape's -1: what is left of the input after the known output dims, cancelling common symbols. */
    private static Dim remainingDim(InferenceContext ctx, List<Dim> inDims, List<Dim> known, long[] target) {
        long inStatic = 1;
        List<String> symbols = new ArrayList<>();
        for (Dim d : inDims) {
            if (d.isStatic()) inStatic = Math.multiplyExact(inStatic, d.size());
            else symbols.add(d.symbol());
        }
        long knownStatic = 1;
        boolean cancelled = true;
        for (Dim d : known) {
            if (d.isStatic()) knownStatic = Math.multiplyExact(knownStatic, d.size());
            else cancelled &= symbols.remove(d.symbol());
        }
        if (knownStatic == 0) throw ctx.fail("shape " + Arrays.toString(target) + " has a -1 next to a zero size");
        if (!cancelled) return ctx.freshDim();
        if (symbols.isEmpty()) {
            if (inStatic % knownStatic != 0) throw ctx.fail("cannot reshape " + new Shape(inDims) + " to " + Arrays.toString(target));
            return Dim.of(inStatic / knownStatic);
        }
        if (symbols.size() == 1 && inStatic == knownStatic) return Dim.symbol(symbols.get(0));
        return ctx.freshDim();
    }

    private static List<TensorType> flatten(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        int r = in.rank();
        long axis = ctx.intAttr("axis");
        if (axis < -r || axis > r) throw ctx.fail("axis " + axis + " is out of range for rank " + r);
        int a = (int) (axis < 0 ? axis + r : axis);
        Shape out = new Shape(List.of(product(ctx, in.dims().subList(0, a)), product(ctx, in.dims().subList(a, r))));
        return List.of(TensorType.of(ctx.dtype(0), out));
    }

    private static List<TensorType> transpose(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        int[] perm = permutation(ctx, ctx.intsAttr("perm"), in.rank());
        List<Dim> out = new ArrayList<>(perm.length);
        for (int p : perm) out.add(in.dim(p));
        return List.of(TensorType.of(ctx.dtype(0), new Shape(out)));
    }

    private static int[] permutation(InferenceContext ctx, long[] perm, int rank) {
        int[] p = new int[rank];
        if (perm == null) {
            for (int i = 0; i < rank; i++) p[i] = rank - 1 - i;
            return p;
        }
        if (perm.length != rank) throw ctx.fail("perm " + Arrays.toString(perm) + " does not match rank " + rank);
        boolean[] seen = new boolean[rank];
        for (int i = 0; i < rank; i++) {
            p[i] = ctx.axis(perm[i], rank);
            if (seen[p[i]]) throw ctx.fail("perm " + Arrays.toString(perm) + " is not a permutation");
            seen[p[i]] = true;
        }
        return p;
    }

    private static List<TensorType> squeeze(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        List<Dim> out = new ArrayList<>();
        if (!ctx.hasInput(1)) {
            for (Dim d : in.dims()) if (!(d.isStatic() && d.size() == 1)) out.add(d);
            return List.of(TensorType.of(ctx.dtype(0), new Shape(out)));
        }
        long[] axes = ctx.constantLongs(1);
        if (axes == null) return List.of(TensorType.of(ctx.dtype(0), freshShape(ctx, in.rank() - staticLength(ctx, 1, "axes"))));
        boolean[] squeezed = axisSet(ctx, axes, in.rank());
        for (int i = 0; i < in.rank(); i++) {
            Dim d = in.dim(i);
            if (!squeezed[i]) out.add(d);
            else if (d.isStatic() && d.size() != 1) throw ctx.fail("cannot squeeze axis " + i + " of size " + d.size());
        }
        return List.of(TensorType.of(ctx.dtype(0), new Shape(out)));
    }

    private static List<TensorType> unsqueeze(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        long[] axes = ctx.constantLongs(1);
        if (axes == null) return List.of(TensorType.of(ctx.dtype(0), freshShape(ctx, in.rank() + staticLength(ctx, 1, "axes"))));
        int rank = in.rank() + axes.length;
        boolean[] inserted = axisSet(ctx, axes, rank);
        List<Dim> out = new ArrayList<>(rank);
        int next = 0;
        for (int i = 0; i < rank; i++) out.add(inserted[i] ? Dim.of(1) : in.dim(next++));
        return List.of(TensorType.of(ctx.dtype(0), new Shape(out)));
    }

    private static List<TensorType> concat(InferenceContext ctx) {
        Shape first = ctx.shape(0);
        int rank = first.rank();
        int axis = ctx.axis(ctx.intAttr("axis"), rank);
        List<Dim> out = new ArrayList<>(first.dims());
        long total = 0;
        boolean totalKnown = true;
        for (int i = 0; i < ctx.inputCount(); i++) {
            Shape s = ctx.shape(i);
            if (s.rank() != rank) throw ctx.fail("input " + i + " has rank " + s.rank() + ", input 0 has rank " + rank);
            for (int d = 0; d < rank; d++) {
                Dim x = s.dim(d);
                if (d == axis) {
                    if (x.isStatic()) total += x.size();
                    else totalKnown = false;
                } else if (x.isStatic()) {
                    if (out.get(d).isStatic() && out.get(d).size() != x.size()) {
                        throw ctx.fail("input " + i + " has shape " + s + ", which differs from " + first + " off the axis " + axis);
                    }
                    out.set(d, x);
                }
            }
        }
        out.set(axis, totalKnown ? Dim.of(total) : ctx.inputCount() == 1 ? first.dim(axis) : ctx.freshDim());
        return List.of(new TensorType(ctx.dtype(0), new Shape(out), ctx.input(0).layout()));
    }

    private static List<TensorType> split(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        int axis = ctx.axis(ctx.intAttr("axis"), in.rank());
        int n = ctx.outputCount();
        Dim d = in.dim(axis);
        List<Dim> parts = new ArrayList<>(n);
        if (ctx.hasInput(1)) {
            long[] split = ctx.constantLongs(1);
            if (split == null) {
                for (int i = 0; i < n; i++) parts.add(ctx.freshDim());
            } else {
                if (split.length != n) throw ctx.fail("split " + Arrays.toString(split) + " has " + split.length + " sizes for " + n + " outputs");
                long sum = 0;
                for (long s : split) {
                    if (s < 0) throw ctx.fail("split " + Arrays.toString(split) + " has a negative size");
                    parts.add(Dim.of(s));
                    sum += s;
                }
                if (d.isStatic() && sum != d.size()) throw ctx.fail("split " + Arrays.toString(split) + " does not add up to " + d.size());
            }
        } else {
            if (ctx.hasAttr("num_outputs") && ctx.intAttr("num_outputs") != n) {
                throw ctx.fail("num_outputs is " + ctx.intAttr("num_outputs") + " but the node has " + n + " outputs");
            }
            if (d.isStatic()) {
                long chunk = (d.size() + n - 1) / n;
                long last = d.size() - chunk * (n - 1);
                if (last < 0) throw ctx.fail("cannot split size " + d.size() + " into " + n + " parts");
                for (int i = 0; i < n; i++) parts.add(Dim.of(i < n - 1 ? chunk : last));
            } else {
                for (int i = 0; i < n; i++) parts.add(n == 1 ? d : ctx.freshDim());
            }
        }
        List<TensorType> types = new ArrayList<>(n);
        for (Dim part : parts) types.add(new TensorType(ctx.dtype(0), replaced(in, axis, part), ctx.input(0).layout()));
        return types;
    }

    private static List<TensorType> slice(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        int rank = in.rank();
        long[] starts = ctx.constantLongs(1);
        long[] ends = ctx.constantLongs(2);
        long[] axes = ctx.hasInput(3) ? ctx.constantLongs(3) : null;
        long[] steps = ctx.hasInput(4) ? ctx.constantLongs(4) : null;
        TensorType unknown = new TensorType(ctx.dtype(0), freshShape(ctx, rank), ctx.input(0).layout());
        if (ctx.hasInput(3) && axes == null) return List.of(unknown);
        int n = starts != null ? starts.length : ends != null ? ends.length : axes != null ? axes.length : staticLength(ctx, 1, "starts");
        if (axes == null) {
            if (n > rank) throw ctx.fail("slices " + n + " axes of a tensor of rank " + rank);
            axes = new long[n];
            for (int i = 0; i < n; i++) axes[i] = i;
        }
        axisSet(ctx, axes, rank);
        boolean bounds = starts != null && ends != null && (!ctx.hasInput(4) || steps != null);
        if (bounds && (starts.length != n || ends.length != n || axes.length != n || (steps != null && steps.length != n))) {
            throw ctx.fail("starts, ends, axes and steps differ in length");
        }
        List<Dim> out = new ArrayList<>(in.dims());
        for (int i = 0; i < n; i++) {
            int a = ctx.axis(axes[i], rank);
            Dim d = in.dim(a);
            long step = steps == null ? 1 : steps[i];
            if (step == 0) throw ctx.fail("step 0 on axis " + a);
            if (!bounds) out.set(a, ctx.freshDim());
            else if (d.isStatic()) out.set(a, Dim.of(sliceLength(d.size(), starts[i], ends[i], step)));
            else if (!(starts[i] == 0 && step == 1 && ends[i] >= Integer.MAX_VALUE)) out.set(a, ctx.freshDim());
        }
        return List.of(new TensorType(ctx.dtype(0), new Shape(out), ctx.input(0).layout()));
    }

    /** Number of elements Slice takes from a dimension of size d (ONNX clamping rules). */
    private static long sliceLength(long d, long start, long end, long step) {
        if (start < 0) start += d;
        if (end < 0) end += d;
        if (step > 0) {
            start = Math.max(0, Math.min(start, d));
            end = Math.max(0, Math.min(end, d));
            return end > start ? (end - start + step - 1) / step : 0;
        }
        start = Math.max(0, Math.min(start, d - 1));
        end = Math.max(-1, Math.min(end, d - 1));
        return start > end ? (start - end - step - 1) / -step : 0;
    }

    private static List<TensorType> gather(InferenceContext ctx) {
        Shape data = ctx.shape(0);
        int axis = ctx.axis(ctx.intAttr("axis"), data.rank());
        requireIndices(ctx, 1);
        List<Dim> out = new ArrayList<>(data.dims().subList(0, axis));
        out.addAll(ctx.shape(1).dims());
        out.addAll(data.dims().subList(axis + 1, data.rank()));
        return List.of(TensorType.of(ctx.dtype(0), new Shape(out)));
    }

    private static List<TensorType> gatherElements(InferenceContext ctx) {
        Shape data = ctx.shape(0);
        ctx.axis(ctx.intAttr("axis"), data.rank());
        requireIndices(ctx, 1);
        if (ctx.shape(1).rank() != data.rank()) throw ctx.fail("indices of rank " + ctx.shape(1).rank() + " for data of rank " + data.rank());
        return List.of(TensorType.of(ctx.dtype(0), ctx.shape(1)));
    }

    private static List<TensorType> gatherNd(InferenceContext ctx) {
        Shape data = ctx.shape(0);
        Shape indices = ctx.shape(1);
        requireIndices(ctx, 1);
        long b = ctx.intAttr("batch_dims");
        int q = indices.rank();
        if (q < 1 || b < 0 || b >= Math.min(q, data.rank())) throw ctx.fail("batch_dims " + b + " does not fit data " + data + " and indices " + indices);
        Dim last = indices.dim(q - 1);
        if (!last.isStatic()) throw ctx.fail("the last dimension of the indices must be static, got " + indices);
        int tail = (int) (b + last.size());
        if (tail > data.rank()) throw ctx.fail("indices " + indices + " index more dimensions than data " + data + " has");
        List<Dim> out = new ArrayList<>(indices.dims().subList(0, q - 1));
        out.addAll(data.dims().subList(tail, data.rank()));
        return List.of(TensorType.of(ctx.dtype(0), new Shape(out)));
    }

    private static List<TensorType> scatter(InferenceContext ctx) {
        requireIndices(ctx, 1);
        if (ctx.dtype(2) != ctx.dtype(0)) throw ctx.fail("updates are " + ctx.dtype(2) + " but data is " + ctx.dtype(0));
        return List.of(ctx.input(0));
    }

    private static List<TensorType> expand(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        long[] target = ctx.constantLongs(1);
        if (target != null) return List.of(TensorType.of(ctx.dtype(0), ctx.broadcast(List.of(in, Shape.of(target)))));
        int rank = Math.max(in.rank(), staticLength(ctx, 1, "shape"));
        List<Dim> out = new ArrayList<>(rank);
        for (int i = 0; i < rank; i++) {
            int k = i - (rank - in.rank());
            Dim d = k >= 0 ? in.dim(k) : null;
            out.add(d != null && d.isStatic() && d.size() != 1 ? d : ctx.freshDim());
        }
        return List.of(TensorType.of(ctx.dtype(0), new Shape(out)));
    }

    private static List<TensorType> tile(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        long[] repeats = ctx.constantLongs(1);
        List<Dim> out = new ArrayList<>(in.rank());
        if (repeats != null && repeats.length != in.rank()) throw ctx.fail("repeats " + Arrays.toString(repeats) + " do not match rank " + in.rank());
        for (int i = 0; i < in.rank(); i++) {
            Dim d = in.dim(i);
            if (repeats == null) out.add(ctx.freshDim());
            else if (repeats[i] < 0) throw ctx.fail("negative repeat " + repeats[i]);
            else if (repeats[i] == 1) out.add(d);
            else out.add(d.isStatic() ? Dim.of(d.size() * repeats[i]) : ctx.freshDim());
        }
        return List.of(new TensorType(ctx.dtype(0), new Shape(out), ctx.input(0).layout()));
    }

    private static List<TensorType> pad(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        int rank = in.rank();
        String mode = ctx.stringAttr("mode");
        if (!List.of("constant", "reflect", "edge", "wrap").contains(mode)) throw ctx.fail("unknown mode '" + mode + "'");
        if (ctx.hasInput(2) && ctx.dtype(2) != ctx.dtype(0)) throw ctx.fail("constant_value is " + ctx.dtype(2) + " but data is " + ctx.dtype(0));
        long[] pads = ctx.constantLongs(1);
        long[] axes = ctx.hasInput(3) ? ctx.constantLongs(3) : null;
        List<Dim> out = new ArrayList<>(in.dims());
        if (ctx.hasInput(3) && axes == null) {
            return List.of(new TensorType(ctx.dtype(0), freshShape(ctx, rank), ctx.input(0).layout()));
        }
        if (axes == null) {
            axes = new long[rank];
            for (int i = 0; i < rank; i++) axes[i] = i;
        }
        axisSet(ctx, axes, rank);
        if (pads != null && pads.length != 2 * axes.length) throw ctx.fail("pads " + Arrays.toString(pads) + " do not match " + axes.length + " axes");
        for (int i = 0; i < axes.length; i++) {
            int a = ctx.axis(axes[i], rank);
            Dim d = in.dim(a);
            if (pads == null) {
                out.set(a, ctx.freshDim());
                continue;
            }
            long added = pads[i] + pads[i + axes.length];
            if (added == 0) continue;
            if (!d.isStatic()) {
                out.set(a, ctx.freshDim());
            } else {
                if (d.size() + added < 0) throw ctx.fail("pads " + Arrays.toString(pads) + " remove more than axis " + a + " holds");
                out.set(a, Dim.of(d.size() + added));
            }
        }
        return List.of(new TensorType(ctx.dtype(0), new Shape(out), ctx.input(0).layout()));
    }

    private static List<TensorType> shape(InferenceContext ctx) {
        int rank = ctx.shape(0).rank();
        long start = clampAxis(ctx.intAttr("start"), rank);
        long end = ctx.hasAttr("end") ? clampAxis(ctx.intAttr("end"), rank) : rank;
        return List.of(TensorType.of(DType.I64, Math.max(0, end - start)));
    }

    private static long clampAxis(long axis, int rank) {
        long a = axis < 0 ? axis + rank : axis;
        return Math.max(0, Math.min(a, rank));
    }

    private static List<TensorType> constantOfShape(InferenceContext ctx) {
        DType dtype = DType.F32;
        if (ctx.attr("value") instanceof Attribute.Tensor t) {
            if (t.type().shape().elementCount() != 1) throw ctx.fail("value must hold one element, has shape " + t.type().shape());
            dtype = t.type().dtype();
        }
        long[] dims = ctx.constantLongs(0);
        if (dims == null) return List.of(TensorType.of(dtype, freshShape(ctx, staticLength(ctx, 0, "input"))));
        for (long d : dims) if (d < 0) throw ctx.fail("negative size in shape " + Arrays.toString(dims));
        return List.of(TensorType.of(dtype, dims));
    }

    private static List<TensorType> range(InferenceContext ctx) {
        DType t = ctx.dtype(0);
        if (ctx.dtype(1) != t || ctx.dtype(2) != t) throw ctx.fail("start, limit and delta must have one dtype");
        ByteBuffer start = ctx.constant(0);
        ByteBuffer limit = ctx.constant(1);
        ByteBuffer delta = ctx.constant(2);
        Dim n = ctx.freshDim();
        if (start != null && limit != null && delta != null && t != DType.F16 && t != DType.BF16) {
            if (t.isFloatingPoint()) {
                double step = floatAt(delta, t);
                if (step == 0) throw ctx.fail("delta is zero");
                n = Dim.of(Math.max(0, (long) Math.ceil((floatAt(limit, t) - floatAt(start, t)) / step)));
            } else {
                long step = integerAt(delta, t);
                if (step == 0) throw ctx.fail("delta is zero");
                n = Dim.of(Math.max(0, -Math.floorDiv(integerAt(start, t) - integerAt(limit, t), step)));
            }
        }
        return List.of(TensorType.of(t, new Shape(List.of(n))));
    }

    private static List<TensorType> depthToSpace(InferenceContext ctx) {
        Shape in = rank4(ctx);
        long b = blocksize(ctx);
        Dim c = in.dim(1);
        if (c.isStatic() && c.size() % (b * b) != 0) throw ctx.fail("channels " + c.size() + " are not divisible by blocksize^2 = " + b * b);
        String mode = ctx.stringAttr("mode");
        if (!mode.equals("DCR") && !mode.equals("CRD")) throw ctx.fail("unknown mode '" + mode + "'");
        Shape out = new Shape(List.of(in.dim(0), c.isStatic() ? Dim.of(c.size() / (b * b)) : ctx.freshDim(),
                scaled(ctx, in.dim(2), b), scaled(ctx, in.dim(3), b)));
        return List.of(new TensorType(ctx.dtype(0), out, ctx.input(0).layout()));
    }

    private static List<TensorType> spaceToDepth(InferenceContext ctx) {
        Shape in = rank4(ctx);
        long b = blocksize(ctx);
        List<Dim> spatial = new ArrayList<>();
        for (int i = 2; i < 4; i++) {
            Dim d = in.dim(i);
            if (d.isStatic() && d.size() % b != 0) throw ctx.fail("dimension " + d.size() + " is not divisible by blocksize " + b);
            spatial.add(d.isStatic() ? Dim.of(d.size() / b) : ctx.freshDim());
        }
        Shape out = new Shape(List.of(in.dim(0), scaled(ctx, in.dim(1), b * b), spatial.get(0), spatial.get(1)));
        return List.of(new TensorType(ctx.dtype(0), out, ctx.input(0).layout()));
    }

    private static Shape rank4(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        if (in.rank() != 4) throw ctx.fail("input must have rank 4, has shape " + in);
        return in;
    }

    private static long blocksize(InferenceContext ctx) {
        long b = ctx.intAttr("blocksize");
        if (b < 1) throw ctx.fail("blocksize must be positive, got " + b);
        return b;
    }

    private static Dim scaled(InferenceContext ctx, Dim d, long factor) {
        return factor == 1 ? d : d.isStatic() ? Dim.of(d.size() * factor) : ctx.freshDim();
    }

    private static List<TensorType> resize(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        int rank = in.rank();
        long[] axes = ctx.intsAttr("axes");
        if (axes == null) {
            axes = new long[rank];
            for (int i = 0; i < rank; i++) axes[i] = i;
        }
        axisSet(ctx, axes, rank);
        boolean hasScales = ctx.hasInput(2) && !isEmpty(ctx, 2);
        boolean hasSizes = ctx.hasInput(3) && !isEmpty(ctx, 3);
        if (hasScales == hasSizes) throw ctx.fail("exactly one of scales and sizes must be given");
        String mode = ctx.stringAttr("mode");
        if (!List.of("nearest", "linear", "cubic").contains(mode)) throw ctx.fail("unknown mode '" + mode + "'");
        List<Dim> out = new ArrayList<>(in.dims());
        if (hasSizes) {
            long[] sizes = ctx.constantLongs(3);
            if (sizes != null && sizes.length != axes.length) throw ctx.fail("sizes " + Arrays.toString(sizes) + " do not match " + axes.length + " axes");
            String policy = ctx.stringAttr("keep_aspect_ratio_policy");
            if (!List.of("stretch", "not_larger", "not_smaller").contains(policy)) throw ctx.fail("unknown keep_aspect_ratio_policy '" + policy + "'");
            boolean inputsStatic = true;
            for (long a : axes) inputsStatic &= in.dim(ctx.axis(a, rank)).isStatic();
            double scale = policy.equals("not_larger") ? Double.MAX_VALUE : 0;
            for (int i = 0; i < axes.length && sizes != null && inputsStatic; i++) {
                double s = (double) sizes[i] / in.dim(ctx.axis(axes[i], rank)).size();
                scale = policy.equals("not_larger") ? Math.min(scale, s) : Math.max(scale, s);
            }
            for (int i = 0; i < axes.length; i++) {
                int a = ctx.axis(axes[i], rank);
                if (sizes == null) out.set(a, ctx.freshDim());
                else if (policy.equals("stretch")) out.set(a, Dim.of(sizes[i]));
                else if (inputsStatic) out.set(a, Dim.of((long) Math.floor(scale * in.dim(a).size() + 0.5)));
                else out.set(a, ctx.freshDim());
            }
        } else {
            if (ctx.dtype(2) != DType.F32) throw ctx.fail("scales must be f32, got " + ctx.dtype(2));
            ByteBuffer scales = ctx.constant(2);
            if (scales != null && scales.remaining() / 4 != axes.length) throw ctx.fail("scales do not match " + axes.length + " axes");
            for (int i = 0; i < axes.length; i++) {
                int a = ctx.axis(axes[i], rank);
                Dim d = in.dim(a);
                double s = scales == null ? Double.NaN : scales.getFloat(4 * i);
                if (s == 1.0) continue;
                if (s <= 0) throw ctx.fail("scale " + s + " is not positive");
                out.set(a, d.isStatic() && scales != null ? Dim.of((long) Math.floor(d.size() * s)) : ctx.freshDim());
            }
        }
        return List.of(new TensorType(ctx.dtype(0), new Shape(out), ctx.input(0).layout()));
    }

    /**
     * Whether a Resize leaves every dim of its input but the last two, and the channels (dim 1), as they are: each
     * such axis is not listed, or its constant scale is 1, or its constant size, stretched to, is the input's
     * static dim. tf_crop_and_resize moves every listed axis by its roi.
     */
    static boolean resizesImageOnly(List<Value> inputs, Map<String, Attribute> attrs) {
        InferenceContext ctx = new InferenceContext(OpRegistry.spec("Resize"), "", inputs, attrs, 1);
        Shape in = ctx.shape(0);
        int rank = in.rank();
        if (rank < 3 || ctx.stringAttr("coordinate_transformation_mode").equals("tf_crop_and_resize")) return false;
        long[] axes = ctx.intsAttr("axes");
        if (axes == null) {
            axes = new long[rank];
            for (int i = 0; i < rank; i++) axes[i] = i;
        }
        boolean hasScales = ctx.hasInput(2) && !isEmpty(ctx, 2);
        ByteBuffer scales = hasScales ? ctx.constant(2) : null;
        long[] sizes = hasScales ? null : ctx.constantLongs(3);
        if (hasScales ? scales == null || scales.remaining() / 4 != axes.length : sizes == null || sizes.length != axes.length) return false;
        boolean stretch = ctx.stringAttr("keep_aspect_ratio_policy").equals("stretch");
        for (int i = 0; i < axes.length; i++) {
            int a = ctx.axis(axes[i], rank);
            if (a >= 2 && a >= rank - 2) continue;
            boolean kept = hasScales ? scales.getFloat(4 * i) == 1.0f : stretch && in.dim(a).isStatic() && sizes[i] == in.dim(a).size();
            if (!kept) return false;
        }
        return true;
    }

    private static boolean isEmpty(InferenceContext ctx, int i) {
        Shape s = ctx.shape(i);
        return s.rank() == 1 && s.dim(0).isStatic() && s.dim(0).size() == 0;
    }

    private static List<TensorType> sameAsInput(InferenceContext ctx) {
        if (ctx.shape(0).rank() < 2) throw ctx.fail("input must have rank 2 or more, has shape " + ctx.shape(0));
        return List.of(ctx.input(0));
    }

    private static List<TensorType> oneHot(InferenceContext ctx) {
        Shape indices = ctx.shape(0);
        int rank = indices.rank() + 1;
        int axis = ctx.axis(ctx.intAttr("axis"), rank);
        ByteBuffer depth = ctx.constant(1);
        DType depthType = ctx.dtype(1);
        Dim d = ctx.freshDim();
        if (depth != null && depth.remaining() == depthType.byteSize() && depthType != DType.F16 && depthType != DType.BF16) {
            long n = depthType.isFloatingPoint() ? (long) floatAt(depth, depthType) : integerAt(depth, depthType);
            if (n < 1) throw ctx.fail("depth must be positive, got " + n);
            d = Dim.of(n);
        }
        List<Dim> out = new ArrayList<>(indices.dims());
        out.add(axis, d);
        return List.of(TensorType.of(ctx.dtype(2), new Shape(out)));
    }

    private static List<TensorType> eyeLike(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        if (in.rank() != 2) throw ctx.fail("input must have rank 2, has shape " + in);
        DType dtype = ctx.hasAttr("dtype") ? OnnxDataTypes.require(ctx, "dtype", ctx.intAttr("dtype")) : ctx.dtype(0);
        return List.of(TensorType.of(dtype, in));
    }

    private static List<TensorType> compress(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        if (ctx.shape(1).rank() != 1) throw ctx.fail("condition must have rank 1, has shape " + ctx.shape(1));
        ByteBuffer condition = ctx.constant(1);
        if (!ctx.hasAttr("axis")) {
            Dim n = condition != null && in.isStatic() ? Dim.of(countTrue(condition, in.elementCount())) : ctx.freshDim();
            return List.of(TensorType.of(ctx.dtype(0), new Shape(List.of(n))));
        }
        int axis = ctx.axis(ctx.intAttr("axis"), in.rank());
        Dim d = in.dim(axis);
        Dim n = condition != null && d.isStatic() ? Dim.of(countTrue(condition, d.size())) : ctx.freshDim();
        return List.of(new TensorType(ctx.dtype(0), replaced(in, axis, n), ctx.input(0).layout()));
    }

    private static List<TensorType> centerCropPad(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        long[] axes = ctx.intsAttr("axes");
        if (axes == null) {
            axes = new long[in.rank()];
            for (int i = 0; i < axes.length; i++) axes[i] = i;
        }
        axisSet(ctx, axes, in.rank());
        long[] target = ctx.constantLongs(1);
        if (target != null && target.length != axes.length) throw ctx.fail("shape " + Arrays.toString(target) + " does not match " + axes.length + " axes");
        List<Dim> out = new ArrayList<>(in.dims());
        for (int i = 0; i < axes.length; i++) {
            if (target != null && target[i] < 0) throw ctx.fail("negative size in shape " + Arrays.toString(target));
            out.set(ctx.axis(axes[i], in.rank()), target == null ? ctx.freshDim() : Dim.of(target[i]));
        }
        return List.of(new TensorType(ctx.dtype(0), new Shape(out), ctx.input(0).layout()));
    }

    private static List<TensorType> reverseSequence(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        long batch = ctx.intAttr("batch_axis");
        long time = ctx.intAttr("time_axis");
        if (in.rank() < 2 || batch + time != 1 || batch * time != 0) {
            throw ctx.fail("batch_axis " + batch + " and time_axis " + time + " must be 0 and 1 of an input of rank 2 or more, got " + in);
        }
        return List.of(ctx.input(0));
    }

    private static List<TensorType> tensorScatter(InferenceContext ctx) {
        Shape cache = ctx.shape(0);
        int axis = ctx.axis(ctx.intAttr("axis"), cache.rank());
        if (axis == 0) throw ctx.fail("axis cannot be the batch axis 0");
        if (ctx.dtype(1) != ctx.dtype(0) || ctx.shape(1).rank() != cache.rank()) {
            throw ctx.fail("update " + ctx.input(1) + " does not match the cache " + ctx.input(0));
        }
        String mode = ctx.stringAttr("mode");
        if (!mode.equals("linear") && !mode.equals("circular")) throw ctx.fail("unknown mode '" + mode + "'");
        return List.of(ctx.input(0));
    }

    /** Unique's outputs: the unique values (or slices), their first indices, the inverse map and the counts. */
    private static List<TensorType> unique(InferenceContext ctx) {
        Shape in = ctx.shape(0);
        Dim found = ctx.freshDim();
        Shape values;
        Dim scanned;
        if (ctx.hasAttr("axis")) {
            int axis = ctx.axis(ctx.intAttr("axis"), in.rank());
            values = replaced(in, axis, found);
            scanned = in.dim(axis);
        } else {
            values = new Shape(List.of(found));
            scanned = product(ctx, in.dims());
        }
        List<TensorType> types = new ArrayList<>(List.of(TensorType.of(ctx.dtype(0), values),
                TensorType.of(DType.I64, new Shape(List.of(found))), TensorType.of(DType.I64, new Shape(List.of(scanned))),
                TensorType.of(DType.I64, new Shape(List.of(found)))));
        return types.subList(0, ctx.outputCount());
    }

    private static long countTrue(ByteBuffer condition, long limit) {
        long n = 0;
        for (int i = 0; i < Math.min(limit, condition.remaining()); i++) if (condition.get(i) != 0) n++;
        return n;
    }


    private static void requireIndices(InferenceContext ctx, int i) {
        DType t = ctx.dtype(i);
        if (t != DType.I32 && t != DType.I64) throw ctx.fail("indices must be i32 or i64, got " + t);
    }

    /** Marks normalised axes, failing on a repeated axis. */
    private static boolean[] axisSet(InferenceContext ctx, long[] axes, int rank) {
        boolean[] set = new boolean[rank];
        for (long axis : axes) {
            int a = ctx.axis(axis, rank);
            if (set[a]) throw ctx.fail("axis " + axis + " is repeated in " + Arrays.toString(axes));
            set[a] = true;
        }
        return set;
    }

    /** The length of a 1-D input, which must be static (it decides the rank of the output). */
    private static int staticLength(InferenceContext ctx, int i, String what) {
        Shape s = ctx.shape(i);
        if (s.rank() != 1) throw ctx.fail("input '" + what + "' must be 1-D, has shape " + s);
        if (!s.dim(0).isStatic()) throw ctx.fail("the length of input '" + what + "' must be static to know the output rank");
        return (int) s.dim(0).size();
    }

    private static Shape freshShape(InferenceContext ctx, int rank) {
        if (rank < 0) throw ctx.fail("the output would have negative rank");
        List<Dim> dims = new ArrayList<>(rank);
        for (int i = 0; i < rank; i++) dims.add(ctx.freshDim());
        return new Shape(dims);
    }

    /** The product of dims: static when all are, the one symbol when the rest multiply to 1, else fresh. */
    private static Dim product(InferenceContext ctx, List<Dim> dims) {
        long p = 1;
        Dim symbolic = null;
        int symbols = 0;
        for (Dim d : dims) {
            if (d.isStatic()) p = Math.multiplyExact(p, d.size());
            else if (symbols++ == 0) symbolic = d;
        }
        if (symbols == 0 || p == 0) return Dim.of(p);
        return symbols == 1 && p == 1 ? symbolic : ctx.freshDim();
    }

    private static Shape replaced(Shape s, int axis, Dim d) {
        List<Dim> dims = new ArrayList<>(s.dims());
        dims.set(axis, d);
        return new Shape(dims);
    }

    private static long integerAt(ByteBuffer b, DType t) {
        return switch (t) {
            case I8 -> b.get(0);
            case U8, BOOL -> b.get(0) & 0xffL;
            case I16 -> b.getShort(0);
            case U16 -> b.getShort(0) & 0xffffL;
            case I32 -> b.getInt(0);
            case U32 -> b.getInt(0) & 0xffffffffL;
            case I64, U64 -> b.getLong(0);
            default -> throw new IllegalArgumentException("not an integer dtype: " + t);
        };
    }

    private static double floatAt(ByteBuffer b, DType t) {
        return switch (t) {
            case F32 -> b.getFloat(0);
            case F64 -> b.getDouble(0);
            default -> throw new IllegalArgumentException("not a float dtype: " + t);
        };
    }
}
