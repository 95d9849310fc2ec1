package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static dev.kiln.backends.c.Nodes.dims;

/**
 * The Reduce ops over any set of axes (a constant or run-time axes input, keepdims, noop_with_empty_axes), in
 * the interpreter's arithmetic: floats, and L2, LogSum and LogSumExp of every dtype, in double; integer sums,
 * products and means in 64 bits wrapping like a Java long; Max and Min in the element type, NaN winning. Each
 * output element is one accumulator over its reduced elements (output elements in row-major order). For static
 * shapes and axes the loops are literal, neighbouring kept (or reduced) dims merged; otherwise the kept and
 * reduced extents of every dim are worked out at run time (a kept dim has reduced extent 1 and the other way
 * round), which also gives the output dims.
 */
final class ReductionEmitter implements OpEmitter {
    private enum Kind { SUM, MEAN, MAX, MIN, PROD, L1, L2, LOG_SUM, LOG_SUM_EXP, SUM_SQUARE }

    private static final Map<String, Kind> KINDS = Map.of("ReduceSum", Kind.SUM, "ReduceMean", Kind.MEAN, "ReduceMax", Kind.MAX,
            "ReduceMin", Kind.MIN, "ReduceProd", Kind.PROD, "ReduceL1", Kind.L1, "ReduceL2", Kind.L2, "ReduceLogSum", Kind.LOG_SUM,
            "ReduceLogSumExp", Kind.LOG_SUM_EXP, "ReduceSumSquare", Kind.SUM_SQUARE);

    @Override
    public Set<String> ops() { return KINDS.keySet(); }

    @Override
    public List<String> kernels() { return List.of(); }

    @Override
    public String problem(Node n) { return Nodes.plainLayouts(n); }

    @Override
    public void emit(Node n, Emission e) {
        Value x = n.input(0);
        Value y = n.output(0);
        Value axesInput = n.input(1);
        boolean noop = Nodes.intAttr(n, "noop_with_empty_axes", 0) != 0;
        long[] axes = axesInput == null ? new long[0] : Nodes.constantLongs(n, 1);
        Fold fold = fold(KINDS.get(n.op()), x.type().dtype());
        e.line("const " + CTypes.storage(x.type().dtype()) + "* xs = " + e.ptr(x) + ";");
        if (axes != null && Emission.isStatic(x)) {
            e.line(CTypes.storage(y.type().dtype()) + "* ys = " + e.ptr(y) + ";");
            emitStatic(e, fold, dims(x), reducedFlags(axes, x.type().rank(), noop));
        } else {
            emitRunTime(n, e, fold, axes, noop);
        }
    }

    /** Which dims the (constant) axes reduce: none for empty axes with noop_with_empty_axes, all for other empty axes. */
    private static boolean[] reducedFlags(long[] axes, int rank, boolean noop) {
        boolean[] reduced = new boolean[rank];
        if (axes.length == 0) Arrays.fill(reduced, !noop);
        for (long a : axes) reduced[(int) (a < 0 ? a + rank : a)] = true;
        return reduced;
    }

    /** Static dims and axes: the kept dims' loops, then the reduced dims', each run of neighbouring dims one loop. */
    private static void emitStatic(Emission e, Fold fold, long[] dims, boolean[] reduced) {
        long[] strides = Nodes.strides(dims);
        List<long[]> kept = new ArrayList<>(); // {size, stride}
        List<long[]> over = new ArrayList<>();
        long count = 1;
        for (int d = 0; d < dims.length; d++) {
            if (reduced[d]) count *= dims[d];
            if (dims[d] == 1) continue;
            List<long[]> group = reduced[d] ? over : kept;
            long[] last = group.isEmpty() ? null : group.get(group.size() - 1);
            if (last != null && last[1] == dims[d] * strides[d]) {
                last[0] *= dims[d];
                last[1] = strides[d];
            } else {
                group.add(new long[] {dims[d], strides[d]});
            }
        }
        List<String[]> keptLoops = new ArrayList<>();
        for (long[] g : kept) keptLoops.add(new String[] {g[0] + "L", g[1] + "L"});
        List<String[]> overLoops = new ArrayList<>();
        for (long[] g : over) overLoops.add(new String[] {g[0] + "L", g[1] + "L"});
        emitLoops(e, fold, keptLoops, overLoops, count + "L", true);
    }

    /**
     * Dims or axes known only at run time: each dim's kept extent (ks) and reduced extent (rs), one of them 1,
     * from the axes (checked against the rank, each at most once); the output dims follow from them.
     */
    private static void emitRunTime(Node n, Emission e, Fold fold, long[] axes, boolean noop) {
        Value x = n.input(0);
        Value y = n.output(0);
        int rank = x.type().rank();
        int size = Math.max(1, rank);
        e.line("const long dm[" + size + "] = " + ReductionCode.dimsInitialiser(e, x) + ";");
        e.line("long st[" + size + "], ks[" + size + "], rs[" + size + "], count = 1, stride = 1;");
        e.line("unsigned char red[" + size + "] = {0};");
        if (axes != null) {
            boolean[] reduced = reducedFlags(axes, rank, noop);
            for (int d = 0; d < rank; d++) if (reduced[d]) e.line("red[" + d + "] = 1;");
        } else {
            Value axesInput = n.input(1);
            e.line("const long na = " + e.count(axesInput) + ";");
            e.open("for (long j = 0; j < na; j++) {");
            e.line("long a = (long) " + e.ptr(axesInput) + "[j];");
            e.line("if (a < 0) a += " + rank + ";");
            e.failWhen("a < 0 || a >= " + rank, n.op() + " node " + n.name() + ": an axis is outside the input's rank " + rank);
            e.failWhen("red[a]", n.op() + " node " + n.name() + ": an axis is given more than once");
            e.line("red[a] = 1;");
            e.close("}");
            if (!noop) e.line("if (na == 0) memset(red, 1, sizeof red);");
        }
        e.open("for (int d = " + (rank - 1) + "; d >= 0; d--) {");
        e.line("st[d] = stride;");
        e.line("stride *= dm[d];");
        e.line("ks[d] = red[d] ? 1 : dm[d];");
        e.line("rs[d] = red[d] ? dm[d] : 1;");
        e.line("count *= rs[d];");
        e.close("}");
        if (!Emission.isStatic(y)) {
            String yd = e.dimsArray(y);
            if (Nodes.intAttr(n, "keepdims", 1) != 0) {
                e.line("for (int d = 0; d < " + rank + "; d++) " + yd + "[d] = ks[d];");
            } else {
                e.line("int r = 0;");
                e.line("for (int d = 0; d < " + rank + "; d++) if (!red[d]) " + yd + "[r++] = dm[d];");
            }
            e.allocate(y);
        }
        e.line(CTypes.storage(y.type().dtype()) + "* ys = " + e.ptr(y) + ";");
        List<String[]> keptLoops = new ArrayList<>();
        List<String[]> overLoops = new ArrayList<>();
        for (int d = 0; d < rank; d++) {
            keptLoops.add(new String[] {"ks[" + d + "]", "st[" + d + "]"});
            overLoops.add(new String[] {"rs[" + d + "]", "st[" + d + "]"});
        }
        emitLoops(e, fold, keptLoops, overLoops, "count", false);
    }

    /** Partial accumulators of a contiguous reduced run (lanes the compiler vectorises), and outputs accumulated together. */
    private static final int LANES = 16;

    /**
     * Loops over the kept extents {size, stride}; in each, the fold over the reduced ones; outputs in order. With
     * {@code specialise} (static extents, literal sizes) a contiguous innermost reduced run is folded in
     * {@link #LANES} partial accumulators merged at the end, and a contiguous innermost kept run is folded
     * {@link #LANES} outputs at a time, so that the innermost loop steps through memory and vectorises.
     */
    private static void emitLoops(Emission e, Fold fold, List<String[]> kept, List<String[]> over, String count, boolean specialise) {
        String[] innerOver = over.isEmpty() ? null : over.get(over.size() - 1);
        String[] innerKept = kept.isEmpty() ? null : kept.get(kept.size() - 1);
        boolean lanes = specialise && innerOver != null && innerOver[1].equals("1L")
                && Long.parseLong(innerOver[0].replace("L", "")) >= 2 * LANES;
        boolean block = specialise && !lanes && innerOver != null && innerKept != null && innerKept[1].equals("1L");
        int outerKept = block ? kept.size() - 1 : kept.size();
        e.line("long out = 0;");
        String base = "0L";
        for (int g = 0; g < outerKept; g++) {
            e.open("for (long k" + g + " = 0; k" + g + " < " + kept.get(g)[0] + "; k" + g + "++) {");
            e.line("const long b" + g + " = " + (g == 0 ? "" : "b" + (g - 1) + " + ") + "k" + g + " * " + kept.get(g)[1] + ";");
            base = "b" + g;
        }
        if (block) {
            e.open("for (long kb = 0; kb < " + innerKept[0] + "; kb += " + LANES + ") {");
            e.line("const long w = " + innerKept[0] + " - kb < " + LANES + " ? " + innerKept[0] + " - kb : " + LANES + ";");
            e.line("const long bb = " + base + " + kb;");
            for (Pass p : fold.passes()) e.line(fold.type() + " " + p.name() + "[" + LANES + "];");
            for (Pass p : fold.passes()) e.line("for (long j = 0; j < " + LANES + "; j++) " + p.name() + "[j] = " + p.init() + ";");
            for (Pass p : fold.passes()) {
                e.open("{");
                String at = openReduced(e, over, over.size(), "bb");
                e.open("for (long j = 0; j < w; j++) {");
                e.line("const " + fold.element() + " v = " + fold.load().replace("$", "xs[" + at + " + j]") + ";");
                e.line(bind(p.step(), name -> name + "[j]"));
                e.close("}");
                for (int g = 0; g < over.size(); g++) e.close("}");
                e.close("}");
            }
            e.line("for (long j = 0; j < w; j++) ys[out + j] = " + bind(fold.result(), name -> name + "[j]").replace("$count", count) + ";");
            e.line("out += w;");
            e.close("}");
        } else {
            if (outerKept == 0) e.open("{");
            for (Pass p : fold.passes()) e.line(fold.type() + " " + p.name() + " = " + p.init() + ";");
            for (Pass p : fold.passes()) {
                e.open("{");
                if (lanes) {
                    e.line(fold.type() + " lane[" + LANES + "];");
                    e.line("for (int l = 0; l < " + LANES + "; l++) lane[l] = " + p.init() + ";");
                }
                String at = openReduced(e, over, lanes ? over.size() - 1 : over.size(), base);
                if (lanes) {
                    e.line("long r = 0;");
                    e.open("for (; r + " + LANES + " <= " + innerOver[0] + "; r += " + LANES + ") {");
                    e.open("for (int l = 0; l < " + LANES + "; l++) {");
                    e.line("const " + fold.element() + " v = " + fold.load().replace("$", "xs[" + at + " + r + l]") + ";");
                    e.line(bind(p.step(), name -> name.equals(p.name()) ? "lane[l]" : name));
                    e.close("}");
                    e.close("}");
                    e.open("for (; r < " + innerOver[0] + "; r++) {");
                    at += " + r";
                }
                e.line("const " + fold.element() + " v = " + fold.load().replace("$", "xs[" + at + "]") + ";");
                e.line(bind(p.step(), name -> name));
                for (int g = 0; g < over.size(); g++) e.close("}");
                if (lanes) e.line("for (int l = 0; l < " + LANES + "; l++) " + bind(p.merge(), name -> name).replace("$lane", "lane[l]"));
                e.close("}");
            }
            e.line("ys[out++] = " + bind(fold.result(), name -> name).replace("$count", count) + ";");
            for (int g = 0; g < Math.max(1, outerKept); g++) e.close("}");
        }
        for (int g = 0; g < outerKept && block; g++) e.close("}");
    }

    /** Opens the first {@code loops} reduced loops from {@code base}; returns the C expression of the element offset inside them. */
    private static String openReduced(Emission e, List<String[]> over, int loops, String base) {
        String at = base;
        for (int g = 0; g < loops; g++) {
            e.open("for (long r" + g + " = 0; r" + g + " < " + over.get(g)[0] + "; r" + g + "++) {");
            e.line("const long p" + g + " = " + at + " + r" + g + " * " + over.get(g)[1] + ";");
            at = "p" + g;
        }
        return at;
    }

    /** A template with each accumulator {@code @name} replaced by the expression {@code as} gives for it. */
    private static String bind(String template, UnaryOperator<String> as) {
        return ACCUMULATOR.matcher(template).replaceAll(m -> Matcher.quoteReplacement(as.apply(m.group(1))));
    }

    private static final Pattern ACCUMULATOR = Pattern.compile("@(\\w+)");

    /**
     * One pass over the reduced elements: its accumulator (a name and its initial value), the statement folding
     * the element v into it, and the statement merging a partial accumulator {@code $lane} into it. In the
     * statements (and a fold's result) {@code @name} is the accumulator of that name.
     */
    private record Pass(String name, String init, String step, String merge) {
        static Pass sum(String step, String init) { return new Pass("acc", init, step, "@acc += $lane;"); }

        /** Max and min: NaN wins and stays (a NaN accumulator compares false with everything). */
        static Pass extreme(String name, String init, String better, boolean nanWins) {
            String nan = nanWins ? " || isnan(%s)" : "";
            return new Pass(name, init, "if (v " + better + " @" + name + nan.formatted("v") + ") @" + name + " = v;",
                    "if ($lane " + better + " @" + name + nan.formatted("$lane") + ") @" + name + " = $lane;");
        }
    }

    /**
     * The C of one reduction: the accumulators' type, the type and load ($ is the stored element) of the element v,
     * the passes over the reduced elements, and the stored result ($count: the number of reduced elements).
     */
    private record Fold(String type, String element, String load, List<Pass> passes, String result) {}

    private static Fold fold(Kind kind, DType t) {
        String storage = CTypes.storage(t);
        boolean viaDouble = t.isFloatingPoint() || kind == Kind.L2 || kind == Kind.LOG_SUM || kind == Kind.LOG_SUM_EXP;
        if (viaDouble) {
            String load = Elements.asDouble(t, "$");
            List<Pass> sum = List.of(Pass.sum("@acc += v;", "0.0"));
            String acc = Elements.fromDouble(t, "@acc");
            return switch (kind) {
                case SUM -> new Fold("double", "double", load, sum, acc);
                case MEAN -> new Fold("double", "double", load, sum, Elements.fromDouble(t, "@acc / (double) $count"));
                case PROD -> new Fold("double", "double", load, List.of(new Pass("acc", "1.0", "@acc *= v;", "@acc *= $lane;")), acc);
                case L1 -> new Fold("double", "double", load, List.of(Pass.sum("@acc += fabs(v);", "0.0")), acc);
                case L2 -> new Fold("double", "double", load, List.of(Pass.sum("@acc += v * v;", "0.0")), Elements.fromDouble(t, "sqrt(@acc)"));
                case SUM_SQUARE -> new Fold("double", "double", load, List.of(Pass.sum("@acc += v * v;", "0.0")), acc);
                case LOG_SUM -> new Fold("double", "double", load, sum, Elements.fromDouble(t, "log(@acc)"));
                case MAX -> new Fold("double", "double", load, List.of(Pass.extreme("acc", "-INFINITY", ">", true)), acc);
                case MIN -> new Fold("double", "double", load, List.of(Pass.extreme("acc", "INFINITY", "<", true)), acc);
                // shifted by the maximum so that exp cannot overflow; an infinite or NaN maximum is the result
                case LOG_SUM_EXP -> new Fold("double", "double", load,
                        List.of(Pass.extreme("mx", "-INFINITY", ">", true), Pass.sum("@acc += exp(v - @mx);", "0.0")),
                        Elements.fromDouble(t, "isinf(@mx) || isnan(@mx) ? @mx : @mx + log(@acc)"));
            };
        }
        if (kind == Kind.MAX || kind == Kind.MIN) {
            boolean max = kind == Kind.MAX;
            return new Fold(storage, storage, "$", List.of(Pass.extreme("acc", max ? lowest(t) : highest(t), max ? ">" : "<", false)), "@acc");
        }
        // 64-bit unsigned arithmetic: the wrapping of a Java long without signed overflow
        String load = "(uint64_t) $";
        List<Pass> sum = List.of(Pass.sum("@acc += v;", "0"));
        String narrow = "(" + storage + ") @acc";
        return switch (kind) {
            case SUM -> new Fold("uint64_t", "uint64_t", load, sum, narrow);
            case MEAN -> new Fold("uint64_t", "uint64_t", load, sum, t == DType.U64
                    ? "$count ? @acc / (uint64_t) $count : 0"
                    : "$count ? (" + storage + ") ((int64_t) @acc / $count) : 0");
            case PROD -> new Fold("uint64_t", "uint64_t", load, List.of(new Pass("acc", "1", "@acc *= v;", "@acc *= $lane;")), narrow);
            case L1 -> new Fold("uint64_t", storage, "$", List.of(Pass.sum(t.isUnsignedInteger() ? "@acc += v;" : "@acc += v < 0 ? 0 - (uint64_t) v : (uint64_t) v;", "0")), narrow);
            case SUM_SQUARE -> new Fold("uint64_t", "uint64_t", load, List.of(Pass.sum("@acc += v * v;", "0")), narrow);
            default -> throw new IllegalStateException(kind + " of " + t + " is computed in double");
        };
    }

    /** The smallest value of an integer dtype or bool (ReduceMax of no elements). */
    private static String lowest(DType t) {
        return switch (t) {
            case I8 -> "INT8_MIN";
            case I16 -> "INT16_MIN";
            case I32 -> "INT32_MIN";
            case I64 -> "INT64_MIN";
            default -> "0";
        };
    }

    /** The largest value of an integer dtype or bool (ReduceMin of no elements). */
    private static String highest(DType t) {
        return switch (t) {
            case I8 -> "INT8_MAX";
            case U8 -> "UINT8_MAX";
            case I16 -> "INT16_MAX";
            case U16 -> "UINT16_MAX";
            case I32 -> "INT32_MAX";
            case U32 -> "UINT32_MAX";
            case I64 -> "INT64_MAX";
            case U64 -> "UINT64_MAX";
            case BOOL -> "1";
            default -> throw new IllegalArgumentException("no integer range for " + t);
        };
    }
}
