package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Graph;
import dev.kiln.ir.GraphEvaluator;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.LayoutRule;
import dev.kiln.ir.ops.OpRegistry;
import dev.kiln.ir.ops.OpSpec;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs the layout-sensitive ops ({@link LayoutRule#SENSITIVE}: convolutions, pooling,
 * normalizations) in the target's activation layout, {@code options().layout()}: NHWC, or NCHW{c}c
 * with channels in blocks of c (8 for AVX2, 16 for AVX-512, 4 for NEON); "NCHW" leaves the graph as
 * it is. Filters that are constants are laid out at compile time (HWIO for NHWC, OIHW{c}i{c}o or,
 * for depthwise filters, OIHW{c}o for blocked layouts). AGNOSTIC ops follow their input's layout,
 * BROADCAST ops and Concat (AXIS) follow when their other operands are in the layout, scalars, or
 * constants that can be laid out, a Resize (RESAMPLE) when it resamples only an image's height and
 * width; a LayoutTransform is inserted only where a value meets an op that needs it plain, or a graph
 * output, so conv -> relu -> conv -> pool chains stay in the layout from the first transform at the
 * input to the one before the classifier head. Graph inputs and outputs keep their layouts.
 *
 * <p>A convolution that reads fewer channels than a block (an image) stays plain. Blocked layouts pad
 * channel counts to a multiple of the block with zeros (filters and per-channel vectors too, a depthwise
 * convolution's groups with them, and a grouped one's when the padding makes whole groups on both sides;
 * other grouped ones stay plain); that padding must stay zero,
 * so an op whose padded output channels the reference evaluator does not compute as zero is
 * followed by a LayoutTransform that zeroes them (none is needed in the CNN fixtures).
 */
public final class ConvertLayout extends Pass {
    private static final Pattern BLOCKED = Pattern.compile("NCHW([1-9][0-9]{0,3})c");

    @Override
    protected Graph run(Graph graph, PassContext ctx) {
        Target target = Target.of(ctx.options().layout());
        if (target == null) return graph;
        boolean sensitive = false;
        for (Node n : graph.nodes()) {
            sensitive |= OpRegistry.contains(n.op()) && OpRegistry.spec(n.op()).layoutRule() == LayoutRule.SENSITIVE;
        }
        return sensitive ? new Conversion(graph, ctx, target, name()).run() : graph;
    }

    /** The activation layout asked for: NHWC (block 0) or NCHW{block}c. */
    record Target(int block) {
        /** The target of a layout option; null for NCHW (nothing to do). */
        static Target of(String option) {
            if (option.equals("NCHW")) return null;
            if (option.equals("NHWC")) return new Target(0);
            Matcher m = BLOCKED.matcher(option);
            if (m.matches() && Integer.parseInt(m.group(1)) > 1) return new Target(Integer.parseInt(m.group(1)));
            throw new IllegalArgumentException("the layout must be NCHW, NHWC or a blocked NCHW{c}c such as NCHW16c, got '" + option + "'");
        }

        boolean blocked() { return block > 0; }

        /** Whether c channels need padding to fill whole blocks. */
        boolean pads(long c) { return blocked() && c % block != 0; }

        long padded(long c) { return blocked() ? (c + block - 1) / block * block : c; }

        /** The activation layout for tensors of this rank (N, C and 1 to 3 spatial dims), else null. */
        Layout activation(int rank) {
            if (rank < 3 || rank > 5) return null;
            return Layout.of(blocked() ? "NC" + spatial(rank) + block + "c" : "N" + spatial(rank) + "C");
        }

        /** The filter layout for filters of this rank: HWIO, or OIHW{c}o blocked on O, and on I too when asked. */
        Layout filter(int rank, boolean blockInput) {
            if (!blocked()) return Layout.of(spatial(rank) + "IO");
            return Layout.of("OI" + spatial(rank) + (blockInput ? block + "i" : "") + block + "o");
        }

        private static String spatial(int rank) { return "DHW".substring(5 - rank); }
    }

    /** One run over one graph: where each value lives in the new graph, by layout. */
    private static final class Conversion {
        /** A reason for leaving a node as it is that is too ordinary to log. */
        private static final String STAYS = "";

        private final Graph source;
        private final PassContext ctx;
        private final Target target;
        private final String pass;
        private final Uses uses;
        private final GraphRewrite rw;
        /** Each old value's new values by layout (ANY: plain), and the layout its producer made it in. */
        private final Map<Value, Map<Layout, Value>> forms = new HashMap<>();
        private final Map<Value, Layout> home = new HashMap<>();

        Conversion(Graph source, PassContext ctx, Target target, String pass) {
            this.source = source;
            this.ctx = ctx;
            this.target = target;
            this.pass = pass;
            this.uses = Uses.of(source);
            this.rw = new GraphRewrite(source);
        }

        Graph run() {
            for (Node n : source.nodes()) {
                String why;
                if (!OpRegistry.contains(n.op())) {
                    why = "unknown op";
                } else {
                    OpSpec spec = OpRegistry.spec(n.op());
                    why = switch (spec.layoutRule()) {
                        case SENSITIVE -> sensitive(n, spec);
                        case AGNOSTIC -> agnostic(n);
                        case BROADCAST -> broadcast(n);
                        case AXIS -> axis(n, spec);
                        case RESAMPLE -> resample(n, spec);
                        case PLAIN -> STAYS;
                    };
                }
                if (why == null) continue;
                if (!why.isEmpty()) ctx.debug(pass + ": leaves " + n.op() + " node @" + n.name() + " in its layout: " + why);
                copy(n);
            }
            for (Value out : source.outputs()) rw.replace(out, form(out, nativeLayout(out)));
            return rw.finish();
        }

        // ---- where values live

        /** The layout a value has in the source graph, ANY when plain (the layout its old readers expect). */
        private static Layout nativeLayout(Value v) {
            Layout l = v.type().layout();
            try {
                return Layouts.isPlain(l) ? Layout.ANY : l;
            } catch (IllegalArgumentException unreadable) {
                return l;
            }
        }

        /** Where the value lives now: the layout its producer made it in (inputs and constants: their own). */
        private Layout home(Value old) { return home.getOrDefault(old, nativeLayout(old)); }

        private void record(Value old, Layout layout, Value now) {
            forms.computeIfAbsent(old, k -> new HashMap<>()).put(layout, now);
            home.put(old, layout);
        }

        /**
         * The old value in the given layout in the new graph: constants laid out now (only the layouts
         * asked for are carried over), others by a LayoutTransform from where they live.
         */
        private Value form(Value old, Layout want) {
            Map<Layout, Value> f = forms.computeIfAbsent(old, k -> new HashMap<>());
            Value v = f.get(want);
            if (v != null) return v;
            Layout from = home(old);
            if (want.equals(from)) v = rw.map(old);
            else if (old instanceof Constant c) v = constantIn(c, from, want);
            else v = transform(form(old, from), from, want, old);
            f.put(want, v);
            return v;
        }

        private Value transform(Value v, Layout from, Layout to, Value old) {
            Map<String, Attribute> attrs = new LinkedHashMap<>();
            attrs.put("src_layout", Attribute.of(named(from, to).name()));
            attrs.put("dst_layout", Attribute.of(named(to, from).name()));
            long c = trueChannels(old);
            int block = Layouts.blockSize(from, 'C');
            if (block > 0 && c > 0 && c % block != 0) attrs.put("channels", Attribute.of(c));
            String hint = old.name() + "_" + (to.isAny() ? "plain" : to.name());
            return rw.add(hint, "LayoutTransform", List.of(v), attrs, List.of(hint)).output(0);
        }

        /** A LayoutTransform onto the same layout that zeroes the channels from {@code channels} on. */
        private Value zeroPadding(Value v, long channels) {
            Layout l = v.type().layout();
            Map<String, Attribute> attrs = Map.of("src_layout", Attribute.of(l.name()), "dst_layout", Attribute.of(l.name()),
                    "channels", Attribute.of(channels));
            return rw.add(v.name() + "_padding", "LayoutTransform", List.of(v), attrs, List.of(v.name() + "_padded")).output(0);
        }

        /** A plain layout goes by the name of the other side's dims (ANY next to NCHW8c is NCHW). */
        private static Layout named(Layout l, Layout other) { return l.isAny() ? Layouts.logical(other) : l; }

        private Constant constantIn(Constant c, Layout from, Layout to) {
            Layout src = named(from, to);
            Layout dst = named(to, from);
            Shape logical = Layouts.logicalShape(c.type().shape(), src);
            DType t = c.type().dtype();
            ByteBuffer data = Layouts.transform(c.data(), t.byteSize(), c.type().shape().sizes(), src, dst, null);
            TensorType type = new TensorType(t, Layouts.physicalShape(logical, dst), to);
            return rw.constant(c.name() + "_" + (to.isAny() ? "plain" : to.name()), type, data);
        }

        /** A channel count known from the source graph (plain, static dim 1), else 0. */
        private static long trueChannels(Value old) {
            Shape s = old.type().shape();
            return nativeLayout(old).isAny() && s.rank() >= 2 && s.dim(1).isStatic() ? s.dim(1).size() : 0;
        }

        private static long staticSize(Dim d) { return d.isStatic() ? d.size() : -1; }

        private static boolean isScalar(Value v) {
            return v.type().shape().isStatic() && v.type().shape().elementCount() == 1;
        }

        private void copy(Node n) {
            for (Value v : n.inputs()) if (v != null) rw.replace(v, form(v, nativeLayout(v)));
            Node c = rw.copy(n);
            for (int i = 0; i < n.outputs().size(); i++) record(n.output(i), nativeLayout(n.output(i)), c.output(i));
        }

        /** Adds the node in a layout; a graph output's name is left to the plain value the output will be. */
        private Node emit(Node n, List<Supplier<Value>> inputs, Map<String, Attribute> attrs, Layout layout) {
            List<Value> ins = new ArrayList<>(inputs.size());
            for (Supplier<Value> s : inputs) ins.add(s.get());
            List<String> names = new ArrayList<>();
            for (Value v : n.outputs()) names.add(uses.isGraphOutput(v) ? v.name() + "_" + layout.name() : v.name());
            return rw.add(n.name(), n.op(), ins, attrs, names);
        }

        /** Records output i of the converted node, zeroing its channel padding when the op does not keep it zero. */
        private void recordOutput(Node old, int i, Node now, boolean keepsZeros) {
            Value v = now.output(i);
            long c = trueChannels(old.output(i));
            if (!keepsZeros) v = zeroPadding(v, c);
            record(old.output(i), v.type().layout(), v);
        }

        // ---- the rules

        private String sensitive(Node n, OpSpec spec) {
            Value x = n.input(0);
            int rank = x.type().rank();
            Layout act = target.activation(rank);
            if (act == null) return "its input has rank " + rank;
            for (Value v : n.inputs()) {
                if (v != null && !nativeLayout(v).isAny()) return "input %" + v.name() + " is already in layout " + v.type().layout();
            }
            for (int i = 1; i < n.outputs().size(); i++) {
                if (!uses.isUnused(n.output(i))) return "its output " + i + " is used";
            }
            Shape ys = n.output(0).type().shape();
            if (ys.rank() != rank) return "its output has rank " + ys.rank();
            long ci = staticSize(x.type().shape().dim(1));
            long co = staticSize(ys.dim(1));
            if (target.blocked() && (ci < 0 || co < 0)) return "its channel counts are not static";
            // A few plain channels (an image's) padded to a whole block would multiply a convolution's work by up to
            // the block size; a backend reads them plain and can still write its output blocked. An op without a
            // filter (pooling, squeeze-excite) likewise stays with a plain input rather than move it into blocks and
            // back. A narrow input already in blocks (a bottleneck's) stays there: two transforms cost more.
            if (target.blocked() && ci < target.block() && home(x).isAny()) {
                return "its " + ci + " input channels are fewer than a block of " + target.block();
            }
            boolean padding = target.pads(ci) || target.pads(co);
            if (padding && !x.type().dtype().isFloatingPoint()) {
                return "padding its channels to blocks of " + target.block() + " would change its " + x.type().dtype() + " data";
            }
            Map<String, Attribute> attrs = new LinkedHashMap<>(n.attributes());
            List<Supplier<Value>> inputs = new ArrayList<>();
            List<Shape> zeros = new ArrayList<>();
            for (int i = 0; i < n.inputs().size(); i++) {
                Value v = n.input(i);
                Shape s = v == null ? null : v.type().shape();
                if (v == null) {
                    inputs.add(() -> null);
                    zeros.add(null);
                } else if (i == 0 || (i != spec.weightInput() && s.rank() == rank)) {
                    if (i > 0 && staticSize(s.dim(1)) != co) return "input " + i + " of shape " + s + " is not shaped like its output";
                    inputs.add(() -> form(v, act));
                    zeros.add(s);
                } else if (i == spec.weightInput()) {
                    if (s.rank() != rank) return "its filter has rank " + s.rank();
                    String why = filter(n, spec, v, ci, co, padding, attrs, inputs);
                    if (why != null) return why;
                    zeros.add(s);
                } else if (s.rank() == 1 && padding && s.dim(0).isStatic() && (s.dim(0).size() == co || s.dim(0).size() == ci)) {
                    long length = target.padded(s.dim(0).size());
                    if (length == s.dim(0).size()) {
                        inputs.add(() -> form(v, Layout.ANY));
                    } else if (v instanceof Constant c) {
                        inputs.add(() -> paddedVector(c, length));
                    } else {
                        return "its per-channel input " + i + " is not a constant and needs padding";
                    }
                    zeros.add(s);
                } else if (isScalar(v) || (s.rank() == 1 && !padding)) {
                    inputs.add(() -> form(v, Layout.ANY));
                    zeros.add(null);
                } else if (v instanceof Constant && s.rank() < rank) {
                    // weights of other shapes (a squeeze-excite's matrices), which the op reads as they are
                    inputs.add(() -> form(v, Layout.ANY));
                    zeros.add(null);
                } else {
                    return "its input " + i + " of shape " + s + " has no place in a layout";
                }
            }
            boolean keepsZeros = !target.pads(co) || keepsZeros(n, zeros);
            Node c = emit(n, inputs, attrs, act);
            recordOutput(n, 0, c, keepsZeros);
            return null;
        }

        /** Plans the filter input: laid out at compile time when constant; padding needs that, and a group it can keep. */
        private String filter(Node n, OpSpec spec, Value w, long ci, long co, boolean padding, Map<String, Attribute> attrs,
                              List<Supplier<Value>> inputs) {
            Shape s = w.type().shape();
            int rank = s.rank();
            boolean constant = w instanceof Constant;
            if (!target.blocked()) {
                Layout hwio = target.filter(rank, false);
                inputs.add(() -> form(w, constant ? hwio : Layout.ANY));
                return null;
            }
            long w0 = staticSize(s.dim(0));
            long w1 = staticSize(s.dim(1));
            Attribute g = spec.attributeOrDefault(n.attributes(), "group");
            long group = g instanceof Attribute.Int i ? i.value() : 1;
            Layout layout;
            if (padding) {
                if (!constant) return "its filter is not a constant and its channels need padding";
                if (group == 1) {
                    layout = target.filter(rank, true);
                } else if (w1 == 1 && group == ci && ci == co) {
                    // Depthwise: one filter per channel, so padding channels pads the groups too.
                    layout = target.filter(rank, false);
                    attrs.put("group", Attribute.of(target.padded(ci)));
                } else if (paddingGroups(group, ci, co) > 0) {
                    // The padding channels make whole groups of their own, with zero filters (its padded rows).
                    layout = target.filter(rank, false);
                    attrs.put("group", Attribute.of(group + paddingGroups(group, ci, co)));
                } else {
                    return "its filter groups cannot be padded to blocks of " + target.block();
                }
            } else if (constant && w0 % target.block() == 0) {
                layout = target.filter(rank, w1 % target.block() == 0);
            } else {
                layout = Layout.ANY;
            }
            inputs.add(() -> form(w, layout));
            return null;
        }

        /**
         * The groups that padding ci input and co output channels to whole blocks adds when it adds the same
         * number of whole groups on both sides; else 0.
         */
        private long paddingGroups(long group, long ci, long co) {
            if (group < 1 || ci % group != 0 || co % group != 0) return 0;
            long in = target.padded(ci) - ci;
            long out = target.padded(co) - co;
            long groupIn = ci / group;
            long groupOut = co / group;
            return in % groupIn == 0 && out % groupOut == 0 && in / groupIn == out / groupOut ? in / groupIn : 0;
        }

        private Constant paddedVector(Constant c, long length) {
            DType t = c.type().dtype();
            ByteBuffer data = ByteBuffer.allocate(Math.toIntExact(length * t.byteSize())).order(ByteOrder.LITTLE_ENDIAN);
            data.put(c.data()).rewind();
            return rw.constant(c.name() + "_padded", TensorType.of(t, length), data);
        }

        private String agnostic(Node n) {
            Value x = n.input(0);
            Layout h = home(x);
            if (h.equals(nativeLayout(x))) return STAYS;
            List<Supplier<Value>> inputs = new ArrayList<>();
            List<Shape> zeros = new ArrayList<>();
            inputs.add(() -> form(x, h));
            zeros.add(ones(x.type().rank()));
            for (int i = 1; i < n.inputs().size(); i++) {
                Value v = n.input(i);
                if (v != null && !isScalar(v)) return "its input " + i + " is not a scalar";
                inputs.add(() -> v == null ? null : form(v, nativeLayout(v)));
                zeros.add(null);
            }
            for (Value out : n.outputs()) {
                if (out.type().rank() != x.type().rank()) return "its output %" + out.name() + " changes rank";
            }
            boolean keepsZeros = !mayBePadded(x, h) || keepsZeros(n, zeros);
            if (!keepsZeros && trueChannels(x) <= 0) return "it may not keep the channel padding of %" + x.name() + " zero";
            Node c = emit(n, inputs, new LinkedHashMap<>(n.attributes()), h);
            for (int i = 0; i < n.outputs().size(); i++) recordOutput(n, i, c, keepsZeros);
            return null;
        }

        /** Whether a value in a blocked layout may carry padding channels. */
        private static boolean mayBePadded(Value old, Layout layout) {
            int block = Layouts.blockSize(layout, 'C');
            long c = trueChannels(old);
            return block > 0 && (c <= 0 || c % block != 0);
        }

        private String broadcast(Node n) {
            if (n.outputs().size() != 1) return STAYS;
            Value y = n.output(0);
            int rank = y.type().rank();
            Layout act = target.activation(rank);
            if (act == null || !nativeLayout(y).isAny()) return STAYS;
            boolean follows = false;
            for (Value v : n.inputs()) follows |= v != null && home(v).equals(act) && nativeLayout(v).isAny();
            if (!follows) return STAYS;
            Shape ys = y.type().shape();
            long co = staticSize(ys.dim(1));
            if (target.blocked() && co < 0) return "its channel count is not static";
            List<Supplier<Value>> inputs = new ArrayList<>();
            List<Shape> zeros = new ArrayList<>();
            for (int i = 0; i < n.inputs().size(); i++) {
                Value v = n.input(i);
                if (v == null) {
                    inputs.add(() -> null);
                    zeros.add(null);
                    continue;
                }
                Shape s = v.type().shape();
                if (!nativeLayout(v).isAny()) return "its input " + i + " is in layout " + v.type().layout();
                if (home(v).equals(act)) {
                    if (s.rank() != rank) return "its input " + i + " has rank " + s.rank();
                    // Blocked lanes hold distinct channels: a one-channel operand would not broadcast over them.
                    if (target.blocked() && staticSize(s.dim(1)) != co) return "its input " + i + " of shape " + s + " broadcasts over channels";
                    inputs.add(() -> form(v, act));
                    zeros.add(ones(rank));
                } else if (isScalar(v) && s.rank() <= rank) {
                    inputs.add(() -> form(v, Layout.ANY));
                    zeros.add(null);
                } else {
                    long[] e = expanded(s, ys);
                    if (e == null) return "its input " + i + " of shape " + s + " does not broadcast along whole dims";
                    if (v instanceof Constant c) {
                        boolean perChannel = e[1] != 1;
                        inputs.add(() -> broadcastConstant(c, e, act));
                        zeros.add(perChannel ? ones(rank) : null);
                    } else {
                        if (!Shape.of(e).equals(ys)) return "its input " + i + " of shape " + s + " is plain and broadcasts";
                        inputs.add(() -> form(v, act));
                        zeros.add(ones(rank));
                    }
                }
            }
            boolean keepsZeros = !target.pads(co) || keepsZeros(n, zeros);
            Node c = emit(n, inputs, new LinkedHashMap<>(n.attributes()), act);
            recordOutput(n, 0, c, keepsZeros);
            return null;
        }

        /** The operand's shape prefixed with ones to the output's rank, when each dim is 1 or the output's (static); else null. */
        private static long[] expanded(Shape s, Shape out) {
            if (!s.isStatic() || s.rank() > out.rank()) return null;
            long[] e = new long[out.rank()];
            int offset = out.rank() - s.rank();
            for (int d = 0; d < e.length; d++) {
                e[d] = d < offset ? 1 : s.dim(d - offset).size();
                if (e[d] != 1 && (!out.dim(d).isStatic() || out.dim(d).size() != e[d])) return null;
            }
            return e;
        }

        /**
         * A constant broadcast operand in the activation layout. One that varies over channels is laid
         * out (padding zero); one that does not keeps its bytes, with a block dim of 1 to broadcast over
         * the lanes.
         */
        private Value broadcastConstant(Constant c, long[] logical, Layout layout) {
            Map<Layout, Value> f = forms.computeIfAbsent(c, k -> new HashMap<>());
            Value known = f.get(layout);
            if (known != null) return known;
            DType t = c.type().dtype();
            Layout plain = Layouts.logical(layout);
            Constant v;
            if (logical[1] != 1) {
                ByteBuffer data = Layouts.transform(c.data(), t.byteSize(), logical, plain, layout, null);
                v = rw.constant(c.name() + "_" + layout.name(), new TensorType(t, Layouts.physicalShape(Shape.of(logical), layout), layout), data);
            } else {
                List<Long> dims = new ArrayList<>();
                for (long d : Layouts.physicalSizes(logical, layout)) dims.add(d);
                if (target.blocked()) dims.set(dims.size() - 1, 1L);
                long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
                v = rw.constant(c.name() + "_" + layout.name(), new TensorType(t, Shape.of(shape), layout), c.data());
            }
            f.put(layout, v);
            return v;
        }

        private String axis(Node n, OpSpec spec) {
            Value y = n.output(0);
            int rank = y.type().rank();
            Layout act = target.activation(rank);
            if (act == null || n.outputs().size() != 1 || !nativeLayout(y).isAny()) return STAYS;
            boolean follows = false;
            for (Value v : n.inputs()) follows |= v != null && home(v).equals(act) && nativeLayout(v).isAny();
            if (!follows) return STAYS;
            if (!(spec.attributeOrDefault(n.attributes(), "axis") instanceof Attribute.Int a)) return "it has no axis";
            long axis = a.value() < 0 ? a.value() + rank : a.value();
            if (axis < 0 || axis >= rank) return STAYS;
            List<Supplier<Value>> inputs = new ArrayList<>();
            for (Value v : n.inputs()) {
                if (v == null) return STAYS;
                if (!nativeLayout(v).isAny() || v.type().rank() != rank) return "its input %" + v.name() + " is not a plain activation";
                long c = staticSize(v.type().shape().dim(1));
                if (axis == 1 && target.blocked() && (c < 0 || target.pads(c))) {
                    return "part %" + v.name() + " has " + v.type().shape().dim(1) + " channels, not whole blocks of " + target.block();
                }
                inputs.add(() -> form(v, act));
            }
            Map<String, Attribute> attrs = new LinkedHashMap<>(n.attributes());
            attrs.put("axis", Attribute.of((long) Layouts.physicalAxis(act, (int) axis)));
            Node c = emit(n, inputs, attrs, act);
            recordOutput(n, 0, c, true);
            return null;
        }

        /**
         * A resample follows its input into the layout when it resamples nothing but the image dims, on the true
         * channels and, where the layout pads them, on the padded ones too (sizes that name the channel count
         * would resample the padding away). Its parameters stay plain.
         */
        private String resample(Node n, OpSpec spec) {
            Value x = n.input(0);
            Layout h = home(x);
            int rank = x.type().rank();
            if (h.equals(nativeLayout(x)) || !h.equals(target.activation(rank)) || n.outputs().size() != 1) return STAYS;
            if (n.output(0).type().rank() != rank) return "its output changes rank";
            if (!spec.resamplesImageOnly(n.inputs(), n.attributes())) return "it resamples more than an image's height and width";
            long c = trueChannels(x);
            if (target.pads(c)) {
                List<Dim> padded = new ArrayList<>(x.type().shape().dims());
                padded.set(1, Dim.of(target.padded(c)));
                List<Value> inputs = new ArrayList<>(n.inputs());
                inputs.set(0, new Graph("padded").addInput(x.name(), new TensorType(x.type().dtype(), new Shape(padded), Layout.ANY)));
                if (!spec.resamplesImageOnly(inputs, n.attributes())) return "its parameters name " + c + " channels, which the layout pads";
            }
            List<Supplier<Value>> inputs = new ArrayList<>();
            List<Shape> zeros = new ArrayList<>();
            inputs.add(() -> form(x, h));
            zeros.add(ones(rank));
            for (int i = 1; i < n.inputs().size(); i++) {
                Value v = n.input(i);
                if (v != null && !nativeLayout(v).isAny()) return "its input " + i + " is in layout " + v.type().layout();
                inputs.add(() -> v == null ? null : form(v, Layout.ANY));
                zeros.add(null);
            }
            boolean keepsZeros = !mayBePadded(x, h) || keepsZeros(n, zeros);
            if (!keepsZeros && c <= 0) return "it may not keep the channel padding of %" + x.name() + " zero";
            Node converted = emit(n, inputs, new LinkedHashMap<>(n.attributes()), h);
            recordOutput(n, 0, converted, keepsZeros);
            return null;
        }

        // ---- keeping padding zero

        private static Shape ones(int rank) {
            long[] dims = new long[rank];
            Arrays.fill(dims, 1);
            return Shape.of(dims);
        }

        /**
         * Whether the node gives zeros where its inputs are zero: the inputs with a shape in
         * {@code zeros} are fed zeros of it, the others (constants) their values. That is what the
         * padding channels of a blocked op see, the filter and per-channel padding being zero too.
         */
        private boolean keepsZeros(Node n, List<Shape> zeros) {
            GraphEvaluator evaluator = ctx.evaluator();
            if (evaluator == null) return false;
            Graph g = new Graph("padding");
            List<Value> ins = new ArrayList<>();
            for (int i = 0; i < n.inputs().size(); i++) {
                Value v = n.input(i);
                Shape s = zeros.get(i);
                DType t = v == null ? null : v.type().dtype();
                if (v == null) {
                    ins.add(null);
                } else if (s != null && !s.isStatic()) {
                    return false;
                } else if (s != null) {
                    ByteBuffer none = ByteBuffer.allocate(Math.toIntExact(s.elementCount() * t.byteSize())).order(ByteOrder.LITTLE_ENDIAN);
                    ins.add(g.addConstant("z" + i, TensorType.of(t, s), none));
                } else if (v instanceof Constant c) {
                    ins.add(g.addConstant("c" + i, TensorType.of(t, c.type().shape()), c.data()));
                } else {
                    return false;
                }
            }
            List<String> names = new ArrayList<>();
            for (int i = 0; i < n.outputs().size(); i++) names.add("y" + i);
            try {
                for (Value out : g.addNode("n", n.op(), ins, n.attributes(), names).outputs()) g.addOutput(out);
                for (Attribute.Tensor out : evaluator.run(g, Map.of()).values()) if (!allZero(out)) return false;
                return true;
            } catch (RuntimeException e) {
                ctx.debug(pass + ": cannot tell whether " + n.op() + " node @" + n.name() + " keeps padding zero: " + e.getMessage());
                return false;
            }
        }

        private static boolean allZero(Attribute.Tensor t) {
            ByteBuffer b = t.data();
            DType d = t.type().dtype();
            int n = Math.toIntExact(t.type().shape().elementCount());
            for (int i = 0; i < n; i++) {
                boolean zero = switch (d) {
                    case F32 -> b.getFloat(i * 4) == 0;
                    case F64 -> b.getDouble(i * 8) == 0;
                    case F16, BF16 -> (b.getShort(i * 2) & 0x7fff) == 0;
                    default -> isZeroBytes(b, i * d.byteSize(), d.byteSize());
                };
                if (!zero) return false;
            }
            return true;
        }

        private static boolean isZeroBytes(ByteBuffer b, int at, int count) {
            for (int k = 0; k < count; k++) if (b.get(at + k) != 0) return false;
            return true;
        }
    }
}
