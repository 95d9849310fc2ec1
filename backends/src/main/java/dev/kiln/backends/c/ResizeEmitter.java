package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;

import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.IntStream;

import static dev.kiln.backends.c.DimExprs.product;

/**
 * Resize (resize.h): nearest as a gather of elements through per-axis offset tables (every dtype); linear and
 * cubic of f32 resizing only the last two axes (and nearest of them, with constant scales or sizes) in one float
 * pass per output row, on plain or blocked (NC[D][H]W{c}c) values; everything else through the reference's own
 * double arithmetic, axis after axis, so integer results agree bitwise. With constant scales or sizes (and roi)
 * and a static input, the output dims are literals and the tap tables are static arrays kiln_init fills once;
 * otherwise the dims and tables are computed at the start of each run.
 */
final class ResizeEmitter implements OpEmitter {
    /** The values resize.h takes for each string attribute. */
    private static final Map<String, Set<String>> CHOICES = Map.of(
            "mode", Set.of("nearest", "linear", "cubic"),
            "coordinate_transformation_mode", Set.of("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                    "tf_crop_and_resize"),
            "nearest_mode", Set.of("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"),
            "keep_aspect_ratio_policy", Set.of("stretch", "not_larger", "not_smaller"));

    /** Resize nodes emitted so far: names their tables. */
    private int resizes;

    @Override
    public Set<String> ops() { return Set.of("Resize"); }

    @Override
    public List<String> kernels() { return List.of("gather.h", "resize.h"); }

    @Override
    public String problem(Node n) {
        if (isBlocked(n.input(0)) || isBlocked(n.output(0))) return blockedProblem(n);
        String types = Nodes.plainOf(n, EnumSet.allOf(DType.class));
        if (types != null) return types;
        if (n.input(0).type().rank() == 0) return " (rank 0)";
        for (Map.Entry<String, Set<String>> attr : CHOICES.entrySet()) {
            String value = Nodes.stringAttr(n, attr.getKey(), "");
            if (!attr.getValue().contains(value)) return " (" + attr.getKey() + " " + value + ")";
        }
        return null;
    }

    /** Channels in blocks after the batch (NCW8c, NCHW16c, NCDHW16c ...): each position's block one element of the image path. */
    private static boolean isBlocked(Value v) {
        Layout l = v.type().layout();
        if (Layouts.isPlain(l)) return false;
        String logical = Layouts.logical(l).name();
        return logical.startsWith("NC") && l.name().equals(logical + Layouts.blockSize(l, 'C') + "c");
    }

    /** The rank of a value's logical dims (a blocked value has one physical dim more). */
    private static int logicalRank(Value v) {
        Layout l = v.type().layout();
        return Layouts.isPlain(l) ? v.type().rank() : Layouts.logical(l).name().length();
    }

    /** Blocked values take the image path: f32, static, both in the same layout, the plan made here and resizing the last two axes alone. */
    private static String blockedProblem(Node n) {
        Value x = n.input(0);
        Value y = n.output(0);
        if (!x.type().layout().equals(y.type().layout())) return " (layouts " + x.type().layout() + " and " + y.type().layout() + ")";
        if (x.type().dtype() != DType.F32) return " (blocked " + x.type().dtype() + ")";
        for (Map.Entry<String, Set<String>> attr : CHOICES.entrySet()) {
            String value = Nodes.stringAttr(n, attr.getKey(), "");
            if (!attr.getValue().contains(value)) return " (" + attr.getKey() + " " + value + ")";
        }
        Spec s = Spec.of(n);
        if (!s.constantPlan() || !Emission.isStatic(y)) return " (blocked, with scales or sizes read at run time)";
        long[] in = Nodes.logical(x);
        long[] out = Nodes.logical(y);
        for (int a = 0; a < in.length - 2; a++) {
            if (in[a] != out[a] || s.listed(a) && !keptByConstants(s, a)) return " (blocked, resizing axis " + a + ")";
        }
        return null;
    }

    /** Whether the constant scales or sizes leave the listed axis as it is (stretching to its own size, or a scale of 1). */
    private static boolean keptByConstants(Spec s, int axis) {
        int i = indexOf(s.axes, axis);
        double[] given = values(s.scales != null ? s.scales : s.sizes);
        if (s.tfCrop || i >= given.length) return false;
        if (s.scales != null) return (float) given[i] == 1.0f;
        return Nodes.stringAttr(s.node, "keep_aspect_ratio_policy", "stretch").equals("stretch") && given[i] == Nodes.logical(s.x)[axis];
    }

    /** What a Resize node asks for, read once. */
    private record Spec(Node node, Value x, Value roi, Value scales, Value sizes, int[] axes, String mode, String transform, boolean tfCrop) {
        static Spec of(Node n) {
            Value x = n.input(0);
            int rank = logicalRank(x);
            int[] axes;
            if (Nodes.attr(n, "axes") instanceof Attribute.Ints a) {
                axes = Arrays.stream(a.values()).mapToInt(v -> (int) (v < 0 ? v + rank : v)).toArray();
            } else {
                axes = IntStream.range(0, rank).toArray();
            }
            String transform = Nodes.stringAttr(n, "coordinate_transformation_mode", "half_pixel");
            return new Spec(n, x, given(n, 1), given(n, 2), given(n, 3), axes, Nodes.stringAttr(n, "mode", "nearest"), transform,
                    transform.equals("tf_crop_and_resize"));
        }

        /** Input i, or null when absent or statically empty (ONNX's way of leaving an input out). */
        private static Value given(Node n, int i) {
            if (i >= n.inputs().size() || n.input(i) == null) return null;
            Value v = n.input(i);
            return v.type().rank() == 1 && DimExprs.hasStaticSize(v, 0, 0) ? null : v;
        }

        int rank() { return logicalRank(x); }

        boolean listed(int axis) { return Arrays.stream(axes).anyMatch(a -> a == axis); }

        /** The scales and sizes (and the roi where it counts) are constants and the input static: the plan is made here. */
        boolean constantPlan() {
            return Emission.isStatic(x) && (scales != null ? scales instanceof Constant : sizes instanceof Constant)
                    && (!tfCrop || roi == null || roi instanceof Constant);
        }

        /**
         * f32 where only the last two axes resize (the others known to stay as they are), linear or cubic, or nearest
         * with the plan made here: the float image path. Blocked values take it whatever they resize, being checked.
         */
        boolean image(Axis[] planned) {
            if (isBlocked(x)) return true;
            if (mode.equals("nearest") && !constantPlan() || x.type().dtype() != DType.F32 || !Emission.isStatic(x)) return false;
            for (int a = 0; a < rank() - 2; a++) if (!planned[a].isIdentity()) return false;
            return true;
        }
    }

    /**
     * Where an axis' tables come from: C expressions of its dims, scale and roi, and whether it is left as it
     * is; in a constant plan also its output length and scale here (else -1 and NaN).
     */
    private record Axis(String in, String out, String scale, String roiStart, String roiEnd, String identity, long outLength, double scaleValue) {
        /** An axis of 1 left as it is: the height of a rank-1 input. */
        static final Axis UNIT = new Axis("1L", "1L", CTypes.doubleLiteral(1), CTypes.doubleLiteral(0), CTypes.doubleLiteral(1), "1", 1, 1);

        boolean isIdentity() { return identity.equals("1"); }

        /** The elements of a table of {@code taps} per output coordinate: a literal in a constant plan. */
        String table(String taps, long tapsValue) { return outLength >= 0 ? outLength * tapsValue + "L" : out + " * " + taps; }
    }

    @Override
    public void emit(Node n, Emission e) {
        Spec s = Spec.of(n);
        int id = resizes++;
        String name = "kiln_resize" + id;
        e.global("static const kiln_resize_filter " + name + "_filter = {KILN_RESIZE_" + upper(s.mode) + ", KILN_RESIZE_" + upper(s.transform)
                + ", KILN_RESIZE_" + upper(Nodes.stringAttr(n, "nearest_mode", "round_prefer_floor")) + ", " + (Nodes.intAttr(n, "antialias", 0) != 0 ? 1 : 0)
                + ", " + (Nodes.intAttr(n, "exclude_outside", 0) != 0 ? 1 : 0) + ", " + CTypes.doubleLiteral(Nodes.floatAttr(n, "cubic_coeff_a", -0.75)) + "};");
        Axis[] axes = s.constantPlan() ? constantShape(s, e) : runTimeShape(s, e);
        if (axes == null) return;
        DimExprs.define(e, n.output(0), Arrays.stream(axes).map(Axis::out).toList());
        Tables t = s.constantPlan() ? new Tables(e::init, e, name, true) : new Tables(e::line, e, name, false);
        if (s.image(axes)) image(s, e, axes, t);
        else if (s.mode.equals("nearest")) nearest(s, e, axes, t);
        else separable(s, e, axes, t);
    }

    private static String upper(String s) { return s.toUpperCase(Locale.ROOT); }

    private static String fromScales(Spec s) { return s.sizes == null ? "1" : "0"; }

    /**
     * The output dims and scales of a constant plan, as the reference computes them (literals in the axes);
     * null, with the run failing, where the reference fails.
     */
    private static Axis[] constantShape(Spec s, Emission e) {
        int rank = s.rank();
        long[] in = Nodes.logical(s.x);
        long[] out = in.clone();
        double[] scale = new double[rank];
        Arrays.fill(scale, 1.0);
        String policy = Nodes.stringAttr(s.node, "keep_aspect_ratio_policy", "stretch");
        String fail = null;
        double[] given = values(s.scales != null ? s.scales : s.sizes);
        if (given.length != s.axes.length) fail = (s.scales != null ? "scales" : "sizes") + " do not match " + s.axes.length + " axes";
        for (int i = 0; fail == null && i < s.axes.length; i++) {
            int a = s.axes[i];
            if (s.scales != null) {
                float f = (float) given[i];
                if (!(f > 0)) fail = "scale " + f + " is not positive";
                scale[a] = f;
                out[a] = (long) Math.floor(in[a] * (double) f);
            } else {
                scale[a] = given[i] / in[a];
                out[a] = (long) given[i];
            }
        }
        if (fail == null && s.sizes != null && !policy.equals("stretch")) {
            double k = scale[s.axes[0]];
            for (int a : s.axes) k = policy.equals("not_larger") ? Math.min(k, scale[a]) : Math.max(k, scale[a]);
            for (int a : s.axes) {
                scale[a] = k;
                out[a] = (long) Math.floor(k * in[a] + 0.5);
            }
        }
        for (int a : s.axes) if (fail == null && in[a] == 0 && out[a] > 0) fail = "an empty axis cannot be resized to " + out[a];
        if (fail != null) {
            e.failWhen("1", "node " + s.node.name() + " (Resize): " + fail);
            return null;
        }
        if (!Emission.isStatic(s.node.output(0)) || !Arrays.equals(out, Nodes.logical(s.node.output(0)))) {
            throw new IllegalStateException("node " + s.node.name() + ": Resize to " + Arrays.toString(out) + " where the graph has "
                    + s.node.output(0).type().shape());
        }
        double[] roi = s.tfCrop && s.roi != null ? values(s.roi) : new double[0];
        if (roi.length != 0 && roi.length != 2 * s.axes.length) {
            e.failWhen("1", "node " + s.node.name() + " (Resize): roi has " + roi.length + " values for " + s.axes.length + " axes");
            return null;
        }
        Axis[] axes = new Axis[rank];
        for (int a = 0; a < rank; a++) {
            int i = indexOf(s.axes, a);
            boolean identity = i < 0 || out[a] == in[a] && scale[a] == 1.0 && !s.tfCrop;
            axes[a] = new Axis(in[a] + "L", out[a] + "L", CTypes.doubleLiteral(scale[a]),
                    CTypes.doubleLiteral(roi.length > 0 && i >= 0 ? roi[i] : 0), CTypes.doubleLiteral(roi.length > 0 && i >= 0 ? roi[s.axes.length + i] : 1),
                    identity ? "1" : "0", out[a], scale[a]);
        }
        return axes;
    }

    private static int indexOf(int[] axes, int axis) {
        for (int i = 0; i < axes.length; i++) if (axes[i] == axis) return i;
        return -1;
    }

    /** A constant's values as doubles, whatever its dtype. */
    private static double[] values(Value v) {
        Constant c = (Constant) v;
        Tensor t = Tensor.wrap(c.type().dtype(), Nodes.dims(c), c.data().duplicate().order(ByteOrder.LITTLE_ENDIAN));
        double[] values = new double[t.size()];
        for (int i = 0; i < values.length; i++) values[i] = t.getDouble(i);
        return values;
    }

    /** The output dims and scales computed at run time (kiln_resize_shape) into out_dims and scale, and the roi read from its input. */
    private static Axis[] runTimeShape(Spec s, Emission e) {
        int rank = s.rank();
        e.line("const long in_dims[" + rank + "] = {" + String.join(", ", DimExprs.dims(e, s.x)) + "};");
        int naxes = s.axes.length;
        String what = Emission.cString("node " + s.node.name() + " (Resize)");
        Value given = s.scales != null ? s.scales : s.sizes;
        String count = product(e, given, 0, given.type().rank());
        DimExprs.failWhen(e, Emission.isStatic(given) ? Nodes.count(given) != naxes : null, count + " != " + naxes,
                "node " + s.node.name() + " (Resize): " + (s.scales != null ? "scales" : "sizes") + " do not match " + naxes + " axes");
        e.line("static const int axes[" + naxes + "] = {" + String.join(", ", Arrays.stream(s.axes).mapToObj(Integer::toString).toList()) + "};");
        e.line("long out_dims[" + rank + "];");
        e.line("double scale[" + rank + "];");
        String sizes = "0";
        if (s.sizes != null) {
            e.line("long long sizes[" + naxes + "];");
            e.line("for (int i = 0; i < " + naxes + "; i++) sizes[i] = " + Elements.asLong(s.sizes.type().dtype(), e.ptr(s.sizes) + "[i]") + ";");
            sizes = "sizes";
        }
        e.check("kiln_resize_shape(" + rank + ", in_dims, " + naxes + ", axes, " + (s.scales != null ? e.ptr(s.scales) : "0") + ", " + sizes
                + ", KILN_RESIZE_" + upper(Nodes.stringAttr(s.node, "keep_aspect_ratio_policy", "stretch")) + ", out_dims, scale, " + what + ")");
        e.line("double roi[" + 2 * rank + "];");
        e.line("for (int d = 0; d < " + rank + "; d++) roi[d] = 0, roi[" + rank + " + d] = 1;");
        if (s.tfCrop && s.roi != null) {
            String values = product(e, s.roi, 0, s.roi.type().rank());
            DimExprs.failWhen(e, Emission.isStatic(s.roi) ? Nodes.count(s.roi) != 0 && Nodes.count(s.roi) != 2L * naxes : null,
                    values + " != 0 && " + values + " != " + 2 * naxes, "node " + s.node.name() + " (Resize): roi does not hold 2 values for each of " + naxes + " axes");
            String at = e.ptr(s.roi);
            DType rt = s.roi.type().dtype();
            e.open("if (" + values + " != 0) {");
            e.line("for (int i = 0; i < " + naxes + "; i++) roi[axes[i]] = " + Elements.asDouble(rt, at + "[i]") + ", roi[" + rank + " + axes[i]] = "
                    + Elements.asDouble(rt, at + "[" + naxes + " + i]") + ";");
            e.close("}");
        }
        Axis[] axes = new Axis[rank];
        for (int a = 0; a < rank; a++) {
            String identity = !s.listed(a) ? "1" : s.tfCrop ? "0" : "(out_dims[" + a + "] == in_dims[" + a + "] && scale[" + a + "] == 1.0)";
            axes[a] = new Axis("in_dims[" + a + "]", "out_dims[" + a + "]", "scale[" + a + "]", "roi[" + a + "]", "roi[" + (rank + a) + "]", identity,
                    -1, Double.NaN);
        }
        return axes;
    }

    /**
     * Where tap tables live: static arrays kiln_init fills (a constant plan, sizes known here) or one run-time
     * buffer carved per run; {@code fill} receives the code that fills them.
     */
    private static final class Tables {
        final Consumer<String> fill;
        final Emission e;
        final String name;
        final boolean isStatic;
        final List<String[]> carved = new ArrayList<>();

        Tables(Consumer<String> fill, Emission e, String name, boolean isStatic) {
            this.fill = fill;
            this.e = e;
            this.name = name;
            this.isStatic = isStatic;
        }

        /** A table of {@code count} elements (a literal in a constant plan) of C type {@code type}: its name. */
        String table(String suffix, String type, String count) {
            String table = name + "_" + suffix;
            if (isStatic) {
                e.global("static " + type + " " + table + "[" + (count.equals("0L") ? "1L" : count) + "];");
            } else {
                carved.add(new String[] {table, type, count});
            }
            return table;
        }

        /** In a run-time plan: reserves one buffer for the tables asked for so far and points each into it. */
        void carve(String what) {
            if (isStatic || carved.isEmpty()) return;
            List<String> bytes = new ArrayList<>();
            for (String[] t : carved) bytes.add("(size_t) " + t[2] + " * sizeof(" + t[1] + ")");
            e.line("char* tables = " + e.scratch(String.join(" + ", bytes), what) + ";");
            for (String[] t : carved) {
                e.line(t[1] + "* " + t[0] + " = (" + t[1] + "*) tables;");
                e.line("tables += (size_t) " + t[2] + " * sizeof(" + t[1] + ");");
            }
        }
    }

    /** Taps of an axis, as the C code counts them (kiln_resize_tap_count), for a constant plan's static tables. */
    private static long tapCount(Spec s, double scale) {
        if (s.mode.equals("nearest")) return 2;
        boolean linear = s.mode.equals("linear");
        if (Nodes.intAttr(s.node, "antialias", 0) == 0) return linear ? 2 : 4;
        double k = Math.min(scale, 1.0);
        return 2 - 2 * ((long) Math.floor((linear ? -1 : -2) / k) + 1);
    }

    /** A constant plan's in_dims or out_dims array, for the kernels that take dims as arrays (a run-time plan has both). */
    private static void dimsArray(Emission e, Tables t, String array, Axis[] axes, Function<Axis, String> dim) {
        if (t.isStatic) e.line("const long " + array + "[" + axes.length + "] = {" + String.join(", ", Arrays.stream(axes).map(dim).toList()) + "};");
    }

    /** The C arguments of an axis shared by the tap functions of resize.h. */
    private static String axisArgs(Spec s, Axis a) {
        return a.in + ", " + a.out + ", " + a.scale + ", " + fromScales(s) + ", " + a.roiStart + ", " + a.roiEnd + ", " + a.identity;
    }

    /** Nearest: one table of element offsets per axis, then a gather. */
    private static void nearest(Spec s, Emission e, Axis[] axes, Tables t) {
        int rank = s.rank();
        String[] offsets = new String[rank];
        for (int a = 0; a < rank; a++) offsets[a] = t.table("offsets" + a, "long", axes[a].out);
        t.carve("the offset tables of node " + s.node.name() + " (Resize)");
        for (int a = 0; a < rank; a++) {
            t.fill.accept("kiln_resize_nearest_axis(&" + t.name + "_filter, " + axisArgs(s, axes[a]) + ", " + DimExprs.stride(e, s.x, a) + ", " + offsets[a] + ");");
        }
        DType dt = s.x.type().dtype();
        dimsArray(e, t, "out_dims", axes, Axis::out);
        e.line(CTypes.storage(dt) + " fill = " + Elements.fromDouble(dt, CTypes.doubleLiteral(Nodes.floatAttr(s.node, "extrapolation_value", 0))) + ";");
        e.line("long* offsets[" + rank + "] = {" + String.join(", ", offsets) + "};");
        e.line("kiln_resize_gather(" + e.address(s.x) + ", " + e.address(s.node.output(0)) + ", " + dt.byteSize() + ", " + rank
                + ", out_dims, offsets, &fill);");
    }

    /**
     * f32 resizing the last two axes: tap tables of both (an axis left as it is, and nearest, has one tap of weight
     * 1), the columns' transposed for the kernel, one pass per output row. Each element is one float, or one
     * position's channel block of a blocked value. Upsampling rows with the plan made here resamples each input row
     * across once (kept in the workspace, a row per tap); otherwise each output row sums its input rows first.
     */
    private static void image(Spec s, Emission e, Axis[] axes, Tables t) {
        int rank = s.rank();
        // the rows: the axis before the last, unless that is a blocked value's channels (a 1-D signal's rows are 1)
        boolean blocked = isBlocked(s.x);
        boolean rows = blocked ? rank >= 4 : rank >= 2;
        Axis h = rows ? axes[rank - 2] : Axis.UNIT;
        Axis w = axes[rank - 1];
        String[][] tables = new String[2][];
        Axis[] both = {h, w};
        long[] tapValues = new long[2];
        for (int k = 0; k < 2; k++) {
            Axis a = both[k];
            tapValues[k] = a.isIdentity() || s.mode.equals("nearest") ? 1 : t.isStatic ? tapCount(s, a.scaleValue) : -1;
            String taps = tapValues[k] + "L";
            if (!t.isStatic) {
                taps = "taps" + k;
                e.line("long " + taps + " = " + a.identity + " ? 1 : kiln_resize_tap_count(&" + t.name + "_filter, " + a.scale + ");");
            }
            String count = a.table(taps, tapValues[k]);
            tables[k] = new String[] {taps, t.table("index" + k, "long", count), t.table("weight" + k, "double", count), t.table("weight_f32_" + k, "float", count)};
        }
        String count = w.table(tables[1][0], tapValues[1]);
        String columns = t.table("columns", "int", count);
        String columnWeight = t.table("column_weight", "float", count);
        t.carve("the tap tables of node " + s.node.name() + " (Resize)");
        for (int k = 0; k < 2; k++) {
            t.fill.accept("kiln_resize_axis(&" + t.name + "_filter, " + axisArgs(s, both[k]) + ", " + tables[k][0] + ", " + tables[k][1] + ", "
                    + tables[k][2] + ", " + tables[k][3] + ");");
        }
        t.fill.accept("kiln_resize_columns(" + w.out + ", " + tables[1][0] + ", " + tables[1][1] + ", " + tables[1][3] + ", " + columns + ", " + columnWeight + ");");
        long[] in = Nodes.logical(s.x);
        long lanes = blocked ? Layouts.blockSize(s.x.type().layout(), 'C') : 1;
        long inH = rows ? in[rank - 2] : 1;
        long inW = in[rank - 1];
        boolean across = t.isStatic && h.outLength >= inH;
        long rowFloats = across ? tapValues[0] * w.outLength * lanes : inW * lanes;
        String ws = e.workspace(rowFloats);
        e.threadWorkspace(rowFloats);
        e.line("kiln_resize_2d_args args = {" + e.ptr(s.x) + ", " + e.ptr(s.node.output(0)) + ", " + h.in + ", " + w.in + ", " + h.out + ", " + w.out
                + ", " + lanes + "L, " + tables[0][0] + ", " + tables[1][0] + ", " + tables[0][1] + ", " + tables[0][3] + ", " + tables[1][1] + ", "
                + columns + ", " + columnWeight + ", " + CTypes.floatLiteral(Nodes.floatAttr(s.node, "extrapolation_value", 0)) + ", " + (across ? 1 : 0)
                + ", 0};");
        long planes = inH * inW == 0 ? 0 : Nodes.count(s.x) / (inH * inW * lanes);
        e.line("kiln_resize_2d(&args, " + planes + "L, " + ws + ");");
    }

    /** Every dtype in the reference's double arithmetic: tap tables of the resized axes, the input as doubles, axis after axis, stored back. */
    private static void separable(Spec s, Emission e, Axis[] axes, Tables t) {
        int rank = s.rank();
        String[] index = new String[rank];
        String[] weight = new String[rank];
        String[] taps = new String[rank];
        for (int a = 0; a < rank; a++) {
            index[a] = "0";
            weight[a] = "0";
            long tapsValue = axes[a].isIdentity() ? 0 : t.isStatic ? tapCount(s, axes[a].scaleValue) : -1;
            taps[a] = t.isStatic ? tapsValue + "L" : "taps[" + a + "]";
            if (tapsValue == 0 || !s.listed(a)) continue;
            String count = axes[a].table(taps[a], tapsValue);
            index[a] = t.table("index" + a, "long", count);
            weight[a] = t.table("weight" + a, "double", count);
        }
        if (!t.isStatic) {
            e.line("long taps[" + rank + "];");
            for (int a = 0; a < rank; a++) {
                e.line("taps[" + a + "] = " + (s.listed(a) ? axes[a].identity + " ? 0 : kiln_resize_tap_count(&" + t.name + "_filter, " + axes[a].scale + ")" : "0") + ";");
            }
        } else {
            e.line("const long taps[" + rank + "] = {" + String.join(", ", taps) + "};");
        }
        t.carve("the tap tables of node " + s.node.name() + " (Resize)");
        for (int a = 0; a < rank; a++) {
            if (index[a].equals("0")) continue;
            String call = "kiln_resize_axis(&" + t.name + "_filter, " + axisArgs(s, axes[a]) + ", " + taps[a] + ", " + index[a] + ", " + weight[a] + ", 0);";
            t.fill.accept(t.isStatic ? call : "if (taps[" + a + "]) " + call);
        }
        DType dt = s.x.type().dtype();
        Value y = s.node.output(0);
        dimsArray(e, t, "in_dims", axes, Axis::in);
        dimsArray(e, t, "out_dims", axes, Axis::out);
        e.line("long largest = kiln_resize_largest(" + rank + ", in_dims, out_dims, taps);");
        e.line("double* a = (double*) " + e.scratch("(size_t) 2 * largest * sizeof(double)", "the work of node " + s.node.name() + " (Resize)") + ";");
        e.line("const " + CTypes.storage(dt) + "* x = " + e.ptr(s.x) + ";");
        e.line("for (long i = 0; i < " + product(e, s.x, 0, rank) + "; i++) a[i] = " + Elements.asDouble(dt, "x[i]") + ";");
        e.line("long* index[" + rank + "] = {" + String.join(", ", index) + "};");
        e.line("double* weight[" + rank + "] = {" + String.join(", ", weight) + "};");
        e.line("const double* r = kiln_resize_separable(a, a + largest, " + rank + ", in_dims, out_dims, taps, index, weight, "
                + CTypes.doubleLiteral(Nodes.floatAttr(s.node, "extrapolation_value", 0)) + ");");
        e.line(CTypes.storage(dt) + "* y = " + e.ptr(y) + ";");
        e.line("for (long i = 0; i < " + product(e, y, 0, rank) + "; i++) y[i] = " + Elements.fromDouble(dt, "r[i]") + ";");
    }
}
