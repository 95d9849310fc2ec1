package dev.kiln.passes;

import dev.kiln.ir.Graph;
import dev.kiln.ir.GraphEvaluator;
import dev.kiln.ir.text.IrPrinter;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * What passes share during one pipeline run: the options, an evaluator for compile-time values,
 * results of analyses for later stages, a log, and the record of what each pass did.
 */
public final class PassContext {
    /** One pass run: name, time, and node counts before and after. */
    public record PassRun(String pass, long nanos, int nodesBefore, int nodesAfter) {}

    private final PassOptions options;
    private final GraphEvaluator evaluator;
    private final boolean verify;
    private final Path dumpDir;
    private final Consumer<String> debugLog;
    private final List<PassRun> runs = new ArrayList<>();
    private final Map<Class<?>, Object> results = new HashMap<>();

    private PassContext(Builder b) {
        this.options = b.options;
        this.evaluator = b.evaluator;
        this.verify = b.verify;
        this.dumpDir = b.dumpDir;
        this.debugLog = b.debugLog;
    }

    public static Builder builder() { return new Builder(); }

    public PassOptions options() { return options; }

    /** The evaluator for compile-time values; null when the caller gave none (folding then skips general ops). */
    public GraphEvaluator evaluator() { return evaluator; }

    public boolean verify() { return verify; }

    /** Notes something a person debugging the pipeline wants to know, e.g. an op a pass left alone. */
    public void debug(String message) { debugLog.accept(message); }

    public List<PassRun> runs() { return Collections.unmodifiableList(runs); }

    /** Stores an analysis result (e.g. the memory plan) for later stages, by its type. */
    public <T> void putResult(Class<T> type, T value) { results.put(type, value); }

    public <T> T result(Class<T> type) { return type.cast(results.get(type)); }

    void recordRun(Pass pass, long nanos, int before, int after, Graph result) {
        runs.add(new PassRun(pass.name(), nanos, before, after));
        if (dumpDir == null) return;
        try {
            Files.createDirectories(dumpDir);
            // Text only: the dumps are for reading, and weights once per pass would multiply the model's size on disk.
            Files.writeString(dumpDir.resolve(String.format("%02d-%s.ir", runs.size(), pass.name())), IrPrinter.print(result));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the IR dump to " + dumpDir, e);
        }
    }

    /** Builds a context; by default options are the defaults, results are verified, and nothing is dumped. */
    public static final class Builder {
        private PassOptions options = PassOptions.defaults();
        private GraphEvaluator evaluator;
        private boolean verify = true;
        private Path dumpDir;
        private Consumer<String> debugLog = m -> { };

        public Builder options(PassOptions o) { options = o; return this; }

        public Builder evaluator(GraphEvaluator e) { evaluator = e; return this; }

        public Builder verify(boolean v) { verify = v; return this; }

        /** Writes the IR text after each pass as {@code DIR/NN-<pass>.ir} (large constants as digests, not bytes). */
        public Builder dumpDir(Path dir) { dumpDir = dir; return this; }

        public Builder debugLog(Consumer<String> log) { debugLog = log; return this; }

        public PassContext build() { return new PassContext(this); }
    }
}
