package dev.kiln.backends.c;

import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.passes.MemoryPlan;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.kiln.backends.c.Nodes.count;
import static dev.kiln.backends.c.Nodes.dims;
import static dev.kiln.backends.c.Nodes.isBlocked;
import static dev.kiln.backends.c.Nodes.isBlockedFilter;

/**
 * Convolutions and layout transforms. Blocked NCHW{c}c convolutions with constant, ungrouped filters run as
 * blocked.h's direct convolution with a register tile chosen per convolution ({@link ConvTiling}) and the
 * filter packed for it at compile time; blocked depthwise ones as their own kernel; grouped ones with constant
 * filters as {@link GroupedConvolution}; other blocked ones element at a time. NCHW convolutions run as GEMMs (conv.h, constant weights packed at compile time) or depthwise;
 * an NCHW convolution of an image followed by its transform to the blocked layout is computed by the transform
 * straight into the blocked layout. What these fast paths do not take (other dtypes, more spatial axes), and
 * ConvInteger and CausalConvWithState, {@link GeneralConv} emits.
 */
final class ConvolutionEmitter implements OpEmitter {
    /** Rows of a packed A panel (gemm.h's KILN_PANEL). */
    private static final int PANEL_ROWS = 12;
    /** Kernel widths and strides that blocked_depthwise.h's row kernel is specialised for (dilation 1), by width. */
    private static final Map<Long, Set<Long>> DEPTHWISE_ROWS = Map.of(3L, Set.of(1L, 2L), 5L, Set.of(1L, 2L), 7L, Set.of(1L, 2L));

    /** The tile of each direct blocked convolution. */
    private final Map<Node, ConvTiling> tilings = new HashMap<>();
    /** NCHW convolutions computed by the LayoutTransform that follows them, by transform. */
    private final Map<Node, Node> convOfTransform = new HashMap<>();
    private final GroupedConvolution grouped = new GroupedConvolution();

    @Override
    public Set<String> ops() { return Set.of("Conv", "FusedConv", "ConvInteger", "CausalConvWithState", "LayoutTransform"); }

    @Override
    public List<String> kernels() {
        return List.of("conv.h", "depthwise.h", "blocked_conv.h", "blocked_group_conv.h", "blocked_depthwise.h", "conv_nd.h", "matmul_any.h", "convert.h");
    }

    /** Null when the fast paths or, failing them, {@link GeneralConv} take the node; else why the general path does not. */
    @Override
    public String problem(Node n) {
        if (n.op().equals("LayoutTransform")) return fastProblem(n);
        if (!isConvolution(n) || fastProblem(n) != null) return GeneralConv.problem(n);
        return null;
    }

    /** Whether the fast paths (blocked direct convolutions, conv.h's NCHW GEMM and depthwise kernels) take the node. */
    private static boolean takesFast(Node n) { return isConvolution(n) && fastProblem(n) == null; }

    private static String fastProblem(Node n) {
        if (n.op().equals("LayoutTransform")) {
            for (Value v : List.of(n.input(0), n.output(0))) {
                if (!Emission.isStatic(v)) return " (symbolic shape " + v.type().shape() + ")";
            }
            // blocked channels layouts of any spatial rank
            Layout from = n.input(0).type().layout();
            Layout to = n.output(0).type().layout();
            boolean plainToBlocked = Layouts.isPlain(from) && ComputeBuffers.lanes(to) > 0;
            boolean blockedToPlain = ComputeBuffers.lanes(from) > 0 && Layouts.isPlain(to);
            boolean zeroing = ComputeBuffers.lanes(from) > 0 && from.equals(to);
            if (!plainToBlocked && !blockedToPlain && !zeroing) return " (from " + Nodes.layoutName(from) + " to " + Nodes.layoutName(to) + ")";
            return null;
        }
        String types = Nodes.staticF32(n, i -> i == 1 && isBlockedFilter(n.input(1).type().layout()), true);
        if (types != null) return types;
        Value w = n.input(1);
        TensorType wt = w.type();
        if (wt.dtype() != DType.F32) return " (" + wt.dtype() + ")";
        if (!wt.shape().isStatic()) return " (symbolic shape " + wt.shape() + ")";
        String activation = Epilogue.problem(n);
        if (activation != null) return activation;
        int spatial = Nodes.logical(n.input(0)).length - 2;
        if (spatial != 1 && spatial != 2) return " (" + spatial + "-D)";
        if (isBlocked(n.input(0)) != isBlocked(n.output(0))) return " (input and output in different layouts)";
        return null;
    }

    static boolean isConvolution(Node n) { return n.op().equals("Conv") || n.op().equals("FusedConv"); }

    /**
     * Chooses the tile of every direct blocked convolution, finds the NCHW convolutions that the LayoutTransform
     * right after them computes into the blocked layout (those reading few channels, an image, which the layout
     * pass leaves plain rather than pad to a block), and packs the filters of both and of the GEMM convolutions.
     */
    @Override
    public void prepare(Graph graph, Emission e) {
        Map<Value, Integer> readers = new HashMap<>();
        for (Node n : graph.nodes()) for (Value v : n.inputs()) if (v != null) readers.merge(v, 1, Integer::sum);
        List<Node> nodes = graph.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            Node n = nodes.get(i);
            if (n.op().equals("LayoutTransform") && i > 0 && computesConv(graph, e, n, nodes.get(i - 1), readers)) {
                Node conv = nodes.get(i - 1);
                convOfTransform.put(n, conv);
                tilings.put(conv, tiling(e, conv, 1));
            } else if (takesFast(n) && isBlocked(n.input(0)) && n.input(1) instanceof Constant && ConvGeometry.of(n).group() == 1) {
                tilings.put(n, tiling(e, n, e.block()));
            } else if (takesFast(n) && GroupedConvolution.takes(n)) {
                grouped.prepare(n, e);
            }
        }
        for (Node n : nodes) {
            if (isConvolution(n) && !takesFast(n) && !Layouts.isPlain(n.input(1).type().layout())) {
                ComputeBuffers.packPlain(e, n, 1, n.output(0).type().dtype() == DType.F64 ? "double" : "float");
            } else if (tilings.containsKey(n)) {
                e.pack(filterKey(n), tiledFilterFloats(e, n) * 4, dst -> packTiledFilter(e, n, dst.asFloatBuffer()));
                e.readsPacked(n, 1);
                if (paddedBias(e, n) != null) {
                    FloatBuffer bias = ((Constant) n.input(2)).data().duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
                    long length = outBlocks(ConvGeometry.of(n), e.block()) * e.block();
                    e.pack(paddedBias(e, n), length * 4, dst -> {
                        FloatBuffer f = dst.asFloatBuffer();
                        for (int i = 0; i < length; i++) f.put(i, i < bias.limit() ? bias.get(i) : 0f);
                    });
                    e.readsPacked(n, 2);
                }
            } else if (isGemmConv(n) && n.input(1) instanceof Constant w) {
                e.pack("gemm/" + w.name(), packedConvWeightFloats(n) * 4, dst -> packConvWeights(n, dst.asFloatBuffer()));
                e.readsPacked(n, 1);
            }
        }
    }

    private ConvTiling tiling(Emission e, Node conv, int inBlock) {
        ConvGeometry g = ConvGeometry.of(conv);
        int block = e.block();
        long inBlocks = inBlock == 1 ? g.c() : g.c() / block;
        return ConvTiling.choose(e.vectorRegisters(), block, inBlock, inBlocks, outBlocks(g, block), g.pointwise() ? 1 : g.oh(), g.rowPositions(),
                g.kh() * g.kw(), g.pointwise() ? 1 : g.sw());
    }

    /**
     * Whether the LayoutTransform t (NCHW to NCHW{c}c, whole blocks) can compute the convolution before it:
     * t reads only its output, it has constant weights, no group and no residual, and t's output does not
     * overlap the convolution's input (which t reads in its place).
     */
    private static boolean computesConv(Graph graph, Emission e, Node t, Node conv, Map<Value, Integer> readers) {
        int block = e.block();
        if (block == 0 || !takesFast(conv) || t.input(0) != conv.output(0) || readers.get(conv.output(0)) != 1
                || graph.outputs().contains(conv.output(0)) || !isBlocked(t.output(0)) || isBlocked(conv.input(0))) return false;
        if (!(conv.input(1) instanceof Constant w) || !Layouts.isPlain(w.type().layout())) return false;
        if (conv.inputs().size() > 3 && conv.input(3) != null) return false;
        ConvGeometry g = ConvGeometry.of(conv);
        long channels = Nodes.intAttr(t, "channels", 0);
        if (g.group() != 1 || (channels != 0 && channels != g.m())) return false;
        // output channels padded to a whole block: zero filters and (constant) biases there, and an activation that keeps 0
        boolean constantBias = conv.inputs().size() < 3 || conv.input(2) == null || conv.input(2) instanceof Constant;
        if (g.m() % block != 0 && (!Epilogue.keepsZero(conv) || !constantBias)) return false;
        MemoryPlan.Slot in = e.plan().slot(conv.input(0).name());
        MemoryPlan.Slot out = e.plan().slot(t.output(0).name());
        return in == null || out == null || in.offset() + in.bytes() <= out.offset() || out.offset() + out.bytes() <= in.offset();
    }

    /** Output channel blocks: the output channels in whole blocks, the last padded (an NCHW convolution's output blocked). */
    private static long outBlocks(ConvGeometry g, int block) { return (g.m() + block - 1) / block; }

    /**
     * The weights blob's key of the bias padded with zeros to whole output blocks, for a convolution whose output
     * channels a layout transform computes into a partial last block; null when there is none to pad.
     */
    private String paddedBias(Emission e, Node conv) {
        long m = ConvGeometry.of(conv).m();
        boolean biased = conv.inputs().size() > 2 && conv.input(2) instanceof Constant;
        return convOfTransform.containsValue(conv) && biased && m % e.block() != 0 ? "bias-padded/" + conv.input(2).name() : null;
    }

    /** The weights blob's key of a tiled convolution's packed filter: the same filter packed for the same tile is shared. */
    private String filterKey(Node conv) {
        ConvTiling t = tilings.get(conv);
        return "tiled/" + conv.input(1).name() + "/" + t.inBlock() + "/" + t.j();
    }

    /** Floats of a tiled convolution's packed filter: output blocks x input blocks x taps x in-block x block. */
    private long tiledFilterFloats(Emission e, Node conv) {
        ConvGeometry g = ConvGeometry.of(conv);
        int block = e.block();
        long inChannels = tilings.get(conv).inBlock() == 1 ? g.c() : g.c() / block * block;
        return outBlocks(g, block) * block * inChannels * g.kh() * g.kw();
    }

    /** The filter as plain OIHW (blocked filters moved back, their padding included), packed for the convolution's tile. */
    private void packTiledFilter(Emission e, Node conv, FloatBuffer dst) {
        Constant w = (Constant) conv.input(1);
        Layout l = w.type().layout();
        ByteBuffer plain = Layouts.isPlain(l) ? w.data() : Layouts.transform(w.data(), 4, dims(w), l, Layouts.logical(l), null).order(ByteOrder.LITTLE_ENDIAN);
        ConvGeometry g = ConvGeometry.of(conv);
        ConvTiling t = tilings.get(conv);
        int block = e.block();
        long inBlocks = t.inBlock() == 1 ? g.c() : g.c() / block;
        t.pack(plain.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer(), g.m(), g.c(), g.kh() * g.kw(), block, outBlocks(g, block), inBlocks, dst);
    }

    /**
     * An f32 Conv or FusedConv that runs as GEMMs: an NCHW one of the fast path (every one but the depthwise ones
     * and those a layout transform computes), or one of the general path with more than two spatial axes.
     */
    private boolean isGemmConv(Node n) {
        if (!takesFast(n)) {
            return isConvolution(n) && n.output(0).type().dtype() == DType.F32 && Nodes.logical(n.input(0)).length > 4
                    && Layouts.isPlain(n.input(1).type().layout());
        }
        if (isBlocked(n.input(0)) || tilings.containsKey(n)) return false;
        long group = Nodes.intAttr(n, "group", 1);
        return !(group == dims(n.input(0))[1] && group == dims(n.output(0))[1]);
    }

    /** Floats of a GEMM convolution's packed weights: per group roundup(m / group, 12) * k (gemm.h's packed A). */
    private static long packedConvWeightFloats(Node n) {
        long[] ws = dims(n.input(1));
        long group = Nodes.intAttr(n, "group", 1);
        long mg = ws[0] / group;
        long k = count(n.input(1)) / ws[0];
        return group * ((mg + PANEL_ROWS - 1) / PANEL_ROWS * PANEL_ROWS) * k;
    }

    /**
     * Writes a convolution's weights [m, k] (k = c / group x kernel) as gemm.h's packed A, group after group:
     * panel p of a group holds W(p * 12 + r, k) at [(p * k_total + k) * 12 + r], zero past the group's rows.
     */
    private static void packConvWeights(Node n, FloatBuffer dst) {
        long[] ws = dims(n.input(1));
        long group = Nodes.intAttr(n, "group", 1);
        int mg = (int) (ws[0] / group);
        int k = (int) (count(n.input(1)) / ws[0]);
        FloatBuffer src = ((Constant) n.input(1)).data().asFloatBuffer();
        int panels = (mg + PANEL_ROWS - 1) / PANEL_ROWS;
        for (int g = 0; g < group; g++) {
            for (int p = 0; p < panels; p++) {
                for (int kk = 0; kk < k; kk++) {
                    for (int r = 0; r < PANEL_ROWS; r++) {
                        int row = p * PANEL_ROWS + r;
                        float v = row < mg ? src.get((g * mg + row) * k + kk) : 0f;
                        dst.put(((g * panels + p) * k + kk) * PANEL_ROWS + r, v);
                    }
                }
            }
        }
    }

    @Override
    public void emit(Node n, Emission e) {
        if (n.op().equals("LayoutTransform")) {
            emitLayoutTransform(n, e);
        } else if (convOfTransform.containsValue(n)) {
            e.line("/* computed by the layout transform that follows */");
        } else if (takesFast(n)) {
            emitConv(n, e);
        } else {
            GeneralConv.emit(n, e, isConvolution(n) ? packedWeights(n, e) : null);
        }
    }

    /** The GEMM-packed weights of a convolution, or null when they are not packed. */
    private static String packedWeights(Node n, Emission e) {
        Value w = n.input(1);
        return w instanceof Constant && e.hasPacked("gemm/" + w.name()) ? e.packedPtr("gemm/" + w.name()) : null;
    }

    private void emitConv(Node n, Emission e) {
        ConvGeometry g = ConvGeometry.of(n);
        Epilogue.declare(e, n, 1, 1, Epilogue.optional(e, n, 2), 1, 0, Epilogue.optional(e, n, 3), g.oh() * g.ow());
        if (tilings.containsKey(n)) {
            emitTiledConv(n, e, g, e.ptr(n.output(0)));
        } else if (grouped.runs(n)) {
            grouped.emit(n, e, g);
        } else if (isBlocked(n.input(0))) {
            emitBlockedConv(n, e, g);
        } else {
            // constant weights come packed in the weights blob, often without their unpacked copy
            String packed = g.depthwise() ? null : packedWeights(n, e);
            emitPlainConv(e, g, e.ptr(n.input(0)), packed != null ? "0" : e.ptr(n.input(1)), packed, e.ptr(n.output(0)));
        }
    }

    /**
     * An NCHW convolution of float* x (its epilogue e declared) through conv.h: depthwise, or GEMMs with the
     * weights w ("0" when packed) or packed (null when not).
     */
    static void emitPlainConv(Emission e, ConvGeometry g, String x, String w, String packed, String y) {
        e.line("static const kiln_conv_shape s = {" + g.n() + ", " + g.c() + ", " + g.h() + ", " + g.w() + ", " + g.m() + ", " + g.oh() + ", "
                + g.ow() + ", " + g.kh() + ", " + g.kw() + ", " + g.sh() + ", " + g.sw() + ", " + g.dh() + ", " + g.dw() + ", " + g.pt() + ", "
                + g.pl() + ", " + g.group() + "};");
        if (g.depthwise()) {
            // depthwise.h's padded copy of a plane, and what its last vector loads reach past it (kiln_dwp_workspace)
            long floats = ((g.oh() - 1) * g.sh() + (g.kh() - 1) * g.dh() + 1) * ((g.ow() - 1) * g.sw() + (g.kw() - 1) * g.dw() + 1)
                    + 16 * Math.max(2, g.sw());
            String ws = e.workspace(floats);
            e.threadWorkspace(floats);
            e.line("kiln_conv_depthwise(&s, " + x + ", " + w + ", " + y + ", &e, " + ws + ");");
        } else {
            String ws = e.workspace(Emission.GEMM_WORKSPACE_FLOATS);
            e.threadWorkspace(Emission.GEMM_WORKSPACE_FLOATS);
            e.line("kiln_conv(&s, " + x + ", " + w + ", " + (packed != null ? packed : "0") + ", " + y + ", &e, " + ws + ");");
        }
    }

    /**
     * The direct convolution of blocked_conv.h with the node's tile (its epilogue e declared), into {@code y}:
     * the node's own output, or the blocked output of the LayoutTransform that computes an NCHW convolution.
     */
    private void emitTiledConv(Node n, Emission e, ConvGeometry g, String y) {
        ConvTiling tiling = tilings.get(n);
        int block = e.block();
        long inBlocks = tiling.inBlock() == 1 ? g.c() : g.c() / block;
        long outBlocks = outBlocks(g, block);
        boolean flat = g.pointwise();
        e.line("static const kiln_convb_shape s = {" + g.n() + ", " + inBlocks + ", " + (flat ? 1 : g.h()) + ", " + (flat ? g.h() * g.w() : g.w()) + ", "
                + outBlocks + ", " + (flat ? 1 : g.oh()) + ", " + g.rowPositions() + ", " + g.kh() + ", " + g.kw() + ", " + g.sh() + ", " + g.sw() + ", "
                + g.dh() + ", " + g.dw() + ", " + g.pt() + ", " + g.pl() + "};");
        int[] groupBlocks = {tiling.j(), outBlocks % tiling.j() == 0 ? tiling.j() : (int) (outBlocks % tiling.j())};
        int[] widths = {tiling.t(), g.rowPositions() % tiling.t() == 0 ? tiling.t() : (int) (g.rowPositions() % tiling.t())};
        StringBuilder tiles = new StringBuilder();
        for (int r = 0; r < 2; r++) {
            tiles.append(r == 0 ? "{" : ", {");
            for (int q = 0; q < 2; q++) {
                e.global(tiling.tileDefinition(groupBlocks[r], widths[q]));
                tiles.append(q == 0 ? "" : ", ").append(tiling.tileName(groupBlocks[r], widths[q]));
            }
            tiles.append('}');
        }
        e.line("kiln_convb_args a = {&s, " + e.ptr(n.input(0)) + ", " + e.packedPtr(filterKey(n)) + ", " + y + ", &e, "
                + tiling.j() + ", " + tiling.t() + ", " + tiling.chunk() + ", " + tiling.tilesPerItem() + ", {" + tiles + "}, " + tiling.inBlock() + ", 0};");
        e.line("kiln_convb(&a);");
    }

    /** A blocked convolution without a tile: depthwise with its OIHW{c}o filter, else the element-at-a-time kernel. */
    private static void emitBlockedConv(Node n, Emission e, ConvGeometry g) {
        int block = e.block();
        Value w = n.input(1);
        Layout wl = w.type().layout();
        e.line("static const kiln_convb_shape s = {" + g.n() + ", " + g.c() / block + ", " + g.h() + ", " + g.w() + ", " + g.m() / block + ", " + g.oh() + ", "
                + g.ow() + ", " + g.kh() + ", " + g.kw() + ", " + g.sh() + ", " + g.sw() + ", " + g.dh() + ", " + g.dw() + ", " + g.pt() + ", " + g.pl() + "};");
        boolean inputBlocked = Layouts.blockSize(wl, 'I') > 0;
        if (g.depthwise() && isBlockedFilter(wl) && !inputBlocked) {
            long[] row = depthwiseRow(g);
            e.global("KILN_DWB_ROW(" + row[0] + ", " + row[1] + ")");
            e.line("kiln_dwb_args a = {&s, " + e.ptr(n.input(0)) + ", " + e.ptr(w) + ", " + e.ptr(n.output(0)) + ", &e, kiln_dwb_row_"
                    + row[0] + "_" + row[1] + "};");
            e.line("kiln_dwb(&a);");
        } else {
            int form = Layouts.isPlain(wl) ? 0 : inputBlocked ? 2 : 1;
            e.line("kiln_convb_any_args a = {&s, " + g.group() + ", " + form + ", " + e.ptr(n.input(0)) + ", " + e.ptr(w) + ", " + e.ptr(n.output(0)) + ", &e};");
            e.line("kiln_convb_any(&a);");
        }
    }

    /** The row kernel of a blocked depthwise convolution: {kernel width, stride} when specialised for them, else {0, 0}. */
    private static long[] depthwiseRow(ConvGeometry g) {
        boolean specialised = g.dw() == 1 && DEPTHWISE_ROWS.getOrDefault(g.kw(), Set.of()).contains(g.sw());
        return specialised ? new long[] {g.kw(), g.sw()} : new long[] {0, 0};
    }

    /**
     * A layout transform of a dtype other than f32 (blocked.h's transforms move floats), its elements copied as
     * they are stored, padding channels (from {@code channels}, or past the plain side's) zero.
     */
    private static void emitElementTransform(Node n, Emission e) {
        Value x = n.input(0);
        Value y = n.output(0);
        boolean toBlocked = ComputeBuffers.lanes(y.type().layout()) > 0;
        Value blocked = toBlocked ? y : x;
        long lanes = ComputeBuffers.lanes(blocked.type().layout());
        long[] b = dims(blocked);
        long size = b[0] * b[1] == 0 ? 0 : count(blocked) / (b[0] * b[1] * lanes);
        long channels = Nodes.intAttr(n, "channels", 0);
        String at = "((i * " + b[1] + "L + k) * " + size + "L + s) * " + lanes + "L + l";
        e.open("for (long i = 0; i < " + b[0] + "L; i++) for (long k = 0; k < " + b[1] + "L; k++) for (long s = 0; s < " + size + "L; s++) "
                + "for (long l = 0; l < " + lanes + "L; l++) {");
        e.line("long ch = k * " + lanes + "L + l;");
        if (ComputeBuffers.lanes(x.type().layout()) > 0 && toBlocked) {
            long valid = channels > 0 ? channels : b[1] * lanes;
            e.line(e.ptr(y) + "[" + at + "] = ch < " + valid + "L ? " + e.ptr(x) + "[" + at + "] : 0;");
        } else {
            long plain = dims(toBlocked ? x : y)[1];
            long valid = channels > 0 ? Math.min(channels, plain) : plain;
            String element = "(i * " + plain + "L + ch) * " + size + "L + s";
            if (toBlocked) e.line(e.ptr(y) + "[" + at + "] = ch < " + valid + "L ? " + e.ptr(x) + "[" + element + "] : 0;");
            else e.line("if (ch < " + plain + "L) " + e.ptr(y) + "[" + element + "] = " + e.ptr(x) + "[" + at + "];");
        }
        e.close("}");
    }

    /** NC... to NC...{c}c (padding zero), back (padding dropped), or zeroing a blocked tensor's padding; any spatial rank. */
    private void emitLayoutTransform(Node n, Emission e) {
        Node conv = convOfTransform.get(n);
        if (conv != null) {
            String padded = paddedBias(e, conv);
            Epilogue.declare(e, conv, 1, 1, padded != null ? e.packedPtr(padded) : Epilogue.optional(e, conv, 2), 1, 0, null, 0);
            emitTiledConv(conv, e, ConvGeometry.of(conv), e.ptr(n.output(0)));
            return;
        }
        Value x = n.input(0);
        Value y = n.output(0);
        if (x.type().dtype() != DType.F32) {
            emitElementTransform(n, e);
            return;
        }
        int block = ComputeBuffers.lanes(x.type().layout());
        long channels = Nodes.intAttr(n, "channels", 0);
        String args = ", " + e.ptr(x) + ", " + e.ptr(y) + ");";
        if (block > 0 && ComputeBuffers.lanes(y.type().layout()) > 0) {
            long[] xs = dims(x);
            e.line("kiln_zero_blocked_padding(" + xs[0] + "L, " + channels + "L, " + xs[1] + "L, " + count(x) / (xs[0] * xs[1] * block) + "L" + args);
        } else if (block == 0) {
            long[] xs = dims(x);
            long[] ys = dims(y);
            long valid = channels > 0 ? Math.min(channels, xs[1]) : xs[1];
            e.line("kiln_to_blocked(" + xs[0] + "L, " + xs[1] + "L, " + valid + "L, " + ys[1] + "L, " + count(x) / (xs[0] * xs[1]) + "L" + args);
        } else {
            long[] xs = dims(x);
            long[] ys = dims(y);
            e.line("kiln_from_blocked(" + ys[0] + "L, " + ys[1] + "L, " + xs[1] + "L, " + count(y) / (ys[0] * ys[1]) + "L" + args);
        }
    }
}
