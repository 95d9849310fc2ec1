package dev.kiln.backends;

import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;

/**
 * A code generator for some targets. Backends are found with {@link ServiceLoader} (listed in
 * META-INF/services/dev.kiln.backends.Backend), so adding one touches no central switch.
 */
public interface Backend {
    /** A short name for messages and the manifest, e.g. "c". */
    String name();

    /** Whether this backend produces code for the target. */
    boolean accepts(Target target);

    /** The nodes of an optimised graph this backend has no kernel for (empty when it takes the whole graph). */
    List<Node> unsupported(Graph optimised);

    /**
     * What this backend does not take about a node it has a kernel family for, in brackets (" (f64)", " (3-D)",
     * " (layout NHWC)"), or "" when it has no kernel for the op at all.
     */
    default String refusal(Node n) { return ""; }

    /** The activation layout the passes should give the graph for this backend (e.g. "NCHW"). */
    String preferredLayout(Target target);

    /**
     * Writes the compiled model into {@code artifactDir} and returns its components: part name
     * ("library", "weights" ...) to file name inside the directory.
     *
     * @throws ToolchainMissingException when the target's compiler is not installed
     */
    Map<String, String> emit(Graph optimised, Target target, CompilerOptions options, Path artifactDir) throws IOException;

    /** The first backend on the class path that accepts the target. */
    static Backend forTarget(Target target) {
        for (Backend b : ServiceLoader.load(Backend.class, Backend.class.getClassLoader())) {
            if (b.accepts(target)) return b;
        }
        throw new UnsupportedOperationException("no backend generates code for target " + target.name()
                + " (" + target.os() + " " + target.arch() + ", accelerator " + target.accelerator() + ")");
    }
}
