package dev.kiln.backends.c;

import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.List;

/**
 * Loops over every element of an output with the element offset of each operand that broadcasts to it (ONNX
 * multidirectional broadcasting: dims right-aligned, a dim of 1 repeated). For static shapes the dims and
 * strides are literals and neighbouring dims that every operand steps over as one are merged, so a same-shape
 * elementwise op is one flat loop the compiler vectorises; for shapes known at run time the strides are
 * computed at run time (kiln_broadcast_strides), a dim of 1 then broadcasting whatever the compile time knew.
 *
 * <p>Usage: {@code LoopNest l = LoopNest.open(e, y, List.of(a, b));} then lines that read
 * {@code ptr(a)[l.at(0)]} and write {@code ptr(y)[l.out()]}, then {@code l.close(e)}.
 *
 * @param offsets the C offset expressions: [0] of the output element, [1 + k] of operand k's
 * @param depth   the blocks opened
 */
record LoopNest(String[] offsets, int depth) {
    /** The offset of the output element. */
    String out() { return offsets[0]; }

    /** The offset of operand k's element. */
    String at(int k) { return offsets[1 + k]; }

    /** Closes the loops {@link #open} opened. */
    void close(Emission e) {
        for (int i = 0; i < depth; i++) e.close("}");
    }

    /** Opens the loops over {@code out}'s elements. Operand ranks may be smaller than the output's (right-aligned). */
    static LoopNest open(Emission e, Value out, List<Value> operands) {
        int rank = out.type().rank();
        List<Value> all = new ArrayList<>();
        all.add(out);
        all.addAll(operands);
        if (Emission.isStatic(out) && operands.stream().allMatch(Emission::isStatic)) return openStatic(e, out, all);
        String[] strides = new String[all.size()];
        for (int k = 0; k < all.size(); k++) {
            Value v = all.get(k);
            strides[k] = "st" + k;
            e.line("long st" + k + "[" + Math.max(1, rank) + "];");
            e.line("kiln_broadcast_strides(" + rank + ", " + e.dimsArray(out) + ", " + v.type().rank() + ", " + e.dimsArray(v) + ", st" + k + ");");
        }
        String[] at = new String[all.size()];
        for (int k = 0; k < all.size(); k++) at[k] = "0L";
        for (int d = 0; d < rank; d++) {
            e.open("for (long i" + d + " = 0; i" + d + " < " + e.dim(out, d) + "; i" + d + "++) {");
            for (int k = 0; k < all.size(); k++) at[k] = "(" + at[k] + " + i" + d + " * " + strides[k] + "[" + d + "])";
        }
        if (rank == 0) e.open("{");
        return new LoopNest(at, Math.max(1, rank));
    }

    private static LoopNest openStatic(Emission e, Value out, List<Value> all) {
        long[] dims = Nodes.dims(out);
        int rank = dims.length;
        long[][] strides = new long[all.size()][];
        for (int k = 0; k < all.size(); k++) strides[k] = broadcastStrides(dims, Nodes.dims(all.get(k)));
        // merged loops: {size, stride of each operand}, size-1 dims dropped
        List<long[]> loops = new ArrayList<>();
        for (int d = 0; d < rank; d++) {
            if (dims[d] == 1) continue;
            long[] last = loops.isEmpty() ? null : loops.get(loops.size() - 1);
            boolean merges = last != null;
            for (int k = 0; merges && k < all.size(); k++) merges = last[1 + k] == strides[k][d] * dims[d];
            if (merges) {
                last[0] *= dims[d];
                for (int k = 0; k < all.size(); k++) last[1 + k] = strides[k][d];
            } else {
                long[] loop = new long[1 + all.size()];
                loop[0] = dims[d];
                for (int k = 0; k < all.size(); k++) loop[1 + k] = strides[k][d];
                loops.add(loop);
            }
        }
        String[] at = new String[all.size()];
        for (int k = 0; k < all.size(); k++) at[k] = "0L";
        if (loops.isEmpty()) {
            e.open("{");
            return new LoopNest(at, 1);
        }
        for (int d = 0; d < loops.size(); d++) {
            long[] loop = loops.get(d);
            e.open("for (long i" + d + " = 0; i" + d + " < " + loop[0] + "L; i" + d + "++) {");
            for (int k = 0; k < all.size(); k++) {
                long s = loop[1 + k];
                if (s == 0) continue;
                String term = s == 1 ? "i" + d : "i" + d + " * " + s + "L";
                at[k] = at[k].equals("0L") ? term : "(" + at[k] + " + " + term + ")";
            }
        }
        return new LoopNest(at, loops.size());
    }

    /** The strides (in elements) with which an operand of dims {@code in} is read for each dim of {@code out}: 0 where it broadcasts. */
    static long[] broadcastStrides(long[] out, long[] in) {
        long[] s = new long[out.length];
        long stride = 1;
        for (int d = out.length - 1; d >= 0; d--) {
            int id = d - (out.length - in.length);
            if (id < 0) continue;
            s[d] = in[id] == 1 ? 0 : stride;
            stride *= in[id];
        }
        return s;
    }
}
