package dev.kiln.benchmarks;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Single-precision peak of one core. Measured by the peak.c resource (independent FMA chains on the widest
 * vectors, one thread), compiled with gcc -O2 -march=native: the best of a few runs, as the clock ramps up
 * and the VM is noisy. /proc/cpuinfo's clock is not the one the cores run at on a VM, so the estimate from it
 * (2 FMA units x lanes x 2 flops x GHz) is only the fallback where gcc is missing or the run fails.
 */
record Peak(double perCore, String source) {
    private static final int RUNS = 3;
    private static final Pattern MEASURED = Pattern.compile("gflops=([0-9.]+) chains=([0-9]+) lanes=([0-9]+)");
    private static final Pattern NOMINAL = Pattern.compile("@\\s*([0-9.]+)\\s*GHz");

    static Peak host() {
        try {
            return measured();
        } catch (IOException | IllegalStateException e) {
            return estimated("gcc measurement failed: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return estimated("gcc measurement interrupted");
        }
    }

    private static Peak measured() throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("kiln-peak-");
        Path source = dir.resolve("peak.c");
        Path program = dir.resolve("peak");
        try {
            try (InputStream in = Peak.class.getResourceAsStream("peak.c")) {
                if (in == null) throw new IllegalStateException("resource peak.c not found");
                Files.copy(in, source);
            }
            output(List.of("gcc", "-O2", "-march=native", "-o", program.toString(), source.toString()));
            double best = 0;
            int chains = 0;
            int lanes = 0;
            for (int i = 0; i < RUNS; i++) {
                String out = output(List.of(program.toString()));
                Matcher m = MEASURED.matcher(out);
                if (!m.find()) throw new IllegalStateException("unexpected peak output: " + out.trim());
                best = Math.max(best, Double.parseDouble(m.group(1)));
                chains = Integer.parseInt(m.group(2));
                lanes = Integer.parseInt(m.group(3));
            }
            double ghz = best / (2 * lanes * 2);
            return new Peak(best, String.format(Locale.ROOT,
                    "measured: %d independent FMA chains of %d lanes, = 2 FMA x %d lanes x 2 flops x %.2f GHz",
                    chains, lanes, lanes, ghz));
        } finally {
            Files.deleteIfExists(program);
            Files.deleteIfExists(source);
            Files.delete(dir);
        }
    }

    /** The command's stdout and stderr; fails unless it exits with 0. */
    private static String output(List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int exit = p.waitFor();
        if (exit != 0) throw new IllegalStateException(command.get(0) + " exited with " + exit + ": " + out.trim());
        return out;
    }

    /**
     * 2 FMA units x lanes (16 with AVX-512, 8 with AVX2) x 2 flops x the nominal GHz in /proc/cpuinfo's model
     * name, else its "cpu MHz" (on a VM, the clock the hypervisor reports).
     */
    private static Peak estimated(String why) {
        int lanes = BenchModels.hasAvx512() ? 16 : 8;
        String isa = lanes == 16 ? "AVX-512" : "AVX2";
        Optional<String> modelName = cpuinfo("model name");
        if (modelName.isPresent()) {
            Matcher m = NOMINAL.matcher(modelName.get());
            if (m.find()) {
                double ghz = Double.parseDouble(m.group(1));
                return new Peak(2 * lanes * 2 * ghz, String.format(Locale.ROOT,
                        "%s; estimated: %s, 2 FMA x %d lanes x 2 flops x %.2f GHz nominal from /proc/cpuinfo model name",
                        why, isa, lanes, ghz));
            }
        }
        double ghz = cpuinfo("cpu MHz").map(Double::parseDouble).orElse(Double.NaN) / 1000;
        return new Peak(2 * lanes * 2 * ghz, String.format(Locale.ROOT,
                "%s; estimated: %s, 2 FMA x %d lanes x 2 flops x %.2f GHz from /proc/cpuinfo 'cpu MHz'"
                        + " (model name '%s' gives no nominal GHz)",
                why, isa, lanes, ghz, modelName.orElse("?")));
    }

    private static Optional<String> cpuinfo(String field) {
        try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
            return lines.filter(l -> l.startsWith(field)).findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim());
        } catch (IOException e) {
            return Optional.empty();
        }
    }
}
