package dev.kiln.backends.c;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/** Writes a {@link CCodeGenerator.CProgram} as model.c and weights.bin and compiles it with gcc into a shared library. */
public final class GccCompiler {
    /** Flags for the machine that compiles: optimised for its own CPU. */
    public static final List<String> HOST_FLAGS = List.of("-O3", "-fno-strict-aliasing", "-Werror=implicit-function-declaration",
            "-march=native", "-fPIC", "-shared", "-pthread");
    private static final long TIMEOUT_MINUTES = 10;
    private static final ExecutorService OUTPUT_READERS = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "kiln-toolchain-output");
        t.setDaemon(true);
        return t;
    });

    private GccCompiler() {}

    /** The files of a compiled program. */
    public record Compiled(Path library, Path weights, Path source, long arenaBytes) {}

    /** Compiles with the {@code gcc} on the PATH; see {@link #compile(CCodeGenerator.CProgram, Path, String, List)}. */
    public static Compiled compile(CCodeGenerator.CProgram program, Path dir, List<String> flags) {
        return compile(program, dir, "gcc", flags);
    }

    /**
     * Compiles into {@code dir} (created if missing) with {@code compiler flags... -o model.so model.c -lm}.
     *
     * @throws IllegalStateException when the compiler is missing or fails (with its output)
     */
    public static Compiled compile(CCodeGenerator.CProgram program, Path dir, String compiler, List<String> flags) {
        return compile(program, dir, compiler, flags, "model.so", List.of("-lm"));
    }

    /** Compiles into {@code dir} with {@code compiler flags... -o libraryName model.c libraries...}. */
    static Compiled compile(CCodeGenerator.CProgram program, Path dir, String compiler, List<String> flags,
                            String libraryName, List<String> libraries) {
        Path source = writeSources(program, dir);
        Path library = dir.resolve(libraryName);
        List<String> cmd = new ArrayList<>(List.of(compiler));
        cmd.addAll(flags);
        cmd.addAll(List.of("-o", library.toString(), source.toString()));
        cmd.addAll(libraries);
        run(cmd, "the C compiler", "to compile " + source);
        return new Compiled(library, dir.resolve("weights.bin"), source, program.arenaBytes());
    }

    /** Writes model.c and weights.bin into {@code dir} (created if missing); returns model.c. */
    static Path writeSources(CCodeGenerator.CProgram program, Path dir) {
        try {
            Files.createDirectories(dir);
            Path source = dir.resolve("model.c");
            Files.writeString(source, program.source(), StandardCharsets.UTF_8);
            try (FileChannel ch = FileChannel.open(dir.resolve("weights.bin"), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                var buf = program.weights().duplicate();
                while (buf.hasRemaining()) ch.write(buf);
            }
            return source;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Runs a toolchain command to completion and returns its combined output. The calling thread waits
     * interruptibly: interrupting it (a stopped or timed-out compilation job) kills the command and every
     * process it started (gcc's cc1, as, ld) at once.
     *
     * @param tool what {@code cmd.get(0)} is, for messages ("the C compiler", "nm")
     * @param what what it does, for messages ("to compile /tmp/model.c")
     * @throws IllegalStateException when it cannot start, fails or takes more than 10 minutes (with its output)
     * @throws CancellationException when the calling thread is interrupted
     */
    static String run(List<String> cmd, String tool, String what) {
        if (Thread.currentThread().isInterrupted()) throw new CancellationException("interrupted before " + what);
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new IllegalStateException("backend c cannot start " + tool + " '" + cmd.get(0)
                    + "' (is gcc installed and on the PATH?) " + what + ": " + e.getMessage(), e);
        }
        // The output is drained beside the wait, so that the wait itself is what an interrupt breaks.
        CompletableFuture<String> output = CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }, OUTPUT_READERS);
        try {
            if (!p.waitFor(TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
                killTree(p);
                throw new IllegalStateException(cmd.get(0) + " did not finish in " + TIMEOUT_MINUTES + " minutes " + what);
            }
            String text = output.get();
            if (p.exitValue() != 0) {
                throw new IllegalStateException(cmd.get(0) + " failed (exit " + p.exitValue() + ") " + what + ":\n"
                        + String.join(" ", cmd) + "\n" + text);
            }
            return text;
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot read the output of " + cmd.get(0) + " " + what, e.getCause());
        } catch (InterruptedException e) {
            killTree(p);
            Thread.currentThread().interrupt();
            throw new CancellationException("interrupted " + what + "; " + cmd.get(0) + " and its processes were killed");
        }
    }

    private static void killTree(Process p) {
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly();
    }
}
