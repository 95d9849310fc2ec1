package dev.kiln.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kiln.runtime.Model;
import dev.kiln.runtime.Profile;
import dev.kiln.runtime.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code kiln run ARTIFACT --profile}: the time of each node of a compiled model, counted by its native code over
 * {@code repeat} runs after {@code warmup} untimed ones. Each node's time is its median over the runs; its share is
 * of the nodes' medians summed. Printed as a table sorted by time, or as JSON with the same numbers.
 */
final class RunProfile {
    private RunProfile() {}

    /**
     * One node's line: its median milliseconds per run, its share of all nodes' and its FLOPs per run (0: not counted).
     * A node another computes (a convolution its layout transform computes, a Concat its inputs are written into)
     * takes no time of its own: the node that does its work has it.
     */
    record Line(String node, String op, double millis, double share, long flops) {
        /** GFLOP/s of one run, NaN when the node's FLOPs are not counted or its time is below what the clock tells (a microsecond). */
        double gflopsPerSecond() { return flops > 0 && millis >= 1e-3 ? flops / (millis * 1e6) : Double.NaN; }
    }

    /** The profile of a run: the lines sorted by time, the median run's milliseconds (as the caller sees it) and the runs' count. */
    record Result(List<Line> lines, double runMillis, int runs, Map<String, Tensor> outputs) {
        double nodeMillis() { return lines.stream().mapToDouble(Line::millis).sum(); }
    }

    /** Runs the model {@code warmup} times, then {@code repeat} times with profiling on, reading the counters after each run. */
    static Result measure(Model model, Map<String, Tensor> inputs, int warmup, int repeat) {
        for (int i = 0; i < warmup; i++) model.run(inputs);
        try {
            model.setProfiling(true);
        } catch (IllegalStateException e) {
            throw new UsageException("cannot profile model " + model.manifest().model() + ": " + e.getMessage(), e);
        }
        try {
            Profile before = model.profile();
            int nodes = before.nodes().size();
            double[][] nodeMillis = new double[nodes][repeat];
            double[] runMillis = new double[repeat];
            Map<String, Tensor> outputs = null;
            for (int r = 0; r < repeat; r++) {
                long t0 = System.nanoTime();
                outputs = model.run(inputs);
                runMillis[r] = (System.nanoTime() - t0) / 1e6;
                Profile after = model.profile();
                for (int n = 0; n < nodes; n++) nodeMillis[n][r] = (after.nodes().get(n).nanos() - before.nodes().get(n).nanos()) / 1e6;
                before = after;
            }
            double[] medians = new double[nodes];
            double total = 0;
            for (int n = 0; n < nodes; n++) total += medians[n] = median(nodeMillis[n]);
            List<Line> lines = new ArrayList<>();
            for (int n = 0; n < nodes; n++) {
                Profile.Node node = before.nodes().get(n);
                lines.add(new Line(node.name(), node.op(), medians[n], total > 0 ? medians[n] / total : 0, node.flops()));
            }
            lines.sort(Comparator.comparingDouble(Line::millis).reversed());
            return new Result(lines, median(runMillis), repeat, outputs);
        } finally {
            model.setProfiling(false);
        }
    }

    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n == 0 ? 0 : n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /** The table: a heading line, then one line per node, slowest first (FLOPs of one run, "-" where not counted). */
    static String table(Result r, String model, int threads) {
        StringBuilder out = new StringBuilder(String.format(Locale.ROOT,
                "%s: median of %d runs on %d thread%s: %.3f ms per run, %.3f ms in its nodes%n",
                model, r.runs(), threads, threads == 1 ? "" : "s", r.runMillis(), r.nodeMillis()));
        int width = Math.max(4, r.lines().stream().mapToInt(l -> l.node().length()).max().orElse(0));
        int opWidth = Math.max(2, r.lines().stream().mapToInt(l -> l.op().length()).max().orElse(0));
        String row = "%-" + width + "s  %-" + opWidth + "s  %10s  %6s  %12s  %8s%n";
        out.append(String.format(Locale.ROOT, row, "node", "op", "ms", "share", "FLOPs", "GFLOP/s"));
        for (Line l : r.lines()) {
            double rate = l.gflopsPerSecond();
            out.append(String.format(Locale.ROOT, row, l.node(), l.op(), String.format(Locale.ROOT, "%.4f", l.millis()),
                    String.format(Locale.ROOT, "%.1f%%", 100 * l.share()), l.flops() > 0 ? flops(l.flops()) : "-",
                    Double.isNaN(rate) ? "-" : String.format(Locale.ROOT, "%.1f", rate)));
        }
        return out.toString();
    }

    /** FLOPs with a k, M or G suffix: the nodes of one model range from hundreds to billions. */
    static String flops(long n) {
        if (n < 1_000) return Long.toString(n);
        if (n < 1_000_000) return String.format(Locale.ROOT, "%.1fk", n / 1e3);
        if (n < 1_000_000_000) return String.format(Locale.ROOT, "%.1fM", n / 1e6);
        return String.format(Locale.ROOT, "%.2fG", n / 1e9);
    }

    /** The same numbers as JSON: the run's, then each node's (gflops_per_s null where the table shows "-"). */
    static String json(Result r, String model, int threads) {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("model", model);
        root.put("threads", threads);
        root.put("runs", r.runs());
        root.put("median_ms", r.runMillis());
        root.put("nodes_ms", r.nodeMillis());
        List<Map<String, Object>> nodes = new ArrayList<>();
        for (Line l : r.lines()) {
            Map<String, Object> n = new LinkedHashMap<>();
            n.put("node", l.node());
            n.put("op", l.op());
            n.put("ms", l.millis());
            n.put("share", l.share());
            n.put("flops", l.flops());
            double rate = l.gflopsPerSecond();
            n.put("gflops_per_s", Double.isNaN(rate) ? null : rate);
            nodes.add(n);
        }
        root.put("nodes", nodes);
        try {
            return new ObjectMapper().writeValueAsString(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write the profile as JSON", e);
        }
    }
}
