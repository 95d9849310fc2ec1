package dev.kiln.ir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Reading layout names and moving tensors between layouts.
 *
 * <p>A layout names the physical dims of a tensor, outermost first. An uppercase letter is a whole
 * dim, or the outer part of a blocked one; a number and a lowercase letter is an inner block of that
 * many of the dim of the same letter: NCHW8c stores C as C/8 outer blocks (after N) and 8 channels
 * innermost. A blocked dim is padded with zeros up to a multiple of its block, so a shape of
 * {@code [1,3,224,224]} is {@code [1,1,224,224,8]} in NCHW8c.
 *
 * <p>The logical order of a layout is its uppercase letters sorted N, C, O, I, D, H, W: NHWC and
 * NCHW8c hold NCHW tensors, HWIO and OIHW8i8o hold OIHW filters (O and I name a filter's first and
 * second dims). A layout in its logical order with no blocks is plain, as is {@link Layout#ANY}:
 * plain tensors are row-major in the order ops define.
 */
public final class Layouts {
    private static final String LOGICAL_ORDER = "NCOIDHW";

    private Layouts() {}

    /**
     * A parsed layout. Per physical dim: its letter (uppercase) and block size (0 for a whole dim or
     * an outer part). Per logical dim: the physical dim of its outer part, of its block (-1: none),
     * and its block size (0: none).
     */
    private record Form(String logical, char[] letter, int[] block, int[] outerAt, int[] innerAt, int[] blockOf) {
        int physicalRank() { return letter.length; }

        int logicalRank() { return logical.length(); }
    }

    private static Form parse(Layout layout) {
        if (layout.isAny()) throw new IllegalArgumentException("the empty layout has no dims");
        String name = layout.name();
        List<Character> letters = new ArrayList<>();
        List<Integer> blocks = new ArrayList<>();
        for (int i = 0; i < name.length(); ) {
            char ch = name.charAt(i);
            if (Character.isUpperCase(ch)) {
                letters.add(ch);
                blocks.add(0);
                i++;
                continue;
            }
            int j = i;
            while (j < name.length() && Character.isDigit(name.charAt(j))) j++;
            if (j == i || j == name.length() || !Character.isLowerCase(name.charAt(j))) {
                throw new IllegalArgumentException("layout " + name + ": expected a block such as 8c at position " + i);
            }
            int size = Integer.parseInt(name.substring(i, j));
            if (size < 1) throw new IllegalArgumentException("layout " + name + ": block size must be positive");
            letters.add(Character.toUpperCase(name.charAt(j)));
            blocks.add(size);
            i = j + 1;
        }
        StringBuilder logical = new StringBuilder();
        for (int d = 0; d < letters.size(); d++) {
            char ch = letters.get(d);
            if (LOGICAL_ORDER.indexOf(ch) < 0) throw new IllegalArgumentException("layout " + name + ": unknown dim " + ch);
            if (blocks.get(d) == 0) {
                if (logical.indexOf(String.valueOf(ch)) >= 0) throw new IllegalArgumentException("layout " + name + " names " + ch + " twice");
                logical.append(ch);
            }
        }
        String order = sortByLogicalOrder(logical.toString());
        int n = order.length();
        int[] outerAt = new int[n];
        int[] innerAt = new int[n];
        int[] blockOf = new int[n];
        Arrays.fill(innerAt, -1);
        char[] letter = new char[letters.size()];
        int[] block = new int[letters.size()];
        for (int d = 0; d < letter.length; d++) {
            letter[d] = letters.get(d);
            block[d] = blocks.get(d);
            int slot = order.indexOf(letter[d]);
            if (slot < 0) throw new IllegalArgumentException("layout " + name + " blocks " + letter[d] + " but has no dim " + letter[d]);
            if (block[d] == 0) {
                outerAt[slot] = d;
            } else {
                if (innerAt[slot] >= 0) throw new IllegalArgumentException("layout " + name + " blocks " + letter[d] + " twice");
                innerAt[slot] = d;
                blockOf[slot] = block[d];
            }
        }
        return new Form(order, letter, block, outerAt, innerAt, blockOf);
    }

    private static String sortByLogicalOrder(String letters) {
        StringBuilder b = new StringBuilder();
        for (char ch : LOGICAL_ORDER.toCharArray()) if (letters.indexOf(ch) >= 0) b.append(ch);
        return b.toString();
    }

    /** Fails with a message naming the problem when the layout cannot be read. */
    public static void check(Layout layout) { parse(layout); }

    /** Whether tensors in this layout are row-major in logical order: ANY, NCHW, OIHW, NC ... */
    public static boolean isPlain(Layout layout) {
        if (layout.isAny()) return true;
        Form f = parse(layout);
        return f.logical().equals(layout.name());
    }

    /** Whether the layout splits a dim into blocks. */
    public static boolean isBlocked(Layout layout) {
        if (layout.isAny()) return false;
        for (int b : parse(layout).blockOf()) if (b != 0) return true;
        return false;
    }

    /** The plain layout of the same dims: NCHW for NHWC and NCHW8c, OIHW for HWIO; ANY stays ANY. */
    public static Layout logical(Layout layout) {
        return layout.isAny() ? Layout.ANY : Layout.of(parse(layout).logical());
    }

    /** The number of logical dims of a layout (4 for NCHW8c). */
    public static int logicalRank(Layout layout) { return parse(layout).logicalRank(); }

    /** The block size of a dim (8 for C in NCHW8c); 0 when the dim is whole or absent. */
    public static int blockSize(Layout layout, char dim) {
        if (layout.isAny()) return 0;
        Form f = parse(layout);
        int slot = f.logical().indexOf(dim);
        return slot < 0 ? 0 : f.blockOf()[slot];
    }

    /** The physical dim holding logical dim {@code axis} (its outer part when blocked): 3 for C in NHWC. */
    public static int physicalAxis(Layout layout, int axis) {
        if (layout.isAny()) return axis;
        return parse(layout).outerAt()[axis];
    }

    /**
     * The logical shape, in logical order, of a tensor with this physical shape; blocked dims count
     * their padding. A block dim of size 1 under an outer dim of size 1 is a broadcast operand's
     * single value (a logical size of 1).
     */
    public static Shape logicalShape(Shape physical, Layout layout) {
        if (layout.isAny()) return physical;
        Form f = parse(layout);
        requireRank(f, physical.rank(), layout);
        List<Dim> out = new ArrayList<>(f.logicalRank());
        for (int s = 0; s < f.logicalRank(); s++) {
            Dim outer = physical.dim(f.outerAt()[s]);
            if (f.innerAt()[s] < 0) {
                out.add(outer);
                continue;
            }
            Dim inner = physical.dim(f.innerAt()[s]);
            if (!outer.isStatic() || !inner.isStatic()) {
                throw new IllegalArgumentException("blocked dim " + f.logical().charAt(s) + " of shape " + physical + " in " + layout + " must be static");
            }
            out.add(Dim.of(logicalSize(f, s, outer.size(), inner.size(), layout, physical.toString())));
        }
        return new Shape(out);
    }

    public static long[] logicalSizes(long[] physical, Layout layout) {
        return logicalShape(Shape.of(physical), layout).sizes();
    }

    private static long logicalSize(Form f, int slot, long outer, long inner, Layout layout, String shape) {
        int b = f.blockOf()[slot];
        if (inner != b && !(inner == 1 && outer == 1)) {
            throw new IllegalArgumentException("shape " + shape + " does not fit " + layout + ": block dim " + f.logical().charAt(slot) + " has size " + inner);
        }
        return outer * inner;
    }

    /** The physical shape in this layout of a tensor of the given logical shape, blocked dims padded. */
    public static Shape physicalShape(Shape logical, Layout layout) {
        if (layout.isAny()) return logical;
        Form f = parse(layout);
        if (logical.rank() != f.logicalRank()) {
            throw new IllegalArgumentException("a tensor of shape " + logical + " cannot be laid out as " + layout);
        }
        Dim[] out = new Dim[f.physicalRank()];
        for (int s = 0; s < f.logicalRank(); s++) {
            Dim size = logical.dim(s);
            int b = f.blockOf()[s];
            if (b == 0) {
                out[f.outerAt()[s]] = size;
                continue;
            }
            if (!size.isStatic()) throw new IllegalArgumentException("dim " + f.logical().charAt(s) + " of shape " + logical + " must be static to be blocked");
            out[f.outerAt()[s]] = Dim.of((size.size() + b - 1) / b);
            out[f.innerAt()[s]] = Dim.of(b);
        }
        return new Shape(Arrays.asList(out));
    }

    public static long[] physicalSizes(long[] logical, Layout layout) {
        return physicalShape(Shape.of(logical), layout).sizes();
    }

    private static void requireRank(Form f, int rank, Layout layout) {
        if (rank != f.physicalRank()) throw new IllegalArgumentException("a tensor of rank " + rank + " cannot be in layout " + layout);
    }

    /**
     * Moves a tensor from one layout to another over the same logical dims. {@code logicalSizes}
     * (logical order; null: those of the source, padding included) may cut a dim short: elements
     * beyond it, like the padding of blocked dims, become zero. Returns new little-endian bytes.
     */
    public static ByteBuffer transform(ByteBuffer data, int elementBytes, long[] shape, Layout from, Layout to, long[] logicalSizes) {
        Form src = parse(from);
        Form dst = parse(to);
        if (!src.logical().equals(dst.logical())) throw new IllegalArgumentException("cannot move a tensor from " + from + " to " + to + ": their dims differ");
        requireRank(src, shape.length, from);
        int n = src.logicalRank();
        long[] have = logicalSizes(shape, from);
        long[] want = logicalSizes == null ? have : logicalSizes;
        if (want.length != n) throw new IllegalArgumentException("logical sizes " + Arrays.toString(want) + " do not match " + to);
        long[] dstShape = physicalSizes(want, to);
        long[] srcStrides = strides(shape);
        // Per logical dim and index: where that index starts in the source (-1: beyond the data, so zero).
        long[][] srcOffset = new long[n][];
        for (int s = 0; s < n; s++) {
            int extent = Math.toIntExact(dstShape[dst.outerAt()[s]] * Math.max(1, dst.blockOf()[s]));
            long limit = Math.min(have[s], want[s]);
            long innerSize = src.innerAt()[s] < 0 ? 1 : shape[src.innerAt()[s]];
            long outerStride = srcStrides[src.outerAt()[s]];
            long innerStride = src.innerAt()[s] < 0 ? 0 : srcStrides[src.innerAt()[s]];
            srcOffset[s] = new long[extent];
            for (int i = 0; i < extent; i++) {
                srcOffset[s][i] = i >= limit ? -1 : (i / innerSize) * outerStride + (i % innerSize) * innerStride;
            }
        }
        // Per destination dim: the logical dim it indexes and how far one step moves along it.
        int rank = dst.physicalRank();
        int[] slotOf = new int[rank];
        int[] step = new int[rank];
        for (int d = 0; d < rank; d++) {
            slotOf[d] = dst.logical().indexOf(dst.letter()[d]);
            step[d] = dst.block()[d] == 0 ? Math.max(1, dst.blockOf()[slotOf[d]]) : 1;
        }
        long count = Shape.elementCount(dstShape);
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(Math.multiplyExact(count, elementBytes))).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer in = data.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        int base = in.position();
        if (count == 0) return out;
        int[] index = new int[rank];
        int[] logical = new int[n];
        int last = rank - 1;
        int lastSlot = slotOf[last];
        int lastStep = step[last];
        int lastSize = (int) dstShape[last];
        long k = 0;
        while (true) {
            long offset = 0;
            boolean inside = true;
            for (int s = 0; s < n; s++) {
                if (s == lastSlot) continue;
                long o = srcOffset[s][logical[s]];
                if (o < 0) { inside = false; break; }
                offset += o;
            }
            if (inside) {
                long[] lastOffsets = srcOffset[lastSlot];
                int start = logical[lastSlot];
                for (int j = 0; j < lastSize; j++) {
                    long o = lastOffsets[start + j * lastStep];
                    if (o >= 0) copy(in, base + (offset + o) * elementBytes, out, (k + j) * elementBytes, elementBytes);
                }
            }
            k += lastSize;
            int d = last - 1;
            while (d >= 0) {
                index[d]++;
                logical[slotOf[d]] += step[d];
                if (index[d] < dstShape[d]) break;
                logical[slotOf[d]] -= step[d] * index[d];
                index[d] = 0;
                d--;
            }
            if (d < 0) break;
        }
        return out;
    }

    private static void copy(ByteBuffer in, long from, ByteBuffer out, long to, int bytes) {
        int f = (int) from;
        int t = (int) to;
        switch (bytes) {
            case 1 -> out.put(t, in.get(f));
            case 2 -> out.putShort(t, in.getShort(f));
            case 4 -> out.putInt(t, in.getInt(f));
            case 8 -> out.putLong(t, in.getLong(f));
            default -> { for (int i = 0; i < bytes; i++) out.put(t + i, in.get(f + i)); }
        }
    }

    private static long[] strides(long[] shape) {
        long[] s = new long[shape.length];
        long acc = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            s[d] = acc;
            acc *= shape[d];
        }
        return s;
    }
}
