package dev.kiln.passes;

import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where the intermediate values of a graph live in one scratch arena, as {@link PlanMemory} computed it.
 *
 * <p>The arena holds node outputs that are not graph outputs. Graph inputs and outputs live in the
 * caller's buffers (inputs are read, outputs written in place of the caller's), and constants in
 * their own read-only bytes, so none of those take arena space. Node indices are positions in the
 * graph's node list; a value is live from the node that defines it to the last node that reads it,
 * both ends included (an unread value is live at its defining node only).
 *
 * <p>Values that reuse bytes: a view (Reshape, Flatten, Squeeze, Unsqueeze, Identity) is an
 * {@link Reuse#ALIAS} of its input and costs nothing; an elementwise op writes {@link Reuse#IN_PLACE}
 * into an input of its size, dtype and layout that is read for the last time at that node; the
 * inputs of a Concat that are contiguous pieces of its output are written as {@link Reuse#PART}s of
 * it, where the Concat would copy them (a Concat's output may itself be a part of a later Concat's,
 * its own parts inside it). A value whose shape is symbolic, or a view of something
 * outside the arena, is listed in {@link #outsideArena()} with the reason.
 */
public final class MemoryPlan {
    /** Every offset is a multiple of this, and every buffer is rounded up to it (one cache line, one AVX-512 vector). */
    public static final int ALIGNMENT = 64;

    /** How a value gets its bytes. */
    public enum Reuse {
        /** A buffer of its own. */
        OWN,
        /** Written over the bytes of {@link Slot#source()}, which the defining node reads for the last time. */
        IN_PLACE,
        /** A view of {@link Slot#source()}'s bytes (same elements, another shape). */
        ALIAS,
        /** Written inside the bytes of {@link Slot#source()}, a later Concat's output, where the Concat puts it. */
        PART
    }

    /**
     * One intermediate value in the arena: bytes {@code [offset, offset + bytes)}, live over nodes
     * {@code [firstNode, lastNode]}; {@code source} names the value whose bytes an in-place or alias
     * value takes, and is null for {@link Reuse#OWN}.
     */
    public record Slot(String value, long offset, long bytes, int firstNode, int lastNode, Reuse reuse, String source) {
        boolean livesWith(Slot o) { return firstNode <= o.lastNode && o.firstNode <= lastNode; }

        boolean sharesBytesWith(Slot o) {
            return bytes > 0 && o.bytes > 0 && offset < o.offset + o.bytes && o.offset < offset + bytes;
        }

        @Override
        public String toString() {
            return "%" + value + " [" + offset + ", " + (offset + bytes) + ") live " + firstNode + ".." + lastNode
                    + (reuse == Reuse.OWN ? "" : " " + reuse.name().toLowerCase(Locale.ROOT) + " of %" + source);
        }
    }

    private final String graphName;
    private final List<Slot> slots;
    private final Map<String, Slot> slotsByValue = new HashMap<>();
    private final Map<String, String> outsideArena;
    private final long arenaBytes;
    private final long lowerBoundBytes;

    MemoryPlan(String graphName, List<Slot> slots, Map<String, String> outsideArena, long arenaBytes, long lowerBoundBytes) {
        this.graphName = graphName;
        this.slots = List.copyOf(slots);
        for (Slot s : this.slots) slotsByValue.put(s.value(), s);
        this.outsideArena = Collections.unmodifiableMap(new LinkedHashMap<>(outsideArena));
        this.arenaBytes = arenaBytes;
        this.lowerBoundBytes = lowerBoundBytes;
    }

    /** The planned values in the order the graph defines them. */
    public List<Slot> slots() { return slots; }

    /** The slot of a value, or null when the value is not in the arena. */
    public Slot slot(String valueName) { return slotsByValue.get(valueName); }

    /** Intermediate values the arena does not hold, each with the reason, in definition order. */
    public Map<String, String> outsideArena() { return outsideArena; }

    /** The arena's size in bytes. */
    public long arenaBytes() { return arenaBytes; }

    /**
     * The most bytes the arena's buffers ever need at once (a buffer being a value with its aliases
     * and in-place successors): no placement of them fits in less.
     */
    public long lowerBoundBytes() { return lowerBoundBytes; }

    /** The bytes of giving every planned value a buffer of its own, no reuse at all. */
    public long naiveBytes() {
        long total = 0;
        for (Slot s : slots) total += s.bytes();
        return total;
    }

    public String summary() {
        int own = 0;
        int inPlace = 0;
        int aliases = 0;
        int parts = 0;
        for (Slot s : slots) {
            switch (s.reuse()) {
                case OWN -> own++;
                case IN_PLACE -> inPlace++;
                case ALIAS -> aliases++;
                case PART -> parts++;
            }
        }
        return String.format(Locale.ROOT,
                "memory plan of %s: arena %s, lower bound %s (x%.3f), one buffer per value %s (x%.1f of the arena); "
                        + "%d values in %d buffers (in place: %d, aliases: %d, parts of a Concat: %d), outside the arena: %d",
                graphName, megabytes(arenaBytes), megabytes(lowerBoundBytes), ratio(arenaBytes, lowerBoundBytes),
                megabytes(naiveBytes()), ratio(naiveBytes(), arenaBytes), slots.size(), own, inPlace, aliases, parts,
                outsideArena.size());
    }

    /**
     * Checks the plan is safe: every slot is aligned and inside the arena, an alias or in-place value
     * sits on its source's bytes, a part inside a later value's bytes, and two values live at the same
     * time share bytes only when one is a view of the other's buffer, was written in place over a value
     * read for the last time at that node, or is a part of the other.
     *
     * @throws IllegalStateException naming the values at fault
     */
    public void verify() {
        for (Slot s : slots) {
            if (s.offset() < 0 || s.offset() % ALIGNMENT != 0 || s.offset() + s.bytes() > arenaBytes) {
                throw new IllegalStateException(graphName + ": " + s + " is unaligned or outside the arena of " + arenaBytes + " bytes");
            }
            if (s.reuse() == Reuse.PART) {
                Slot src = slotsByValue.get(s.source());
                if (src == null || s.offset() < src.offset() || s.offset() + s.bytes() > src.offset() + src.bytes() || src.firstNode() <= s.firstNode()) {
                    throw new IllegalStateException(graphName + ": " + s + " does not sit inside the bytes of a later planned %" + s.source());
                }
            } else if (s.reuse() != Reuse.OWN) {
                Slot src = slotsByValue.get(s.source());
                if (src == null || src.offset() != s.offset() || src.bytes() != s.bytes() || src.firstNode() >= s.firstNode()) {
                    throw new IllegalStateException(graphName + ": " + s + " does not sit on the bytes of an earlier planned %" + s.source());
                }
            }
        }
        for (int i = 0; i < slots.size(); i++) {
            for (int j = i + 1; j < slots.size(); j++) {
                Slot a = slots.get(i);
                Slot b = slots.get(j);
                if (b.firstNode() < a.firstNode()) {
                    Slot t = a;
                    a = b;
                    b = t;
                }
                if (a.livesWith(b) && a.sharesBytesWith(b) && !mayShare(a, b)) {
                    throw new IllegalStateException(graphName + ": " + a + " and " + b + " share bytes while both are live");
                }
            }
        }
        if (lowerBoundBytes > arenaBytes) {
            throw new IllegalStateException(graphName + ": arena of " + arenaBytes + " bytes is below the lower bound " + lowerBoundBytes);
        }
    }

    /** Whether {@code later} (defined no earlier than {@code earlier}) may overlap it in bytes while both are live. */
    private boolean mayShare(Slot earlier, Slot later) {
        if (!root(earlier).equals(root(later))) return false;
        for (Slot s = earlier; s.reuse() == Reuse.PART; s = slotsByValue.get(s.source())) {
            if (s.source().equals(later.value())) return true;
        }
        return switch (later.reuse()) {
            case ALIAS -> true;
            case IN_PLACE -> earlier.firstNode() < later.firstNode() && earlier.lastNode() == later.firstNode();
            case OWN, PART -> false;
        };
    }

    /** The value that owns the buffer a slot sits in. */
    private String root(Slot s) {
        while (s.reuse() != Reuse.OWN) s = slotsByValue.get(s.source());
        return s.value();
    }

    private static String megabytes(long bytes) { return String.format(Locale.ROOT, "%.3f MB", bytes / 1e6); }

    private static double ratio(long a, long b) { return b == 0 ? 1.0 : (double) a / b; }

    @Override
    public String toString() { return summary(); }
}
