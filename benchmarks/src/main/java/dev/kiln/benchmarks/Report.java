package dev.kiln.benchmarks;

import org.openjdk.jmh.results.RunResult;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/** The Kiln/ONNX Runtime median-latency table, with GFLOP/s against the host's peak. */
final class Report {
    private Report() {}

    /** One row of the table: a Kiln run and the ONNX Runtime run it is compared with. */
    private record Key(String model, int threads) {}

    /** Rows of median milliseconds per model and thread count, then the interpreter and compile-time lines. */
    static String table(Collection<RunResult> runs) {
        Map<Key, Double> kiln = new TreeMap<>(Report::compare);
        Map<Key, Double> ort = new TreeMap<>(Report::compare);
        StringBuilder out = new StringBuilder();
        Map<String, String> extra = new LinkedHashMap<>();
        for (RunResult r : runs) {
            String method = r.getParams().getBenchmark().substring(r.getParams().getBenchmark().lastIndexOf('.') + 1);
            double median = r.getPrimaryResult().getStatistics().getPercentile(50.0);
            String unit = r.getPrimaryResult().getScoreUnit();
            switch (method) {
                case "kilnNative" -> kiln.put(key(r), median);
                case "onnxRuntime" -> ort.put(key(r), median);
                case "kilnInterpreter" -> extra.put("interpreter " + r.getParams().getParam("interpreterModel"),
                        String.format(Locale.ROOT, "%.3f %s median", median, unit));
                case "compileMlC5" -> extra.put("compile " + r.getParams().getParam("model") + " -> ml_c5",
                        String.format(Locale.ROOT, "%.2f %s median of %d shots", median, unit, r.getPrimaryResult().getStatistics().getN()));
                default -> { }
            }
        }
        Peak peak = Peak.host();
        out.append(String.format(Locale.ROOT, "Peak per core: %.1f GFLOP/s (%s)%n", peak.perCore(), peak.source()));
        out.append(String.format(Locale.ROOT, "%-20s %7s %10s %10s %9s %8s %16s %16s%n",
                "model", "threads", "kiln ms", "ort ms", "kiln/ort", "GFLOP", "kiln GFLOP/s", "ort GFLOP/s"));
        Map<String, Long> flops = new TreeMap<>();
        for (Map.Entry<Key, Double> e : kiln.entrySet()) {
            Key k = e.getKey();
            Double o = ort.get(k);
            long f = flops.computeIfAbsent(k.model(), m -> BenchModels.flops(BenchModels.imported(m)));
            double peakAll = peak.perCore() * k.threads();
            out.append(String.format(Locale.ROOT, "%-20s %7d %10.3f %10s %9s %8.3f %16s %16s%n",
                    k.model(), k.threads(), e.getValue(),
                    o == null ? "-" : String.format(Locale.ROOT, "%.3f", o),
                    o == null ? "-" : String.format(Locale.ROOT, "%.2f", e.getValue() / o),
                    f / 1e9, rate(f, e.getValue(), peakAll), o == null ? "-" : rate(f, o, peakAll)));
        }
        extra.forEach((name, value) -> out.append(name).append(": ").append(value).append(System.lineSeparator()));
        return out.toString();
    }

    /** GFLOP/s and its share of the peak of {@code threads} cores. */
    private static String rate(long flops, double ms, double peak) {
        double gflops = flops / (ms * 1e6);
        return String.format(Locale.ROOT, "%.1f (%.0f%%)", gflops, 100 * gflops / peak);
    }

    private static Key key(RunResult r) {
        return new Key(r.getParams().getParam("model"), Integer.parseInt(r.getParams().getParam("threads")));
    }

    private static int compare(Key a, Key b) {
        int c = a.model().compareTo(b.model());
        return c != 0 ? c : Integer.compare(a.threads(), b.threads());
    }

    /**
     * Single-precision peak of one core: FMA units x lanes x 2 flops x GHz, assuming 2 FMA units (512-bit
     * lanes = 16 with AVX-512, 8 with AVX2). The GHz is the nominal one in /proc/cpuinfo's model name, else
     * its "cpu MHz" (on a VM, the clock the hypervisor reports).
     */
    record Peak(double perCore, String source) {
        private static final Pattern NOMINAL = Pattern.compile("@\\s*([0-9.]+)\\s*GHz");

        static Peak host() {
            int lanes = BenchModels.hasAvx512() ? 16 : 8;
            String isa = lanes == 16 ? "AVX-512" : "AVX2";
            Optional<String> modelName = cpuinfo("model name");
            if (modelName.isPresent()) {
                Matcher m = NOMINAL.matcher(modelName.get());
                if (m.find()) {
                    double ghz = Double.parseDouble(m.group(1));
                    return new Peak(2 * lanes * 2 * ghz, String.format(Locale.ROOT, "%s, 2 FMA x %d lanes x 2 x %.2f GHz nominal from /proc/cpuinfo model name", isa, lanes, ghz));
                }
            }
            double ghz = cpuinfo("cpu MHz").map(Double::parseDouble).orElse(Double.NaN) / 1000;
            return new Peak(2 * lanes * 2 * ghz, String.format(Locale.ROOT,
                    "%s, 2 FMA x %d lanes x 2 x %.2f GHz from /proc/cpuinfo 'cpu MHz' (model name '%s' gives no nominal GHz)",
                    isa, lanes, ghz, modelName.orElse("?")));
        }

        private static Optional<String> cpuinfo(String field) {
            try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
                return lines.filter(l -> l.startsWith(field)).findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim());
            } catch (IOException e) {
                return Optional.empty();
            }
        }
    }
}
