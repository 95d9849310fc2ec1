package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.kiln.backends.c.DimExprs.what;
import static dev.kiln.backends.c.ShapeCode.isStatic;
import static dev.kiln.backends.c.ShapeCode.known;

/**
 * Ops whose output is one strided walk over the input: out[i] = in[first + sum_d i_d * step_d] (Transpose,
 * Slice, Expand, Tile as a walk of twice the rank, DepthToSpace and SpaceToDepth as 6-D transposes). With
 * static shapes and constant parameters the walk is literal loops; otherwise the op's rules run at run time
 * (shape_rules.h) and kiln_copy_strided walks.
 */
final class CopyEmitter implements OpEmitter {
    /** One op: its walk for static shapes, and the code that computes its dims and walks at run time. */
    private interface Walk {
        /** The walk, for static shapes and constant parameters. */
        Strided planned(Node n);

        /** Declares y (the output's dims) and does the copy at run time, settling the output on the way. */
        void atRunTime(Node n, Emission e);

        /** The parameter inputs, read as integers. */
        int[] parameters();
    }

    /** A strided walk: the element offset of the first element, and the walk's dims and steps. */
    private record Strided(long base, long[] dims, long[] steps) {}

    private static final Map<String, Walk> WALKS = Map.of(
            "Transpose", new Transpose(),
            "Slice", new Slice(),
            "Expand", new Expand(),
            "Tile", new Tile(),
            "DepthToSpace", new Rearrange(true),
            "SpaceToDepth", new Rearrange(false));

    @Override
    public Set<String> ops() { return WALKS.keySet(); }

    @Override
    public List<String> kernels() { return List.of(ShapeCode.COPY, ShapeCode.RULES); }

    @Override
    public String problem(Node n) {
        String layout = Nodes.plainLayouts(n);
        return layout != null ? layout : ShapeCode.integers(n, WALKS.get(n.op()).parameters());
    }

    @Override
    public void emit(Node n, Emission e) {
        Walk walk = WALKS.get(n.op());
        boolean planned = isStatic(n.input(0)) && isStatic(n.output(0));
        for (int i : walk.parameters()) planned &= known(n, i);
        if (planned) {
            Strided s = walk.planned(n);
            ShapeCode.copyStatic(e, n.input(0), s.base(), n.output(0), s.dims(), s.steps());
        } else {
            walk.atRunTime(n, e);
        }
    }

    /** Rank of input 0. */
    private static int rank(Node n) { return n.input(0).type().rank(); }

    private static final class Transpose implements Walk {
        @Override
        public int[] parameters() { return new int[0]; }

        static int[] perm(Node n) {
            int rank = rank(n);
            int[] perm = new int[rank];
            long[] given = n.attribute("perm") instanceof Attribute.Ints p ? p.values() : null;
            for (int d = 0; d < rank; d++) perm[d] = given == null ? rank - 1 - d : (int) (given[d] < 0 ? given[d] + rank : given[d]);
            return perm;
        }

        @Override
        public Strided planned(Node n) {
            int[] perm = perm(n);
            long[] strides = Nodes.strides(Nodes.dims(n.input(0)));
            long[] steps = new long[perm.length];
            for (int d = 0; d < perm.length; d++) steps[d] = strides[perm[d]];
            return new Strided(0, Nodes.dims(n.output(0)), steps);
        }

        @Override
        public void atRunTime(Node n, Emission e) {
            Value x = n.input(0);
            int[] perm = perm(n);
            ShapeCode.longs(e, "y", perm.length);
            for (int d = 0; d < perm.length; d++) e.line("y[" + d + "] = " + e.dim(x, perm[d]) + ";");
            ShapeCode.settle(e, n, n.output(0), "y");
            permuted(e, x, n.output(0), e.dimsArray(x), perm);
        }
    }

    /** kiln_copy_permuted of x viewed with dims {@code view} (a C array) into y. */
    private static void permuted(Emission e, Value x, Value y, String view, int[] perm) {
        StringBuilder p = new StringBuilder("static const int perm[" + Math.max(1, perm.length) + "] = {");
        for (int d = 0; d < perm.length; d++) p.append(d > 0 ? ", " : "").append(perm[d]);
        e.line(p.append(perm.length == 0 ? "0};" : "};").toString());
        e.line("kiln_copy_permuted(" + perm.length + ", " + view + ", perm, " + e.address(x) + ", " + e.address(y) + ", " + ShapeCode.size(x) + ");");
    }

    private static final class Slice implements Walk {
        @Override
        public int[] parameters() { return new int[] {1, 2, 3, 4}; }

        @Override
        public Strided planned(Node n) {
            long[] xs = Nodes.dims(n.input(0));
            long[] starts = Nodes.constantLongs(n, 1);
            long[] ends = Nodes.constantLongs(n, 2);
            long[] axes = Nodes.constantLongs(n, 3);
            long[] stepsIn = Nodes.constantLongs(n, 4);
            long[] begin = new long[xs.length];
            long[] step = new long[xs.length];
            Arrays.fill(step, 1);
            for (int i = 0; i < starts.length; i++) {
                int axis = (int) (axes == null ? i : (axes[i] < 0 ? axes[i] + xs.length : axes[i]));
                long st = stepsIn == null ? 1 : stepsIn[i];
                long d = xs[axis];
                long b = starts[i] < 0 ? starts[i] + d : starts[i];
                b = st > 0 ? Math.max(0, Math.min(b, d)) : Math.max(0, Math.min(b, d - 1));
                begin[axis] = b;
                step[axis] = st;
            }
            long[] ys = Nodes.dims(n.output(0));
            long[] strides = Nodes.strides(xs);
            long base = 0;
            long[] steps = new long[xs.length];
            for (int d = 0; d < xs.length; d++) {
                if (ys[d] == 0) return new Strided(0, ys, steps);
                base += begin[d] * strides[d];
                steps[d] = (ys[d] > 1 ? step[d] : 1) * strides[d];
            }
            return new Strided(base, ys, steps);
        }

        @Override
        public void atRunTime(Node n, Emission e) {
            Value x = n.input(0);
            int rank = rank(n);
            String count = ShapeCode.params(e, n, 1, "starts");
            String ends = ShapeCode.params(e, n, 2, "ends");
            String axes = ShapeCode.present(n, 3) ? ShapeCode.params(e, n, 3, "axes") : "0L";
            String steps = ShapeCode.present(n, 4) ? ShapeCode.params(e, n, 4, "steps") : "0L";
            ShapeCode.longs(e, "y", rank);
            ShapeCode.longs(e, "step", rank);
            e.line("long first;");
            e.check("kiln_slice_plan(" + rank + ", " + e.dimsArray(x) + ", " + count + ", starts, " + ends + ", ends, " + axes + ", "
                    + (ShapeCode.present(n, 3) ? "axes" : "0") + ", " + steps + ", " + (ShapeCode.present(n, 4) ? "steps" : "0")
                    + ", y, &first, step, " + what(n) + ")");
            ShapeCode.settle(e, n, n.output(0), "y");
            ShapeCode.copyRuntime(e, x, "first", n.output(0), rank, "y", "step");
        }
    }

    private static final class Expand implements Walk {
        @Override
        public int[] parameters() { return new int[] {1}; }

        @Override
        public Strided planned(Node n) {
            long[] ys = Nodes.dims(n.output(0));
            return new Strided(0, ys, LoopNest.broadcastStrides(ys, Nodes.dims(n.input(0))));
        }

        @Override
        public void atRunTime(Node n, Emission e) {
            Value x = n.input(0);
            int rank = n.output(0).type().rank();
            String count = ShapeCode.params(e, n, 1, "shape");
            ShapeCode.longs(e, "y", rank);
            ShapeCode.longs(e, "step", rank);
            e.check("kiln_expand_dims(" + x.type().rank() + ", " + e.dimsArray(x) + ", " + count + ", shape, " + rank + ", y, " + what(n) + ")");
            ShapeCode.settle(e, n, n.output(0), "y");
            e.line("kiln_broadcast_strides(" + rank + ", y, " + x.type().rank() + ", " + e.dimsArray(x) + ", step);");
            ShapeCode.copyRuntime(e, x, "0L", n.output(0), rank, "y", "step");
        }
    }

    /** Tile: along each axis, repeats[d] copies of the input's dim d: a walk over {repeats[d], dims[d]} with steps {0, stride[d]}. */
    private static final class Tile implements Walk {
        @Override
        public int[] parameters() { return new int[] {1}; }

        @Override
        public Strided planned(Node n) {
            long[] xs = Nodes.dims(n.input(0));
            long[] repeats = Nodes.constantLongs(n, 1);
            long[] strides = Nodes.strides(xs);
            long[] dims = new long[2 * xs.length];
            long[] steps = new long[2 * xs.length];
            for (int d = 0; d < xs.length; d++) {
                dims[2 * d] = repeats[d];
                dims[2 * d + 1] = xs[d];
                steps[2 * d + 1] = strides[d];
            }
            return new Strided(0, dims, steps);
        }

        @Override
        public void atRunTime(Node n, Emission e) {
            Value x = n.input(0);
            int rank = rank(n);
            String count = ShapeCode.params(e, n, 1, "repeats");
            ShapeCode.longs(e, "y", rank);
            ShapeCode.longs(e, "walk", 2 * rank);
            ShapeCode.longs(e, "step", 2 * rank);
            e.check("kiln_tile_plan(" + rank + ", " + e.dimsArray(x) + ", " + count + ", repeats, y, walk, step, " + what(n) + ")");
            ShapeCode.settle(e, n, n.output(0), "y");
            ShapeCode.copyRuntime(e, x, "0L", n.output(0), 2 * rank, "walk", "step");
        }
    }

    /**
     * DepthToSpace (DCR: x as [n, b, b, c, h, w] to [n, c, h, b, w, b]; CRD: x as [n, c, b, b, h, w] to the same) and
     * SpaceToDepth (x as [n, c, h, b, w, b] to [n, b, b, c, h, w]).
     */
    private static final class Rearrange implements Walk {
        private final boolean toSpace;

        Rearrange(boolean toSpace) { this.toSpace = toSpace; }

        @Override
        public int[] parameters() { return new int[0]; }

        private int[] perm(Node n) {
            if (!toSpace) return new int[] {0, 3, 5, 1, 2, 4};
            return isDcr(n) ? new int[] {0, 3, 4, 1, 5, 2} : new int[] {0, 1, 4, 2, 5, 3};
        }

        /** The 6-D view of the input's dims {n, c, h, w} as C expressions, b the blocksize. */
        private String[] view(Node n, String[] x, long b) {
            if (!toSpace) return new String[] {x[0], x[1], x[2] + " / " + b, b + "L", x[3] + " / " + b, b + "L"};
            String c = x[1] + " / " + b * b;
            return isDcr(n) ? new String[] {x[0], b + "L", b + "L", c, x[2], x[3]} : new String[] {x[0], c, b + "L", b + "L", x[2], x[3]};
        }

        /** The same view of static dims. */
        private long[] view(Node n, long[] x, long b) {
            if (!toSpace) return new long[] {x[0], x[1], x[2] / b, b, x[3] / b, b};
            long c = x[1] / (b * b);
            return isDcr(n) ? new long[] {x[0], b, b, c, x[2], x[3]} : new long[] {x[0], c, b, b, x[2], x[3]};
        }

        private static boolean isDcr(Node n) { return Nodes.stringAttr(n, "mode", "DCR").equals("DCR"); }

        @Override
        public Strided planned(Node n) {
            long[] dims = view(n, Nodes.dims(n.input(0)), Nodes.intAttr(n, "blocksize", 1));
            long[] strides = Nodes.strides(dims);
            int[] perm = perm(n);
            long[] walk = new long[6];
            long[] steps = new long[6];
            for (int d = 0; d < 6; d++) {
                walk[d] = dims[perm[d]];
                steps[d] = strides[perm[d]];
            }
            return new Strided(0, walk, steps);
        }

        @Override
        public void atRunTime(Node n, Emission e) {
            Value x = n.input(0);
            long b = Nodes.intAttr(n, "blocksize", 1);
            String bb = b + "L";
            e.line("long nn = " + e.dim(x, 0) + ", c = " + e.dim(x, 1) + ", h = " + e.dim(x, 2) + ", w = " + e.dim(x, 3) + ";");
            if (toSpace) {
                e.failWhen("c % " + b * b + "L != 0", "node " + n.name() + " (DepthToSpace): channels not divisible by blocksize^2");
            } else {
                e.failWhen("h % " + bb + " != 0 || w % " + bb + " != 0", "node " + n.name() + " (SpaceToDepth): height or width not divisible by blocksize");
            }
            String[] view = view(n, new String[] {"nn", "c", "h", "w"}, b);
            e.line("long view[6] = {" + String.join(", ", view) + "};");
            e.line("long y[4] = {nn, " + (toSpace ? "c / " + b * b + "L, h * " + bb + ", w * " + bb : "c * " + b * b + "L, h / " + bb + ", w / " + bb) + "};");
            ShapeCode.settle(e, n, n.output(0), "y");
            permuted(e, x, n.output(0), "view", perm(n));
        }
    }
}
