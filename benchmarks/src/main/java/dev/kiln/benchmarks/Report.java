package dev.kiln.benchmarks;

import org.openjdk.jmh.results.RunResult;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.ToDoubleFunction;
import java.util.stream.Collectors;

/**
 * The Kiln/ONNX Runtime median-latency table, with GFLOP/s against the host's measured peak. Each row is one
 * (model, threads) pair over its rounds: the latencies are medians over rounds of each run's median, and
 * kiln/ort the median of the per-round ratios, which are listed too so drift and noise show. Each thread count
 * ends with the geometric mean of its models' ratios, the largest ratio and how many are above 1.2.
 */
final class Report {
    private Report() {}

    /** One row of the table. */
    private record Key(String model, int threads) {}

    private static final Comparator<Key> ORDER = Comparator.comparing(Key::model).thenComparingInt(Key::threads);

    /** Rows per model and thread count, then one line per run in {@code once} (interpreter, compile time). */
    static String table(List<PairedRun> pairs, Collection<RunResult> once) {
        Map<Key, List<PairedRun>> rounds = new TreeMap<>(ORDER);
        for (PairedRun p : pairs) rounds.computeIfAbsent(new Key(p.model(), p.threads()), k -> new ArrayList<>()).add(p);

        StringBuilder out = new StringBuilder();
        Peak peak = Peak.host();
        out.append(String.format(Locale.ROOT, "Peak per core: %.1f GFLOP/s (%s)%n", peak.perCore(), peak.source()));
        out.append(String.format(Locale.ROOT, "%-20s %7s %10s %10s %9s %8s %16s %16s  %s%n",
                "model", "threads", "kiln ms", "ort ms", "kiln/ort", "GFLOP", "kiln GFLOP/s", "ort GFLOP/s", "kiln/ort per round"));
        Map<String, Long> flops = new TreeMap<>();
        for (Map.Entry<Key, List<PairedRun>> e : rounds.entrySet()) {
            Key k = e.getKey();
            List<PairedRun> runs = e.getValue();
            double kiln = median(runs, PairedRun::kilnMs);
            double ort = median(runs, PairedRun::ortMs);
            long f = flops.computeIfAbsent(k.model(), m -> BenchModels.flops(BenchModels.imported(m)));
            double peakAll = peak.perCore() * k.threads();
            String perRound = runs.stream().map(r -> String.format(Locale.ROOT, "%.2f", r.ratio())).collect(Collectors.joining(" "));
            out.append(String.format(Locale.ROOT, "%-20s %7d %10.3f %10.3f %9.2f %8.3f %16s %16s  %s%n",
                    k.model(), k.threads(), kiln, ort, median(runs, PairedRun::ratio),
                    f / 1e9, rate(f, kiln, peakAll), rate(f, ort, peakAll), perRound));
        }
        Map<Integer, List<Double>> ratios = new TreeMap<>();
        for (Map.Entry<Key, List<PairedRun>> e : rounds.entrySet()) {
            ratios.computeIfAbsent(e.getKey().threads(), t -> new ArrayList<>()).add(median(e.getValue(), PairedRun::ratio));
        }
        for (Map.Entry<Integer, List<Double>> e : ratios.entrySet()) {
            List<Double> r = e.getValue();
            double geomean = Math.exp(r.stream().mapToDouble(Math::log).average().orElse(0));
            out.append(String.format(Locale.ROOT, "%d thread%s: kiln/ort geomean %.2f over %d models, max %.2f, %d above 1.2%n",
                    e.getKey(), e.getKey() == 1 ? "" : "s", geomean, r.size(),
                    r.stream().mapToDouble(Double::doubleValue).max().orElse(0), r.stream().filter(x -> x > 1.2).count()));
        }
        for (RunResult r : once) out.append(line(r));
        return out.toString();
    }

    /** The interpreter's or the compile-time benchmark's median. */
    private static String line(RunResult r) {
        String benchmark = r.getParams().getBenchmark();
        double median = r.getPrimaryResult().getStatistics().getPercentile(50.0);
        String unit = r.getPrimaryResult().getScoreUnit();
        return switch (benchmark.substring(benchmark.lastIndexOf('.') + 1)) {
            case "kilnInterpreter" -> String.format(Locale.ROOT, "interpreter %s: %.3f %s median%n",
                    r.getParams().getParam("interpreterModel"), median, unit);
            case "compileMlC5" -> String.format(Locale.ROOT, "compile %s -> ml_c5: %.2f %s median of %d shots%n",
                    r.getParams().getParam("model"), median, unit, r.getPrimaryResult().getStatistics().getN());
            default -> String.format(Locale.ROOT, "%s: %.3f %s median%n", benchmark, median, unit);
        };
    }

    private static double median(List<PairedRun> runs, ToDoubleFunction<PairedRun> value) {
        double[] v = runs.stream().mapToDouble(value).sorted().toArray();
        int mid = v.length / 2;
        return v.length % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
    }

    /** GFLOP/s and its share of the peak of {@code threads} cores. */
    private static String rate(long flops, double ms, double peak) {
        double gflops = flops / (ms * 1e6);
        return String.format(Locale.ROOT, "%.1f (%.0f%%)", gflops, 100 * gflops / peak);
    }
}
