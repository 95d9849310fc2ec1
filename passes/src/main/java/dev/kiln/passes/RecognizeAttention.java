package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.passes.Recognition.Match;
import dev.kiln.passes.Recognition.Result;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Recognises scaled dot-product attention around a Softmax over the last axis:
 * <pre>
 *   scores = MatMul(Q [* or / c], Kt [* or / c]) [* or / c]
 *   y      = MatMul(Softmax(scores [+ mask], axis = -1), V)
 * </pre>
 * with Q, Kt and V of the same rank, 3-D (batch, sequence, head size) or 4-D (batch, heads,
 * sequence, head size), and equal leading dimensions. It becomes the ONNX Attention op with the
 * product of the positive constant factors as its {@code scale} and the mask as {@code attn_mask}. The mask
 * may also come as {@code Where(masked, -inf, scores)} (masked_fill of the keys masked out, as causal decoders
 * write it) or {@code Where(attended, scores, -inf)}: a bool attn_mask of the keys attended to. A constant mask
 * that is exactly the causal limit (query i attends to keys 0 to i) becomes {@code is_causal} instead.
 * K is Kt with its last two axes swapped: when Kt is a Transpose read by nothing else, the two
 * permutations merge into one (none when they cancel).
 * <p>
 * 3-D operands (PyTorch's MultiheadAttention folds the heads into the batch: [batch * heads, S, d])
 * map onto Attention's 3-D form with one head, which is exactly a batched attention per leading
 * index; a 3-D mask gains a heads axis of 1 so that it still lines up with the batch. The mask must
 * cover every key (Attention treats missing key columns as masked out, where Add would broadcast).
 * <p>
 * Attention gives a zero row where a mask excludes every key; the decomposed form gave NaN there.
 */
public final class RecognizeAttention extends Pass {

    @Override
    protected Graph run(Graph graph, PassContext ctx) {
        return Recognition.rewrite(this, graph, ctx, Map.of("Softmax", RecognizeAttention::recognize));
    }

    /** The pieces of one recognised attention, for the builder. */
    private record Parts(Value q, Value k, long[] keyPerm, Value v, Value mask, boolean maskedWhereTrue, boolean causal, double scale, int rank) {}

    /** A product of constant factors peeled off a value: the value underneath, the factor, and the node reading the value. */
    private record Scaled(Value value, double factor, Node reader) {}

    private static Result recognize(Node softmax, Uses uses) {
        Value logits = softmax.input(0);
        int rank = logits.type().rank();
        if (rank != 3 && rank != 4) return Recognition.miss("its input is " + rank + "-D; attention scores are 3-D or 4-D");
        long axis = softmax.attribute("axis") instanceof Attribute.Int i ? i.value() : -1;
        if (axis != -1 && axis != rank - 1) return Recognition.miss("it is not over the last axis");
        Node output = Recognition.consumer(uses, softmax.output(0), "MatMul");
        if (output == null || output.input(0) != softmax.output(0) || output.input(1) == softmax.output(0)) {
            return Recognition.miss("it is not followed by a MatMul with the values");
        }
        Set<Node> nodes = new LinkedHashSet<>(List.of(softmax, output));

        Value scores = logits;
        Value mask = null;
        boolean maskedWhereTrue = false;
        Node add = Recognition.producer(logits, "Add");
        Node where = Recognition.producer(logits, "Where");
        if (where != null) {
            // Where(masked, -inf, scores) or Where(attended, scores, -inf): a bool mask, attending where it is false or true
            int kept = isMinusInfinity(where.input(1)) ? 2 : isMinusInfinity(where.input(2)) ? 1 : 0;
            if (kept == 0) return Recognition.miss("its input is a Where that fills with something other than -inf");
            scores = where.input(kept);
            mask = where.input(0);
            maskedWhereTrue = kept == 2;
            if (!scores.type().equals(logits.type())) return Recognition.miss("the mask " + mask.type() + " enlarges the scores " + scores.type());
            nodes.add(where);
        } else if (add != null) {
            for (int i = 0; i < 2 && mask == null; i++) {
                Scaled candidate = peelScale(add.input(i), add, new LinkedHashSet<>(), null);
                if (Recognition.producer(candidate.value(), "MatMul") != null) {
                    scores = add.input(i);
                    mask = add.input(1 - i);
                }
            }
            if (mask == null) return Recognition.miss("its input is an Add but neither operand is a MatMul of queries and keys");
            if (!scores.type().equals(logits.type())) return Recognition.miss("the mask " + mask.type() + " enlarges the scores " + scores.type());
            nodes.add(add);
        }
        Scaled scaledScores = peelScale(scores, null, nodes, null);
        Node qk = Recognition.producer(scaledScores.value(), "MatMul");
        if (qk == null) return Recognition.miss("its input is not a (scaled) MatMul of queries and keys");
        nodes.add(qk);

        Scaled q = peelScale(qk.input(0), qk, nodes, uses);
        Scaled kt = peelScale(qk.input(1), qk, nodes, uses);
        Value v = output.input(1);
        String shapes = checkShapes(q.value(), kt.value(), v, rank);
        if (shapes != null) return Recognition.miss(shapes);
        Value keySource = kt.value();
        long[] keyPerm = swapLastTwo(identity(rank));
        double factor = scaledScores.factor() * q.factor() * kt.factor();
        Node transpose = Recognition.producer(kt.value(), "Transpose");
        if (transpose != null && uses.onlyFeeds(kt.value(), kt.reader())) {
            nodes.add(transpose);
            long[] perm = transpose.attribute("perm") instanceof Attribute.Ints p ? p.values() : reverse(rank);
            keyPerm = swapLastTwo(perm);
            Scaled k = peelScale(transpose.input(0), transpose, nodes, uses);
            keySource = k.value();
            factor *= k.factor();
        }
        if (!(factor > 0) || Double.isInfinite(factor)) return Recognition.miss("the scale " + factor + " is not positive and finite");
        if (mask != null) {
            String problem = checkMask(mask, kt.value(), rank);
            if (problem != null) return Recognition.miss(problem);
        }
        boolean causal = mask != null && isCausal(mask, maskedWhereTrue, logits);
        Parts parts = new Parts(q.value(), keySource, keyPerm, v, causal ? null : mask, maskedWhereTrue, causal, factor, rank);
        return new Match(output, nodes, rw -> build(rw, nodes, output, parts));
    }

    private static Value build(GraphRewrite rw, Set<Node> nodes, Node root, Parts p) {
        Value k = rw.map(p.k());
        if (!isIdentity(p.keyPerm())) {
            k = rw.add(Recognition.nodeName(nodes, "KeyTranspose"), "Transpose", List.of(k),
                    Map.of("perm", Attribute.of(p.keyPerm())), List.of(Recognition.nodeName(nodes, "key"))).output(0);
        }
        List<Value> inputs = new ArrayList<>(List.of(rw.map(p.q()), k, rw.map(p.v())));
        if (p.mask() != null) inputs.add(attnMask(rw, nodes, p.mask(), p.maskedWhereTrue(), p.rank() == 3 && p.mask().type().rank() == 3));
        Map<String, Attribute> attrs = new LinkedHashMap<>();
        attrs.put("scale", Attribute.of((float) p.scale()));
        if (p.causal()) attrs.put("is_causal", Attribute.of(1L));
        if (p.rank() == 3) {
            attrs.put("q_num_heads", Attribute.of(1L));
            attrs.put("kv_num_heads", Attribute.of(1L));
        }
        return Recognition.addReplacement(rw, nodes, root, "Attention", inputs, attrs);
    }

    /**
     * Whether a constant mask (bool, masking out where true with {@code maskedWhereTrue}, else attending; or f32,
     * 0 where attended and -inf where masked out) is exactly the causal limit over the scores' last two dims:
     * query i attends to keys 0 to i, as Attention's is_causal has it.
     */
    private static boolean isCausal(Value mask, boolean maskedWhereTrue, Value scores) {
        if (!(mask instanceof Constant c) || !c.type().shape().isStatic() || c.type().rank() < 2) return false;
        DType t = c.type().dtype();
        if (t != DType.BOOL && t != DType.F32) return false;
        long[] dims = c.type().shape().sizes();
        int rank = dims.length;
        Shape scoreShape = scores.type().shape();
        int scoreRank = scoreShape.rank();
        if (!scoreShape.dim(scoreRank - 2).equals(Dim.of(dims[rank - 2])) || !scoreShape.dim(scoreRank - 1).equals(Dim.of(dims[rank - 1]))) return false;
        ByteBuffer data = c.data().order(ByteOrder.LITTLE_ENDIAN);
        long queries = dims[rank - 2];
        long keys = dims[rank - 1];
        long count = c.type().shape().elementCount();
        for (long e = 0; e < count; e++) {
            long j = e % keys;
            long i = e / keys % queries;
            boolean attended;
            if (t == DType.BOOL) {
                attended = (data.get(data.position() + (int) e) != 0) != maskedWhereTrue;
            } else {
                float x = data.getFloat(data.position() + (int) e * 4);
                if (x != 0 && x != Float.NEGATIVE_INFINITY) return false;
                attended = x == 0;
            }
            if (attended != (j <= i)) return false;
        }
        return true;
    }

    /** Whether v is a one-element floating-point constant -inf. */
    private static boolean isMinusInfinity(Value v) {
        Double x = Recognition.scalar(v);
        return x != null && v.type().dtype().isFloatingPoint() && x == Double.NEGATIVE_INFINITY;
    }

    /**
     * The attn_mask of a mask: the keys attended to where a bool mask marks those masked out (a constant's
     * negation, else a Not), and a [batch, q, k] mask as [batch, 1, q, k] with {@code headAxis} (a constant
     * reshaped, sharing the bytes when not negated, else an Unsqueeze).
     */
    private static Value attnMask(GraphRewrite rw, Set<Node> nodes, Value mask, boolean negate, boolean headAxis) {
        if (mask instanceof Constant c) {
            if (!negate && !headAxis) return rw.map(c);
            TensorType type = headAxis ? withHeadAxis(c.type()) : c.type();
            ByteBuffer data = c.data();
            if (negate) {
                ByteBuffer attended = ByteBuffer.allocate(data.remaining());
                for (int i = 0; i < data.remaining(); i++) attended.put(i, (byte) (data.get(data.position() + i) == 0 ? 1 : 0));
                data = attended;
            }
            return rw.constant(negate ? c.name() + "_attended" : c.name(), type, data);
        }
        Value m = rw.map(mask);
        if (negate) m = rw.add(Recognition.nodeName(nodes, "MaskNot"), "Not", List.of(m), Map.of(), List.of(Recognition.nodeName(nodes, "attended"))).output(0);
        if (!headAxis) return m;
        ByteBuffer axes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(1).flip();
        Value axesValue = rw.constant("mask_axes", TensorType.of(DType.I64, 1), axes);
        return rw.add(Recognition.nodeName(nodes, "MaskUnsqueeze"), "Unsqueeze", List.of(m, axesValue), Map.of(),
                List.of(Recognition.nodeName(nodes, "mask"))).output(0);
    }

    /** A [batch, q, k] type as [batch, 1, q, k]. */
    private static TensorType withHeadAxis(TensorType t) {
        List<Dim> dims = new ArrayList<>(t.shape().dims());
        dims.add(1, Dim.of(1));
        return t.withShape(new Shape(dims));
    }

    /**
     * Peels Muls by constant scalars and Divs by them that keep the shape off v (read by
     * {@code reader}), adding their nodes to {@code nodes}. With {@code uses}, peels only nodes
     * whose output nothing else reads (they are optional to the pattern); without, peels every one
     * (they are on the pattern's path, and the match is checked for outside uses afterwards).
     */
    private static Scaled peelScale(Value v, Node reader, Set<Node> nodes, Uses uses) {
        double factor = 1;
        while (true) {
            Node p = v.producer();
            if (p == null || (!p.op().equals("Mul") && !p.op().equals("Div"))) break;
            if (uses != null && !uses.onlyFeeds(v, reader)) break;
            Value next = null;
            double c = 0;
            for (int i = 0; i < 2 && next == null; i++) {
                if (p.op().equals("Div") && i == 0) continue;
                Double s = Recognition.scalar(p.input(i));
                Value other = p.input(1 - i);
                if (s != null && p.input(i).type().dtype().isFloatingPoint() && other.type().equals(p.output(0).type())) {
                    next = other;
                    c = p.op().equals("Div") ? 1 / s : s;
                }
            }
            if (next == null) break;
            nodes.add(p);
            factor *= c;
            reader = p;
            v = next;
        }
        return new Scaled(v, factor, reader);
    }

    /** Why Q, Kt and V do not make one attention, or null when they do. */
    private static String checkShapes(Value q, Value kt, Value v, int rank) {
        for (Value x : List.of(q, kt, v)) {
            if (x.type().rank() != rank) return "Q, K and V are not all " + rank + "-D: " + q.type() + ", " + kt.type() + ", " + v.type();
            if (!x.type().dtype().isFloatingPoint()) return "Q, K and V are not floating-point: " + x.type();
        }
        List<Dim> lead = q.type().shape().dims().subList(0, rank - 2);
        if (!kt.type().shape().dims().subList(0, rank - 2).equals(lead) || !v.type().shape().dims().subList(0, rank - 2).equals(lead)) {
            return "Q, K and V differ in their leading dimensions: " + q.type() + ", " + kt.type() + ", " + v.type();
        }
        if (rank == 3 && !(q.type().shape().dim(2).isStatic() && v.type().shape().dim(2).isStatic())) {
            return "3-D attention needs static head sizes: " + q.type() + ", " + v.type();
        }
        return null;
    }

    /** Why the mask cannot be Attention's attn_mask, or null when it can. */
    private static String checkMask(Value mask, Value kt, int rank) {
        Shape m = mask.type().shape();
        if (m.rank() < 1) return "the mask " + mask.type() + " is a scalar";
        Dim keys = kt.type().shape().dim(rank - 1);
        if (!m.dim(m.rank() - 1).equals(keys)) return "the mask " + mask.type() + " does not cover each of the " + keys + " keys";
        return null;
    }

    private static long[] identity(int rank) {
        long[] p = new long[rank];
        for (int i = 0; i < rank; i++) p[i] = i;
        return p;
    }

    private static long[] reverse(int rank) {
        long[] p = new long[rank];
        for (int i = 0; i < rank; i++) p[i] = rank - 1 - i;
        return p;
    }

    private static long[] swapLastTwo(long[] perm) {
        long[] p = perm.clone();
        int n = p.length;
        p[n - 1] = perm[n - 2];
        p[n - 2] = perm[n - 1];
        return p;
    }

    private static boolean isIdentity(long[] perm) {
        for (int i = 0; i < perm.length; i++) if (perm[i] != i) return false;
        return true;
    }
}
