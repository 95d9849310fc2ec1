package dev.kiln.server;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the tests find the conformance data that lives beside the repository. */
final class TestPaths {
    private TestPaths() {}

    /** The shared/ folder: -Dkiln.shared, else ../shared from the repository root. */
    static Path shared() {
        String p = System.getProperty("kiln.shared");
        if (p != null) return Path.of(p);
        Path dir = Path.of("").toAbsolutePath();
        for (Path d = dir; d != null; d = d.getParent()) {
            if (Files.isDirectory(d.resolve("shared/testdata"))) return d.resolve("shared");
        }
        return dir.resolve("../../shared").normalize();
    }
}
