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
import java.util.concurrent.TimeUnit;

/** Writes a {@link CCodeGenerator.CProgram} as model.c and weights.bin and compiles it with gcc into model.so. */
public final class GccCompiler {
    /** Flags for the machine that compiles: optimised for its own CPU. */
    public static final List<String> HOST_FLAGS = List.of("-O3", "-march=native", "-fPIC", "-shared", "-pthread");

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
        try {
            Files.createDirectories(dir);
            Path source = dir.resolve("model.c");
            Path weights = dir.resolve("weights.bin");
            Path library = dir.resolve("model.so");
            Files.writeString(source, program.source(), StandardCharsets.UTF_8);
            try (FileChannel ch = FileChannel.open(weights, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                var buf = program.weights().duplicate();
                while (buf.hasRemaining()) ch.write(buf);
            }
            List<String> cmd = new ArrayList<>(List.of(compiler));
            cmd.addAll(flags);
            cmd.addAll(List.of("-o", library.toString(), source.toString(), "-lm"));
            Process p;
            try {
                p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            } catch (IOException e) {
                throw new IllegalStateException("backend c cannot start the C compiler '" + compiler + "' (is gcc installed and on the PATH?) to compile "
                        + source + ": " + e.getMessage(), e);
            }
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IllegalStateException(compiler + " did not finish compiling " + source + " in 10 minutes");
            }
            if (p.exitValue() != 0) throw new IllegalStateException(compiler + " failed (exit " + p.exitValue() + ") on " + source + ":\n" + output);
            return new Compiled(library, weights, source, program.arenaBytes());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while compiling " + dir, e);
        }
    }
}
