package dev.kiln.runtime.artifact;

import dev.kiln.ir.DType;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** A small fixed artifact, a tar.gz builder for hand-made (tampered, unsafe) archives, and the b2sum command. */
final class ArtifactFixtures {
    private ArtifactFixtures() {}

    static Manifest manifest() {
        Map<String, Object> platform = new LinkedHashMap<>();
        platform.put("os", "LINUX");
        platform.put("arch", "X86_64");
        platform.put("features", List.of("avx2", "avx512f", "fma"));
        platform.put("toolchain", "x86_64-linux-gnu");
        Map<String, Object> options = new LinkedHashMap<>();
        options.put("opt_level", 3);
        options.put("dtype", "fp32");
        return new Manifest("0.1.0", "squeezenet", "ONNX", new Manifest.Target("ml_c5", platform), options,
                List.of(new Manifest.TensorSpec("data", DType.F32, List.of(1L, 3L, 224L, 224L), "NCHW")),
                List.of(new Manifest.TensorSpec("prob", DType.F32, List.of(1L, 1000L), "")),
                Map.of("library", "libmodel.so", "weights", "weights.bin", "ir", "model.ir"), List.of());
    }

    /** The fixed content: a stand-in library, a weights blob and the IR text. */
    static Path content(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("libmodel.so"), "not really a shared library\n");
        Files.writeString(dir.resolve("model.ir"), "graph squeezenet {\n  %prob = Softmax(%data)\n}\n");
        byte[] weights = new byte[100_000];
        for (int i = 0; i < weights.length; i++) weights[i] = (byte) (i * 7 + i / 256);
        Files.write(dir.resolve("weights.bin"), weights);
        return dir;
    }

    /** One archive entry: a regular file by default, or any tar type with a link name. */
    record Entry(String name, byte[] data, byte type, String linkName) {
        static Entry file(String name, byte[] data) {
            return new Entry(name, data, TarArchiveEntry.LF_NORMAL, "");
        }

        static Entry file(String name, String text) {
            return file(name, text.getBytes(StandardCharsets.UTF_8));
        }

        static Entry special(String name, byte type, String linkName) {
            return new Entry(name, new byte[0], type, linkName);
        }
    }

    /** Reads every entry of a .tar.gz, in order. */
    static List<Entry> read(Path artifact) throws IOException {
        List<Entry> entries = new ArrayList<>();
        try (InputStream in = Files.newInputStream(artifact);
             TarArchiveInputStream tar = new TarArchiveInputStream(new GzipCompressorInputStream(in))) {
            for (TarArchiveEntry e; (e = tar.getNextEntry()) != null; ) {
                entries.add(new Entry(e.getName(), tar.readAllBytes(), e.getLinkFlag(), e.getLinkName()));
            }
        }
        return entries;
    }

    /** Writes entries as given (names kept verbatim, absolute ones included; long names as PAX). */
    static Path write(Path artifact, List<Entry> entries) throws IOException {
        try (OutputStream out = Files.newOutputStream(artifact);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(new GzipCompressorOutputStream(out))) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            for (Entry e : entries) {
                TarArchiveEntry t = new TarArchiveEntry(e.name(), e.type(), true);
                if (!e.linkName().isEmpty()) t.setLinkName(e.linkName());
                if (e.type() == TarArchiveEntry.LF_NORMAL) t.setSize(e.data().length);
                tar.putArchiveEntry(t);
                tar.write(e.data());
                tar.closeArchiveEntry();
            }
        }
        return artifact;
    }

    /** What `b2sum FILE` prints for the file, when the command is installed. */
    static Optional<String> b2sum(Path file) throws IOException, InterruptedException {
        boolean installed = Optional.ofNullable(System.getenv("PATH")).stream()
                .flatMap(p -> List.of(p.split(java.io.File.pathSeparator)).stream())
                .anyMatch(d -> Files.isExecutable(Path.of(d, "b2sum")));
        if (!installed) return Optional.empty();
        Process p = new ProcessBuilder("b2sum", file.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) throw new IOException("b2sum failed: " + out);
        return Optional.of(out.substring(0, out.indexOf(' ')));
    }
}
