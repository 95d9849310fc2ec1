package dev.kiln.frontend.onnx;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Shape;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Older ONNX forms of the reduction family rewritten into the newest: Reduce* axes attribute to an
 * axes input, the "coerce to 2D" Softmax/LogSoftmax/Hardmax of opsets before 13, and TopK's k
 * attribute of opsets before 10. ArgMax/ArgMin, CumSum and LpNormalization only gained attributes
 * or dtypes, so their older forms pass through unchanged.
 */
final class ReductionConverters {
    private ReductionConverters() {}

    static void register(Map<String, OnnxOpConverter> table) {
        table.put("ReduceSum", (n, ctx) -> reduce(n, ctx, 13));
        for (String op : List.of("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare")) {
            table.put(op, (n, ctx) -> reduce(n, ctx, 18));
        }
        for (String op : List.of("Softmax", "LogSoftmax", "Hardmax")) table.put(op, ReductionConverters::softmaxFamily);
        table.put("TopK", ReductionConverters::topK);
    }

    /** Before {@code axesInputSince}, Reduce* took its axes as an attribute. */
    private static void reduce(OnnxNode n, ImportContext ctx, int axesInputSince) {
        Map<String, Attribute> attrs = new LinkedHashMap<>(n.attributes());
        List<Value> inputs = new ArrayList<>(List.of(ctx.value(n.input(0))));
        if (n.opset() < axesInputSince) {
            if (n.inputs().size() > 1) throw ctx.fail(n, "takes its axes as an attribute in this opset, not as an input");
            Attribute axes = attrs.remove("axes");
            if (axes != null) {
                if (!(axes instanceof Attribute.Ints list)) throw ctx.fail(n, "attribute axes must be a list of ints");
                // An empty axes list reduced everything before the axes input existed.
                if (list.values().length > 0) inputs.add(ctx.constantLongs(n.name() + "_axes", list.values()));
            }
        } else if (n.hasInput(1)) {
            inputs.add(ctx.value(n.input(1)));
        }
        ctx.emit(n.opType(), n.name(), inputs, attrs, List.of(n.outputs().get(0)));
    }

    /**
     * Before opset 13 these ops flattened the input to 2-D at {@code axis} (default 1) and worked on
     * the second dimension. With the axis last that is the newest form; otherwise the rewrite is
     * Flatten, the op over the last axis, and a Reshape back to the input's shape.
     */
    private static void softmaxFamily(OnnxNode n, ImportContext ctx) {
        Value x = ctx.value(n.input(0));
        String out = n.outputs().get(0);
        if (n.opset() >= 13) {
            ctx.emit(n.opType(), n.name(), List.of(x), n.attributes(), List.of(out));
            return;
        }
        Shape shape = x.type().shape();
        int rank = shape.rank();
        long axis = n.attribute("axis") instanceof Attribute.Int a ? a.value() : 1;
        if (axis < -rank || axis > rank) throw ctx.fail(n, "axis " + axis + " is out of range for rank " + rank);
        if (axis < 0) axis += rank;
        if (axis == rank - 1) {
            ctx.emit(n.opType(), n.name(), List.of(x), Map.of("axis", Attribute.of(-1L)), List.of(out));
            return;
        }
        Value flat = ctx.emitInternal("Flatten", n.name() + "_flatten", List.of(x), Map.of("axis", Attribute.of(axis)));
        Value result = ctx.emitInternal(n.opType(), n.name(), List.of(flat), Map.of("axis", Attribute.of(-1L)));
        long[] target = restoringShape(shape, axis);
        if (target != null) {
            ctx.emit("Reshape", n.name() + "_reshape", List.of(result, ctx.constantLongs(n.name() + "_shape", target)), Map.of(), List.of(out));
        } else {
            Value originalShape = ctx.emitInternal("Shape", n.name() + "_shape", List.of(x), Map.of());
            ctx.emit("Reshape", n.name() + "_reshape", List.of(result, originalShape), Map.of("allowzero", Attribute.of(1L)), List.of(out));
        }
    }

    /**
     * A constant Reshape target that turns the 2-D flattening at {@code axis} back into {@code shape}
     * and keeps a symbolic dim for type inference: the static sizes, with the one dynamic dim as 0
     * (copy the flattening's first dim) when it is first and axis is 1, else as -1. Null when
     * that cannot express the shape: more dynamic dims, or a size 0, which Reshape reads as a copy.
     */
    private static long[] restoringShape(Shape shape, long axis) {
        long[] target = new long[shape.rank()];
        boolean dynamic = false;
        for (int i = 0; i < target.length; i++) {
            Dim d = shape.dim(i);
            if (d.isStatic()) {
                if (d.size() == 0) return null;
                target[i] = d.size();
            } else {
                if (dynamic) return null;
                dynamic = true;
                target[i] = i == 0 && axis == 1 ? 0 : -1;
            }
        }
        return target;
    }

    /** Before opset 10, TopK took k as an attribute; largest and sorted came in opset 11 with their defaults. */
    private static void topK(OnnxNode n, ImportContext ctx) {
        Map<String, Attribute> attrs = new LinkedHashMap<>(n.attributes());
        List<Value> inputs = new ArrayList<>(List.of(ctx.value(n.input(0))));
        if (n.opset() < 10) {
            if (!(attrs.remove("k") instanceof Attribute.Int k)) throw ctx.fail(n, "needs the int attribute k in this opset");
            inputs.add(ctx.constantLongs(n.name() + "_k", k.value()));
        } else {
            inputs.add(ctx.value(n.input(1)));
        }
        ctx.emit("TopK", n.name(), inputs, attrs, n.outputs());
    }
}
