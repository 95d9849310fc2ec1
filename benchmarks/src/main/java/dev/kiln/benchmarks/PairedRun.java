package dev.kiln.benchmarks;

import org.openjdk.jmh.results.RunResult;

/** One round of a (model, threads) pair: the kilnNative and onnxRuntime runs taken back to back. */
record PairedRun(String model, int threads, RunResult kiln, RunResult ort) {
    /** Median sampled milliseconds of the Kiln run. */
    double kilnMs() { return median(kiln); }

    /** Median sampled milliseconds of the ONNX Runtime run. */
    double ortMs() { return median(ort); }

    /** Kiln over ONNX Runtime: below 1 where Kiln is faster. */
    double ratio() { return kilnMs() / ortMs(); }

    private static double median(RunResult r) {
        return r.getPrimaryResult().getStatistics().getPercentile(50.0);
    }
}
