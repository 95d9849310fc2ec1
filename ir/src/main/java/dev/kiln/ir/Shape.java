package dev.kiln.ir;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** A tensor shape of known rank; each dimension static or symbolic. */
public record Shape(List<Dim> dims) {
    public Shape {
        dims = List.copyOf(dims);
    }

    public static Shape of(long... sizes) {
        List<Dim> d = new ArrayList<>(sizes.length);
        for (long s : sizes) d.add(Dim.of(s));
        return new Shape(d);
    }

    public static Shape scalar() { return new Shape(List.of()); }

    public int rank() { return dims.size(); }

    public Dim dim(int i) { return dims.get(i); }

    public boolean isStatic() {
        for (Dim d : dims) if (!d.isStatic()) return false;
        return true;
    }

    /** The static sizes; fails if any dimension is symbolic. */
    public long[] sizes() {
        long[] s = new long[dims.size()];
        for (int i = 0; i < s.length; i++) {
            Dim d = dims.get(i);
            if (!d.isStatic()) throw new IllegalStateException("shape " + this + " is not static");
            s[i] = d.size();
        }
        return s;
    }

    /** Number of elements; fails on symbolic dims and on overflow of a long. */
    public long elementCount() { return elementCount(sizes()); }

    public static long elementCount(long[] sizes) {
        long n = 1;
        for (long s : sizes) {
            if (s < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(sizes));
            n = Math.multiplyExact(n, s);
        }
        return n;
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < dims.size(); i++) {
            if (i > 0) b.append(',');
            b.append(dims.get(i));
        }
        return b.append(']').toString();
    }
}
