package dev.kiln.ir;

/**
 * How a tensor's dimensions are laid out in memory: NCHW, NHWC, blocked forms such as NCHW16c,
 * or {@link #ANY} for tensors whose layout carries no meaning (vectors, matrices, shapes).
 */
public record Layout(String name) {
    public static final Layout ANY = new Layout("");
    public static final Layout NCHW = new Layout("NCHW");
    public static final Layout NHWC = new Layout("NHWC");

    public Layout {
        if (!name.isEmpty() && !name.matches("[A-Z]+([0-9]+[a-z])*[A-Z]*")) {
            throw new IllegalArgumentException("malformed layout '" + name + "'");
        }
    }

    public static Layout of(String name) {
        return name.isEmpty() ? ANY : new Layout(name);
    }

    public boolean isAny() { return name.isEmpty(); }

    @Override
    public String toString() { return name; }
}
