package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Resize against the interpreter: every mode, coordinate transformation, nearest mode and dtype; antialias,
 * exclude_outside, cubic_coeff_a, extrapolation; axes; scales and sizes as constants or read at run time;
 * the image path (f32, last two axes), the exact double path and the nearest gather.
 */
class ResizeEmitterTest {
    private static final List<String> TRANSFORMS = List.of("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
            "asymmetric", "tf_crop_and_resize");
    /** f32 within float rounding of the reference's double arithmetic; every other dtype is compared exactly or in its precision. */
    private static final double TOLERANCE = 1e-5;

    @TempDir
    Path dir;

    private static Value scales(OpBatch b, double... values) { return b.constant(DType.F32, new long[] {values.length}, values); }

    private static Value sizes(OpBatch b, double... values) { return b.constant(DType.I64, new long[] {values.length}, values); }

    /** Resize(x, roi, scales, sizes) with absent inputs left out as ONNX leaves them (null), and the given attributes. */
    private static Value resize(OpBatch b, Value x, Value roi, Value scales, Value sizes, Object... attributes) {
        List<Value> inputs = new ArrayList<>(Arrays.asList(x, roi, scales, sizes));
        while (inputs.get(inputs.size() - 1) == null) inputs.remove(inputs.size() - 1);
        Map<String, Attribute> a = attrs(attributes);
        return b.node("Resize", inputs, a);
    }

    @Test
    void nearestEveryDtypeNearestModeAndTransform() {
        OpBatch b = new OpBatch("resize_nearest", 31);
        for (DType t : DType.values()) {
            resize(b, b.input(t, 1, 2, 3, 4), null, scales(b, 1, 1, 2, 1.5), null);
            resize(b, b.input(t, 2, 5, 7), null, null, sizes(b, 3, 4), "axes", new long[] {1, 2});
        }
        for (String mode : List.of("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")) {
            for (String transform : TRANSFORMS) {
                resize(b, b.input(DType.F32, 1, 1, 5, 6), transform.startsWith("tf") ? b.constant(DType.F32, new long[] {8}, 0, 0, 0.1, 0.2, 1, 1, 0.9, 1.1) : null,
                        scales(b, 1, 1, 1.7, 0.6), null, "nearest_mode", mode, "coordinate_transformation_mode", transform, "extrapolation_value", -3f);
            }
        }
        resize(b, b.input(DType.I32, 9), null, scales(b, 0.5), null, "exclude_outside", 1L);
        resize(b, b.input(DType.U8, 2, 3, 4, 2, 3), null, null, sizes(b, 7, 5), "axes", new long[] {-1, 2}, "keep_aspect_ratio_policy", "not_larger");
        resize(b, b.input(DType.F16, 1, 1, 4, 6), null, null, sizes(b, 1, 1, 7, 7), "keep_aspect_ratio_policy", "not_smaller");
        resize(b, b.input(DType.F32, 1, 3, 16, 17), null, scales(b, 1, 1, 2, 2), null, "coordinate_transformation_mode", "asymmetric", "nearest_mode", "floor");
        resize(b, b.input(DType.F32, 2, 0, 3), null, scales(b, 1, 1, 2), null);
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void linearAndCubicImagesEveryTransform() {
        OpBatch b = new OpBatch("resize_image", 32);
        for (String mode : List.of("linear", "cubic")) {
            for (String transform : TRANSFORMS) {
                Value roi = transform.startsWith("tf") ? b.constant(DType.F32, new long[] {8}, 0, 0, -0.1, 0.2, 1, 1, 0.9, 1.3) : null;
                resize(b, b.input(DType.F32, 2, 3, 5, 7), roi, scales(b, 1, 1, 2.5, 1.5), null, "mode", mode,
                        "coordinate_transformation_mode", transform, "extrapolation_value", 0.5f);
                resize(b, b.input(DType.F32, 1, 2, 9, 10), roi, scales(b, 1, 1, 0.6, 0.3), null, "mode", mode,
                        "coordinate_transformation_mode", transform);
            }
            resize(b, b.input(DType.F32, 1, 2, 9, 10), null, scales(b, 1, 1, 0.6, 0.35), null, "mode", mode, "antialias", 1L);
            resize(b, b.input(DType.F32, 1, 2, 9, 10), null, null, sizes(b, 4, 3), "mode", mode, "antialias", 1L, "axes", new long[] {2, 3});
            resize(b, b.input(DType.F32, 3, 8), null, scales(b, 1, 1.3), null, "mode", mode, "exclude_outside", 1L, "cubic_coeff_a", -0.5f);
            resize(b, b.input(DType.F32, 11), null, scales(b, 2.2), null, "mode", mode);
            resize(b, b.input(DType.F32, 1, 1, 32, 33), null, scales(b, 1, 1, 2, 2), null, "mode", mode);
            resize(b, b.input(DType.F32, 1, 3, 4, 5), null, null, sizes(b, 1, 3, 9, 5), "mode", mode, "coordinate_transformation_mode", "align_corners");
        }
        b.assertMatchesInterpreter(dir, TOLERANCE);
    }

    @Test
    void linearAndCubicEveryDtypeAndAxes() {
        OpBatch b = new OpBatch("resize_separable", 33);
        for (DType t : DType.values()) {
            for (String mode : List.of("linear", "cubic")) {
                resize(b, b.input(t, 2, 3, 4), null, scales(b, 1, 1.5, 0.75), null, "mode", mode);
                resize(b, b.input(t, 3, 5), null, null, sizes(b, 4, 9), "mode", mode, "coordinate_transformation_mode", "align_corners");
            }
        }
        resize(b, b.input(DType.F32, 2, 3, 4, 5, 3), null, scales(b, 1.5, 0.5), null, "mode", "linear", "axes", new long[] {1, 3});
        resize(b, b.input(DType.F64, 2, 6, 4, 5, 3), null, scales(b, 0.5, 0.7), null, "mode", "cubic", "axes", new long[] {1, 3}, "antialias", 1L);
        resize(b, b.input(DType.I16, 2, 6, 4), null, null, sizes(b, 3, 9), "mode", "linear", "axes", new long[] {1, 2}, "antialias", 1L,
                "keep_aspect_ratio_policy", "not_larger");
        resize(b, b.input(DType.U8, 4, 7, 3), b.constant(DType.F64, new long[] {6}, 0.1, 0, 0.2, 0.8, 1.2, 0.9), scales(b, 1.5, 1, 2), null, "mode", "linear",
                "coordinate_transformation_mode", "tf_crop_and_resize", "extrapolation_value", 7f);
        resize(b, b.input(DType.BF16, 3, 4), null, scales(b, 1.6, 2.4), null, "mode", "cubic", "exclude_outside", 1L, "cubic_coeff_a", -0.6f,
                "coordinate_transformation_mode", "half_pixel_symmetric");
        resize(b, b.input(DType.F64, 2, 0, 3), null, scales(b, 1.5, 1, 2), null, "mode", "linear");
        resize(b, b.input(DType.I64, 1, 1, 6), null, scales(b, 1, 1, 0.5), null, "mode", "cubic", "antialias", 1L);
        b.assertMatchesInterpreter(dir, TOLERANCE);
    }

    @Test
    void scalesSizesAndRoiReadAtRunTime() {
        OpBatch b = new OpBatch("resize_run_time", 34);
        for (String mode : List.of("nearest", "linear", "cubic")) {
            resize(b, b.input(DType.F32, 1, 2, 5, 6), null, b.input(DType.F32, new long[] {4}, 1, 1, 1.6, 0.5), null, "mode", mode);
            resize(b, b.input(DType.I32, 2, 5, 6), null, null, b.input(DType.I64, new long[] {2}, 7, 4), "mode", mode, "axes", new long[] {1, 2},
                    "keep_aspect_ratio_policy", "not_smaller");
            resize(b, b.input(DType.F16, 4, 6), b.input(DType.F32, new long[] {4}, 0.1, 0.3, 0.9, 1.2), b.input(DType.F32, new long[] {2}, 1.5, 0.8), null,
                    "mode", mode, "coordinate_transformation_mode", "tf_crop_and_resize", "extrapolation_value", 2f);
            resize(b, b.input(DType.F32, 1, 1, 4, 6), b.input(DType.F32, new long[] {8}, 0, 0, 0.1, 0.3, 1, 1, 0.9, 1.2), scales(b, 1, 1, 2, 2), null,
                    "mode", mode, "coordinate_transformation_mode", "tf_crop_and_resize");
            resize(b, b.input(DType.U16, 3, 4), null, null, b.input(DType.I32, new long[] {2}, 3, 4), "mode", mode, "antialias", 1L);
        }
        // a run-time shaped input
        resize(b, GatherEmitterTest.runTimeRows(b, b.input(DType.F32, 6, 3)), null, scales(b, 1.5, 2), null, "mode", "linear");
        resize(b, GatherEmitterTest.runTimeRows(b, b.input(DType.I8, 6, 3)), null, scales(b, 1, 2), null);
        b.assertMatchesInterpreter(dir, TOLERANCE);
    }

    /**
     * Resizes of blocked activations (after a blocked convolution), as the level-3 pipeline hands them over: every
     * mode and transformation, up and down, antialiased, 1-D, 3-D keeping depth, channels that are and are not whole
     * blocks; each reads the convolution's blocked output itself.
     */
    @Test
    void blockedImagesEveryModeAndTransform() {
        OpBatch b = new OpBatch("resize_blocked", 36);
        Value x = b.input(DType.F32, 1, 16, 7, 9);
        Value c = b.node("Conv", List.of(x, b.randomConstant(DType.F32, 20, 16, 3, 3)), attrs("pads", new long[] {1, 1, 1, 1}));
        int resizes = 0;
        for (String mode : List.of("nearest", "linear", "cubic")) {
            for (String transform : TRANSFORMS.subList(0, 5)) {
                resize(b, c, null, scales(b, 1, 1, 2.5, 1.7), null, "mode", mode, "coordinate_transformation_mode", transform);
                resize(b, c, null, scales(b, 1, 1, 0.6, 0.45), null, "mode", mode, "coordinate_transformation_mode", transform, "nearest_mode", "ceil");
                resizes += 2;
            }
            resize(b, c, null, scales(b, 1, 1, 0.5, 0.3), null, "mode", mode, "antialias", 1L, "exclude_outside", 1L);
            resize(b, c, null, null, sizes(b, 11, 4), "mode", mode, "axes", new long[] {2, 3}, "keep_aspect_ratio_policy", "not_larger");
            resizes += 2;
        }
        Value wide = b.node("Conv", List.of(x, b.randomConstant(DType.F32, 32, 16, 1, 1)), Map.of());
        resize(b, wide, null, null, sizes(b, 1, 32, 14, 18), "mode", "linear");
        resize(b, wide, null, scales(b, 1, 1, 2, 2), null, "coordinate_transformation_mode", "asymmetric", "nearest_mode", "floor");
        Value signal = b.input(DType.F32, 1, 16, 13);
        Value c1 = b.node("Conv", List.of(signal, b.randomConstant(DType.F32, 17, 16, 3)), Map.of());
        resize(b, c1, null, scales(b, 1, 1, 1.6), null, "mode", "linear");
        resize(b, c1, null, scales(b, 1, 1, 0.7), null, "mode", "cubic");
        Value volume = b.input(DType.F32, 1, 16, 3, 4, 5);
        Value c3 = b.node("Conv", List.of(volume, b.randomConstant(DType.F32, 18, 16, 1, 1, 1)), Map.of());
        resize(b, c3, null, scales(b, 1, 1, 1, 1.5, 2), null, "mode", "linear");
        resizes += 5;
        String source = b.assertMatchesInterpreter(dir, TOLERANCE);
        int blocked = source.split("kiln_resize_2d_args args = \\{[^}]*, " + NativeTesting.HOST.activationBlockSize() + "L, ", -1).length - 1;
        assertEquals(resizes, blocked, "every Resize reads its blocked input");
    }

    @Test
    void unknownNearestModesAreRefused() {
        OpBatch b = new OpBatch("resize_refused", 35);
        resize(b, b.input(DType.F32, 1, 4), null, scales(b, 1, 2), null, "nearest_mode", "round_half_even");
        b.assertRefused(dir, "Resize (nearest_mode round_half_even)");
    }
}
