package dev.kiln.backends.c;

/**
 * Arrays one node's code keeps in the arena workspace (KILN_WS) while it runs, laid out one after another,
 * each 64-byte aligned; {@link #reserve} asks the emission for their total. Kernels the node calls with a
 * workspace of their own get the region {@link #rest} names, past the node's arrays.
 */
final class Workspace {
    /** Floats taken so far (a multiple of 16: 64 bytes). */
    private long floats;

    /** A C expression of type {@code type*} for {@code elements} elements of {@code bytes} bytes each. */
    String take(String type, long elements, int bytes) {
        String p = "((" + type + "*) (KILN_WS + " + floats + "L))";
        floats += (elements * bytes + 63) / 64 * 16;
        return p;
    }

    /** A float* expression of the workspace past the arrays taken (a kernel's own workspace). */
    String rest() { return "(KILN_WS + " + floats + "L)"; }

    /** Reserves the arrays taken, and {@code extra} floats past them. */
    void reserve(Emission e, long extra) { e.workspace(floats + extra); }

    void reserve(Emission e) { reserve(e, 0); }
}
