package dev.kiln.ir;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LayoutsTest {

    @Test
    void logicalOrderIsTheSortedWholeDims() {
        assertEquals(Layout.NCHW, Layouts.logical(Layout.NHWC));
        assertEquals(Layout.NCHW, Layouts.logical(Layout.of("NCHW16c")));
        assertEquals(Layout.of("OIHW"), Layouts.logical(Layout.of("HWIO")));
        assertEquals(Layout.of("OIHW"), Layouts.logical(Layout.of("OIHW8i8o")));
        assertEquals(Layout.of("NCDHW"), Layouts.logical(Layout.of("NDHWC")));
        assertEquals(Layout.ANY, Layouts.logical(Layout.ANY));
    }

    @Test
    void plainLayoutsAreThoseInLogicalOrderWithoutBlocks() {
        assertTrue(Layouts.isPlain(Layout.ANY));
        assertTrue(Layouts.isPlain(Layout.NCHW));
        assertTrue(Layouts.isPlain(Layout.of("OIHW")));
        assertFalse(Layouts.isPlain(Layout.NHWC));
        assertFalse(Layouts.isPlain(Layout.of("NCHW8c")));
        assertTrue(Layouts.isBlocked(Layout.of("NCHW8c")));
        assertFalse(Layouts.isBlocked(Layout.NHWC));
        assertEquals(8, Layouts.blockSize(Layout.of("NCHW8c"), 'C'));
        assertEquals(0, Layouts.blockSize(Layout.of("NCHW8c"), 'H'));
        assertEquals(4, Layouts.blockSize(Layout.of("OIHW4i8o"), 'I'));
        assertEquals(3, Layouts.physicalAxis(Layout.NHWC, 1));
        assertEquals(1, Layouts.physicalAxis(Layout.of("NCHW8c"), 1));
    }

    @Test
    void blockedShapesPadTheBlockedDim() {
        Shape logical = Shape.of(1, 3, 224, 224);
        Shape blocked = Layouts.physicalShape(logical, Layout.of("NCHW8c"));
        assertEquals(Shape.of(1, 1, 224, 224, 8), blocked);
        assertEquals(Shape.of(1, 8, 224, 224), Layouts.logicalShape(blocked, Layout.of("NCHW8c")));
        assertEquals(Shape.of(1, 224, 224, 3), Layouts.physicalShape(logical, Layout.NHWC));
        assertEquals(Shape.of(2, 2, 3, 3, 4, 8), Layouts.physicalShape(Shape.of(10, 6, 3, 3), Layout.of("OIHW4i8o")));
        // A broadcast operand's block dim of 1 is one value for every lane.
        assertEquals(Shape.of(1, 1, 5, 5), Layouts.logicalShape(Shape.of(1, 1, 5, 5, 1), Layout.of("NCHW8c")));
    }

    @Test
    void symbolicDimsPassThroughUnlessBlocked() {
        Shape logical = new Shape(List.of(Dim.symbol("N"), Dim.of(16), Dim.of(7), Dim.of(7)));
        assertEquals(new Shape(List.of(Dim.symbol("N"), Dim.of(7), Dim.of(7), Dim.of(16))), Layouts.physicalShape(logical, Layout.NHWC));
        Shape symbolicChannels = new Shape(List.of(Dim.of(1), Dim.symbol("C"), Dim.of(7), Dim.of(7)));
        assertThrows(IllegalArgumentException.class, () -> Layouts.physicalShape(symbolicChannels, Layout.of("NCHW8c")));
    }

    @Test
    void unreadableLayoutsAndMisfitShapesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> Layouts.check(Layout.of("NCHW8x")));
        assertThrows(IllegalArgumentException.class, () -> Layouts.check(Layout.of("NCCW")));
        assertThrows(IllegalArgumentException.class, () -> Layouts.check(Layout.of("NCHW8c8c")));
        assertThrows(IllegalArgumentException.class, () -> Layouts.check(Layout.of("ABC")));
        assertThrows(IllegalArgumentException.class, () -> Layouts.logicalShape(Shape.of(1, 2, 3, 3, 4), Layout.of("NCHW8c")));
        assertThrows(IllegalArgumentException.class, () -> Layouts.physicalShape(Shape.of(1, 2, 3), Layout.NHWC));
    }
}
