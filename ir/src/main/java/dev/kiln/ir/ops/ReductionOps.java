package dev.kiln.ir.ops;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * Reductions and ops along one axis: Reduce*, ArgMax/ArgMin, Softmax/LogSoftmax/Hardmax,
 * LpNormalization, CumSum/CumProd and TopK, with the semantics of their newest ONNX versions.
 */
final class ReductionOps {
    private ReductionOps() {}

    private static final Set<DType> FLOATS = EnumSet.of(DType.F32, DType.F16, DType.BF16, DType.F64);
    private static final Set<DType> NUMERIC = EnumSet.complementOf(EnumSet.of(DType.BOOL));
    private static final Set<DType> ANY = EnumSet.allOf(DType.class);

    static List<OpSpec> specs() {
        List<OpSpec> specs = new ArrayList<>();
        for (String op : List.of("ReduceSum", "ReduceMean", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
                "ReduceLogSumExp", "ReduceSumSquare")) {
            specs.add(reduce(op, NUMERIC));
        }
        // ONNX compares bool with False < True for these two.
        specs.add(reduce("ReduceMax", ANY));
        specs.add(reduce("ReduceMin", ANY));
        specs.add(argReduce("ArgMax"));
        specs.add(argReduce("ArgMin"));
        for (String op : List.of("Softmax", "LogSoftmax", "Hardmax")) {
            specs.add(OpSpec.builder(op)
                    .attr("axis", Attribute.Kind.INT, Attribute.of(-1L))
                    .infer(ctx -> sameTypeAlongAxis(ctx, FLOATS))
                    .build());
        }
        specs.add(OpSpec.builder("LpNormalization")
                .attr("axis", Attribute.Kind.INT, Attribute.of(-1L))
                .attr("p", Attribute.Kind.INT, Attribute.of(2L))
                .infer(ReductionOps::inferLpNormalization)
                .build());
        specs.add(cumulative("CumSum"));
        specs.add(cumulative("CumProd"));
        specs.add(OpSpec.builder("TopK")
                .inputs(2)
                .outputs(2)
                .attr("axis", Attribute.Kind.INT, Attribute.of(-1L))
                .attr("largest", Attribute.Kind.INT, Attribute.of(1L))
                .attr("sorted", Attribute.Kind.INT, Attribute.of(1L))
                .infer(ReductionOps::inferTopK)
                .build());
        return specs;
    }

    private static OpSpec reduce(String op, Set<DType> allowed) {
        return OpSpec.builder(op)
                .inputs(1, 2)
                .attr("keepdims", Attribute.Kind.INT, Attribute.of(1L))
                .attr("noop_with_empty_axes", Attribute.Kind.INT, Attribute.of(0L))
                .infer(ctx -> inferReduce(ctx, allowed))
                .build();
    }

    private static OpSpec argReduce(String op) {
        return OpSpec.builder(op)
                .attr("axis", Attribute.Kind.INT, Attribute.of(0L))
                .attr("keepdims", Attribute.Kind.INT, Attribute.of(1L))
                .attr("select_last_index", Attribute.Kind.INT, Attribute.of(0L))
                .infer(ReductionOps::inferArgReduce)
                .build();
    }

    private static OpSpec cumulative(String op) {
        return OpSpec.builder(op)
                .inputs(2)
                .attr("exclusive", Attribute.Kind.INT, Attribute.of(0L))
                .attr("reverse", Attribute.Kind.INT, Attribute.of(0L))
                .infer(ReductionOps::inferCumulative)
                .build();
    }

    private static void requireDType(InferenceContext ctx, int input, Set<DType> allowed) {
        DType t = ctx.dtype(input);
        if (!allowed.contains(t)) throw ctx.fail("input " + input + " has unsupported dtype " + t + "; expected one of " + allowed);
    }

    private static List<TensorType> inferReduce(InferenceContext ctx, Set<DType> allowed) {
        requireDType(ctx, 0, allowed);
        TensorType in = ctx.input(0);
        Shape shape = in.shape();
        int rank = shape.rank();
        boolean keepDims = ctx.intAttr("keepdims") != 0;
        boolean noopWhenEmpty = ctx.intAttr("noop_with_empty_axes") != 0;
        long[] axes;
        if (!ctx.hasInput(1)) {
            axes = new long[0];
        } else {
            if (ctx.dtype(1) != DType.I64) throw ctx.fail("axes must be i64, got " + ctx.dtype(1));
            if (ctx.shape(1).rank() != 1) throw ctx.fail("axes must be 1-D, got shape " + ctx.shape(1));
            axes = ctx.constantLongs(1);
            if (axes == null) {
                Dim count = ctx.shape(1).dim(0);
                if (count.isStatic() && count.size() == 0) axes = new long[0];
                else return List.of(in.withShape(reducedOverUnknownAxes(ctx, shape, keepDims, count)));
            }
        }
        if (axes.length == 0 && noopWhenEmpty) return List.of(in);
        boolean[] reduced = new boolean[rank];
        if (axes.length == 0) {
            Arrays.fill(reduced, true);
        } else {
            for (long a : axes) {
                int axis = ctx.axis(a, rank);
                if (reduced[axis]) throw ctx.fail("axis " + a + " is given more than once");
                reduced[axis] = true;
            }
        }
        List<Dim> out = new ArrayList<>(rank);
        for (int d = 0; d < rank; d++) {
            if (!reduced[d]) out.add(shape.dim(d));
            else if (keepDims) out.add(Dim.of(1));
        }
        return List.of(in.withShape(new Shape(out)));
    }

    /** The output shape when the axes are only known at run time: each dim may or may not be reduced. */
    private static Shape reducedOverUnknownAxes(InferenceContext ctx, Shape shape, boolean keepDims, Dim axisCount) {
        List<Dim> out = new ArrayList<>();
        if (keepDims) {
            for (Dim d : shape.dims()) out.add(d.isStatic() && d.size() == 1 ? d : ctx.freshDim());
            return new Shape(out);
        }
        if (!axisCount.isStatic()) throw ctx.fail("with keepdims=0 the axes need a constant value or a static length");
        long rank = shape.rank() - axisCount.size();
        if (rank < 0) throw ctx.fail(axisCount.size() + " axes given for an input of rank " + shape.rank());
        for (long d = 0; d < rank; d++) out.add(ctx.freshDim());
        return new Shape(out);
    }

    private static List<TensorType> inferArgReduce(InferenceContext ctx) {
        requireDType(ctx, 0, NUMERIC);
        Shape shape = ctx.shape(0);
        int axis = ctx.axis(ctx.intAttr("axis"), shape.rank());
        boolean keepDims = ctx.intAttr("keepdims") != 0;
        List<Dim> out = new ArrayList<>(shape.dims());
        if (keepDims) out.set(axis, Dim.of(1));
        else out.remove(axis);
        return List.of(TensorType.of(DType.I64, new Shape(out)));
    }

    private static List<TensorType> sameTypeAlongAxis(InferenceContext ctx, Set<DType> allowed) {
        requireDType(ctx, 0, allowed);
        ctx.axis(ctx.intAttr("axis"), ctx.shape(0).rank());
        return List.of(ctx.input(0));
    }

    private static List<TensorType> inferLpNormalization(InferenceContext ctx) {
        long p = ctx.intAttr("p");
        if (p != 1 && p != 2) throw ctx.fail("p must be 1 or 2, got " + p);
        return sameTypeAlongAxis(ctx, FLOATS);
    }

    private static List<TensorType> inferCumulative(InferenceContext ctx) {
        requireDType(ctx, 0, NUMERIC);
        DType axisType = ctx.dtype(1);
        if (axisType != DType.I32 && axisType != DType.I64) throw ctx.fail("axis must be i32 or i64, got " + axisType);
        long[] axis = ctx.constantLongs(1);
        if (axis != null) {
            if (axis.length != 1) throw ctx.fail("axis must hold one value, got " + axis.length);
            ctx.axis(axis[0], ctx.shape(0).rank());
        }
        return List.of(ctx.input(0));
    }

    private static List<TensorType> inferTopK(InferenceContext ctx) {
        requireDType(ctx, 0, NUMERIC);
        if (ctx.dtype(1) != DType.I64) throw ctx.fail("K must be i64, got " + ctx.dtype(1));
        Shape shape = ctx.shape(0);
        int axis = ctx.axis(ctx.intAttr("axis"), shape.rank());
        long[] k = ctx.constantLongs(1);
        Dim kDim;
        if (k == null) {
            kDim = ctx.freshDim();
        } else {
            if (k.length != 1) throw ctx.fail("K must hold one value, got " + k.length);
            if (k[0] < 0) throw ctx.fail("K must not be negative, got " + k[0]);
            Dim axisDim = shape.dim(axis);
            if (axisDim.isStatic() && k[0] > axisDim.size()) {
                throw ctx.fail("K=" + k[0] + " exceeds the size " + axisDim.size() + " of axis " + axis);
            }
            kDim = Dim.of(k[0]);
        }
        List<Dim> out = new ArrayList<>(shape.dims());
        out.set(axis, kDim);
        Shape outShape = new Shape(out);
        return List.of(ctx.input(0).withShape(outShape), TensorType.of(DType.I64, outShape));
    }
}
