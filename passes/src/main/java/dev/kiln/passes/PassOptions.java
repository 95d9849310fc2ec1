package dev.kiln.passes;

import dev.kiln.ir.Attribute;

import java.util.List;
import java.util.Map;

/**
 * What the target and the user ask of the optimiser.
 *
 * @param layout      the activation layout convolutions should run in: "NCHW" (leave as is), "NHWC",
 *                    or a blocked "NCHW{c}c" such as NCHW16c (8 for AVX2, 16 for AVX-512, 4 for NEON)
 * @param dtype       the compute precision: FP32, FP16, BF16 or INT8
 * @param calibration for INT8: calibration inputs, one map of graph input name to tensor per sample; FP16 and BF16
 *                    measure their outputs against f32's on them (ConvertPrecision), else on random inputs
 * @param calibrationMethod for INT8: MINMAX or PERCENTILE
 */
public record PassOptions(String layout, Precision dtype, List<Map<String, Attribute.Tensor>> calibration,
                          CalibrationMethod calibrationMethod) {

    public enum Precision { FP32, FP16, BF16, INT8 }

    public enum CalibrationMethod { MINMAX, PERCENTILE }

    public PassOptions {
        calibration = List.copyOf(calibration);
    }

    public static PassOptions defaults() {
        return new PassOptions("NCHW", Precision.FP32, List.of(), CalibrationMethod.MINMAX);
    }

    public PassOptions withLayout(String l) { return new PassOptions(l, dtype, calibration, calibrationMethod); }

    public PassOptions withDtype(Precision p) { return new PassOptions(layout, p, calibration, calibrationMethod); }

    public PassOptions withCalibration(List<Map<String, Attribute.Tensor>> samples, CalibrationMethod method) {
        return new PassOptions(layout, dtype, samples, method);
    }
}
