package dev.kiln.ir;

/** One dimension of a shape: a static size, or a symbol that a frontend could not resolve. */
public record Dim(long size, String symbol) {
    public Dim {
        if (symbol == null && size < 0) throw new IllegalArgumentException("negative dimension " + size);
        if (symbol != null && !symbol.matches("[A-Za-z_][A-Za-z0-9_]*")) {
            throw new IllegalArgumentException("symbolic dimension must be an identifier, got '" + symbol + "'");
        }
    }

    public static Dim of(long size) { return new Dim(size, null); }

    public static Dim symbol(String name) { return new Dim(-1, name); }

    public boolean isStatic() { return symbol == null; }

    @Override
    public String toString() { return isStatic() ? Long.toString(size) : symbol; }
}
