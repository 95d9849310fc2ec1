package dev.kiln.backends.c;

import dev.kiln.ir.Constant;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.HashMap;
import java.util.Map;

import static dev.kiln.backends.c.Nodes.dims;
import static dev.kiln.backends.c.Nodes.isBlocked;

/**
 * Grouped convolutions (1 < group, not depthwise) between blocked tensors with constant filters, through
 * blocked_group_conv.h. Runs of s groups whose input and output channels fill whole blocks (s = 1 when the
 * groups do) are dense convolutions of their own blocks, the filter zero between a run's groups, by
 * blocked_conv.h's tiles (kiln_gconvb). Where that would multiply by more zeros than weights (s above
 * {@link #MAX_DENSE_GROUPS}: group widths 1, 2, odd ones) or no run fits, each output block gathers the
 * input channels of its lanes' groups into vectors and multiplies them lane by lane (kiln_gconvg). On the
 * group widths of ResNeXt and RegNet (2 to 12 channels, block 16) the dense runs were faster up to s = 4 (a
 * quarter of their multiply-adds real), the gathering from s = 8 on, by about two times either way.
 */
final class GroupedConvolution {
    /** The most groups of a dense run (measured, see the class comment). */
    private static final int MAX_DENSE_GROUPS = 4;
    /** Gathered rows a thread holds at most, in floats: a share of a core's L2 cache. */
    private static final long GATHERED_FLOATS = 64 * 1024;
    /** Work items a gathered convolution aims for, so that two or more threads share it evenly. */
    private static final long GATHERED_ITEMS = 8;
    /** Accumulators a gathered tile needs to hide the multiply-add latency. */
    private static final int LATENCY_ACCUMULATORS = 8;

    /** How one convolution runs. */
    private sealed interface Plan permits Dense, Gathered {}

    /** Runs of {@code groups} groups, each a dense convolution with this tile. */
    private record Dense(long groups, ConvTiling tiling) implements Plan {}

    /** Gathered channels: tiles of j blocks x t positions, items of band output rows, kc channels gathered at a time. */
    private record Gathered(int j, int t, long band, long kc, long wpad) implements Plan {
        long rows(ConvGeometry g) { return Math.min(g.h(), (band - 1) * g.sh() + (g.kh() - 1) * g.dh() + 1); }

        long workspaceFloats(ConvGeometry g, int block) { return j * rows(g) * wpad * kc * block; }
    }

    private final Map<Node, Plan> plans = new HashMap<>();

    /** The filter's logical dims: output channels, input channels of a group, kernel. */
    private static long[] filter(Node n) { return Nodes.logical(n.input(1)); }

    /**
     * Whether a convolution of the fast path is one this class runs: blocked, grouped but not depthwise, its
     * filter a constant whose channels are the input's and the output's (the layout pass pads them with whole
     * groups where it pads channels).
     */
    static boolean takes(Node n) {
        if (!isBlocked(n.input(0)) || !(n.input(1) instanceof Constant)) return false;
        ConvGeometry g = ConvGeometry.of(n);
        long[] w = filter(n);
        return g.group() > 1 && !g.depthwise() && w[0] == g.m() && w[0] % g.group() == 0 && g.group() * w[1] == g.c();
    }

    /** Chooses how the convolution runs and packs its filter for it. */
    void prepare(Node n, Emission e) {
        ConvGeometry g = ConvGeometry.of(n);
        int block = e.block();
        long[] w = filter(n);
        long cin = w[1];
        long cout = w[0] / g.group();
        long run = denseRun(g.group(), cin, cout, block);
        Plan plan;
        if (run > 0) {
            long inBlocks = run * cin / block;
            long outBlocks = run * cout / block;
            ConvTiling tiling = ConvTiling.choose(e.vectorRegisters(), block, block, inBlocks, outBlocks, g.pointwise() ? 1 : g.oh(),
                    g.rowPositions(), g.kh() * g.kw(), g.pointwise() ? 1 : g.sw());
            plan = new Dense(run, tiling);
            long runFloats = outBlocks * block * inBlocks * block * g.kh() * g.kw();
            e.pack(filterKey(n, plan), g.group() / run * runFloats * 4, dst -> packDense(n, run, tiling, block, runFloats, dst.asFloatBuffer()));
        } else {
            plan = gathered(g, e.vectorRegisters(), block, cin);
            e.pack(filterKey(n, plan), g.m() * g.kh() * g.kw() * cin * 4, dst -> packGathered(n, block, dst.asFloatBuffer()));
        }
        plans.put(n, plan);
        e.readsPacked(n, 1);
    }

    boolean runs(Node n) { return plans.containsKey(n); }

    /**
     * The fewest groups, at most {@link #MAX_DENSE_GROUPS}, whose input and output channels fill whole blocks
     * and that divide the groups; 0 when none.
     */
    private static long denseRun(long groups, long cin, long cout, int block) {
        for (long run = 1; run <= MAX_DENSE_GROUPS; run++) {
            if (groups % run == 0 && run * cin % block == 0 && run * cout % block == 0) return run;
        }
        return 0;
    }

    /**
     * The gathered plan: the tile of least estimated cost (multiply-adds, at least {@link #LATENCY_ACCUMULATORS}
     * a tile, plus its weight loads) among those whose accumulators and weights fit the registers; bands of rows
     * that give {@link #GATHERED_ITEMS} items where the blocks alone do not, narrowed (and then the channels
     * gathered at a time) until a band's gathered rows fit {@link #GATHERED_FLOATS}.
     */
    private static Gathered gathered(ConvGeometry g, int registers, int block, long cin) {
        long outBlocks = g.m() / block;
        int bestJ = 1, bestT = 1;
        double best = Double.MAX_VALUE;
        for (int j = 1; j <= Math.min(ConvTiling.MAX_J, outBlocks); j++) {
            for (int t = 1; t <= Math.min(ConvTiling.MAX_T, g.ow()); t++) {
                if (j * t + j + 1 > registers) continue;
                double cost = 0;
                long[] groups = {outBlocks / j, outBlocks % j == 0 ? 0 : 1};
                long[] tiles = {g.ow() / t, g.ow() % t == 0 ? 0 : 1};
                int[] blocks = {j, (int) (outBlocks % j)};
                int[] widths = {t, (int) (g.ow() % t)};
                for (int r = 0; r < 2; r++) {
                    for (int q = 0; q < 2; q++) cost += groups[r] * tiles[q] * (Math.max(blocks[r] * widths[q], LATENCY_ACCUMULATORS) + blocks[r]);
                }
                if (cost < best - 1e-9 || (cost < best + 1e-9 && t > bestT)) {
                    best = cost;
                    bestJ = j;
                    bestT = t;
                }
            }
        }
        long wpad = Math.max(g.pl() + g.w(), (g.ow() - 1) * g.sw() + (g.kw() - 1) * g.dw() + 1);
        long perBand = g.n() * ((outBlocks + bestJ - 1) / bestJ);
        long bands = Math.min(g.oh(), Math.max(1, (GATHERED_ITEMS + perBand - 1) / perBand));
        Gathered plan = new Gathered(bestJ, bestT, (g.oh() + bands - 1) / bands, cin, wpad);
        while (plan.workspaceFloats(g, block) > GATHERED_FLOATS && plan.band() > 1) {
            plan = new Gathered(plan.j(), plan.t(), plan.band() - 1, plan.kc(), wpad);
        }
        while (plan.workspaceFloats(g, block) > GATHERED_FLOATS && plan.kc() > 1) {
            plan = new Gathered(plan.j(), plan.t(), plan.band(), (plan.kc() + 1) / 2, wpad);
        }
        return plan;
    }

    /** The weights blob's key of a packed filter: the same filter packed the same way is shared. */
    private static String filterKey(Node n, Plan plan) {
        String form = plan instanceof Dense d ? "dense/" + d.groups() + "/" + d.tiling().j() : "gathered";
        return "grouped/" + n.input(1).name() + "/" + form;
    }

    /** The filter as plain [output channel][input channel of its group][tap] floats (blocked ones moved back, padding included). */
    private static FloatBuffer plainFilter(Node n) {
        Constant w = (Constant) n.input(1);
        Layout l = w.type().layout();
        ByteBuffer plain = Layouts.isPlain(l) ? w.data() : Layouts.transform(w.data(), 4, dims(w), l, Layouts.logical(l), null);
        return plain.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    }

    /** Each run of groups' filter, zero between its groups, packed for the tile kernel; runs runFloats apart. */
    private static void packDense(Node n, long run, ConvTiling tiling, int block, long runFloats, FloatBuffer dst) {
        FloatBuffer w = plainFilter(n);
        long[] f = filter(n);
        long groups = Nodes.intAttr(n, "group", 1);
        long cin = f[1];
        long cout = f[0] / groups;
        long taps = Nodes.product(f, 2, f.length);
        long m = run * cout;
        long c = run * cin;
        FloatBuffer dense = FloatBuffer.allocate((int) (m * c * taps));
        for (long r = 0; r < groups / run; r++) {
            for (long o = 0; o < m; o++) {
                for (long i = 0; i < c; i++) {
                    for (long tap = 0; tap < taps; tap++) {
                        float v = o / cout == i / cin ? w.get((int) (((r * m + o) * cin + i % cin) * taps + tap)) : 0f;
                        dense.put((int) ((o * c + i) * taps + tap), v);
                    }
                }
            }
            dst.position((int) (r * runFloats));
            tiling.pack(dense, m, c, taps, block, m / block, c / block, dst);
        }
    }

    /** The filter as kiln_gconvg reads it: [output block][tap][input channel of the group][lane]. */
    private static void packGathered(Node n, int block, FloatBuffer dst) {
        FloatBuffer w = plainFilter(n);
        long[] f = filter(n);
        long cin = f[1];
        long taps = Nodes.product(f, 2, f.length);
        for (long o = 0; o < f[0]; o++) {
            for (long tap = 0; tap < taps; tap++) {
                for (long k = 0; k < cin; k++) dst.put((int) (((o / block * taps + tap) * cin + k) * block + o % block), w.get((int) ((o * cin + k) * taps + tap)));
            }
        }
    }

    /** The convolution into its output, its epilogue {@code e} declared. */
    void emit(Node n, Emission e, ConvGeometry g) {
        Plan plan = plans.get(n);
        int block = e.block();
        String x = e.ptr(n.input(0));
        String w = e.packedPtr(filterKey(n, plan));
        String y = e.ptr(n.output(0));
        if (plan instanceof Dense d) {
            ConvTiling t = d.tiling();
            long inBlocks = d.groups() * filter(n)[1] / block;
            long outBlocks = d.groups() * g.m() / g.group() / block;
            boolean flat = g.pointwise();
            e.line("static const kiln_convb_shape s = {1, " + inBlocks + ", " + (flat ? 1 : g.h()) + ", " + (flat ? g.h() * g.w() : g.w()) + ", "
                    + outBlocks + ", " + (flat ? 1 : g.oh()) + ", " + g.rowPositions() + ", " + g.kh() + ", " + g.kw() + ", " + g.sh() + ", "
                    + g.sw() + ", " + g.dh() + ", " + g.dw() + ", " + g.pt() + ", " + g.pl() + "};");
            long runFloats = outBlocks * block * inBlocks * block * g.kh() * g.kw();
            e.line("kiln_gconvb_args a = {{&s, " + x + ", " + w + ", " + y + ", &e, " + t.j() + ", " + t.t() + ", " + t.chunk() + ", "
                    + t.tilesPerItem() + ", {" + t.tileTable(e, outBlocks, g.rowPositions()) + "}}, " + g.n() + ", " + g.group() / d.groups() + ", "
                    + runFloats + "};");
            e.line("kiln_gconvb(&a);");
        } else if (plan instanceof Gathered p) {
            long[] f = filter(n);
            e.line("static const kiln_convb_shape s = {" + g.n() + ", " + g.c() / block + ", " + g.h() + ", " + g.w() + ", " + g.m() / block + ", "
                    + g.oh() + ", " + g.ow() + ", " + g.kh() + ", " + g.kw() + ", " + g.sh() + ", " + g.sw() + ", " + g.dh() + ", " + g.dw() + ", "
                    + g.pt() + ", " + g.pl() + "};");
            int stride = g.sw() == 1 || g.sw() == 2 ? (int) g.sw() : 0;
            long outBlocks = g.m() / block;
            int[] blocks = {p.j(), outBlocks % p.j() == 0 ? p.j() : (int) (outBlocks % p.j())};
            int[] widths = {p.t(), g.ow() % p.t() == 0 ? p.t() : (int) (g.ow() % p.t())};
            StringBuilder tiles = new StringBuilder();
            for (int r = 0; r < 2; r++) {
                tiles.append(r == 0 ? "{" : ", {");
                for (int q = 0; q < 2; q++) {
                    String args = blocks[r] + ", " + widths[q] + ", " + stride;
                    e.global("KILN_GCONVG_TILE(" + args + ")");
                    tiles.append(q == 0 ? "" : ", ").append("kiln_gconvg_").append(args.replace(", ", "_"));
                }
                tiles.append('}');
            }
            long floats = p.workspaceFloats(g, block);
            e.threadWorkspace(floats);
            e.line("kiln_gconvg_args a = {&s, " + f[0] + ", " + f[1] + ", " + f[0] / g.group() + ", " + x + ", " + w + ", " + y + ", &e, " + p.j() + ", "
                    + p.t() + ", " + p.band() + ", " + p.kc() + ", " + g.pl() + ", " + p.wpad() + ", {" + tiles + "}};");
            e.line("kiln_gconvg(&a, " + e.workspace(floats) + ");");
        }
    }
}
