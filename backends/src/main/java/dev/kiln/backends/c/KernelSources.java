package dev.kiln.backends.c;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The C kernel sources under resources kernels/, each with the sources it builds on. A generated file holds
 * the {@link #ALWAYS} sources and those its nodes' families call, each once, in the order of this table
 * (which lists every source after the ones it builds on).
 */
final class KernelSources {
    private KernelSources() {}

    /** Every generated file includes these: types, errors, run-time buffers, the epilogue, the thread pool and the profile's clock. */
    static final List<String> ALWAYS = List.of("base.h", "activations.h", "threads.h", "profile.h");

    private static final Map<String, List<String>> SOURCES = table();

    private static Map<String, List<String>> table() {
        Map<String, List<String>> t = new LinkedHashMap<>();
        t.put("base.h", List.of());
        t.put("activations.h", List.of("base.h"));
        t.put("threads.h", List.of("base.h"));
        t.put("profile.h", List.of("threads.h"));
        t.put("elementwise.h", List.of("activations.h"));
        t.put("convert.h", List.of("base.h"));
        t.put("gemm.h", List.of("activations.h", "threads.h"));
        t.put("matmul_any.h", List.of("activations.h", "threads.h"));
        t.put("conv.h", List.of("gemm.h"));
        t.put("conv_nd.h", List.of("conv.h"));
        t.put("pool.h", List.of("threads.h"));
        t.put("pool_nd.h", List.of("threads.h"));
        t.put("blocked.h", List.of("activations.h", "threads.h"));
        t.put("blocked_conv.h", List.of("blocked.h", "threads.h"));
        t.put("blocked_group_conv.h", List.of("blocked_conv.h"));
        t.put("blocked_depthwise.h", List.of("blocked_conv.h"));
        t.put("squeeze_excite.h", List.of("blocked.h", "threads.h"));
        t.put("blocked_pool.h", List.of("blocked.h", "pool.h"));
        t.put("blocked_conv_transpose.h", List.of("blocked_conv.h"));
        t.put("small_gemm.h", List.of("activations.h", "threads.h"));
        t.put("softmax.h", List.of("activations.h", "threads.h"));
        t.put("layer_norm.h", List.of("activations.h", "threads.h"));
        t.put("attention.h", List.of("activations.h", "threads.h"));
        t.put("shape_copy.h", List.of("base.h"));
        t.put("shape_rules.h", List.of("base.h"));
        t.put("gather.h", List.of("base.h"));
        t.put("scatter.h", List.of("gather.h"));
        t.put("unique.h", List.of("base.h"));
        t.put("resize.h", List.of("gather.h", "threads.h"));
        t.put("attention_general.h", List.of("threads.h"));
        t.put("quantized.h", List.of("threads.h"));
        t.put("recurrent.h", List.of("activations.h", "threads.h"));
        t.put("topk.h", List.of("base.h"));
        return t;
    }

    /** The sources to include for {@code wanted}, with what they build on, in table order. */
    static List<String> closure(Collection<String> wanted) {
        Set<String> needed = new LinkedHashSet<>();
        List<String> todo = new ArrayList<>(ALWAYS);
        todo.addAll(wanted);
        while (!todo.isEmpty()) {
            String f = todo.remove(todo.size() - 1);
            List<String> deps = SOURCES.get(f);
            if (deps == null) throw new IllegalStateException("kernel source " + f + " is not in KernelSources");
            if (needed.add(f)) todo.addAll(deps);
        }
        return SOURCES.keySet().stream().filter(needed::contains).toList();
    }

    /** Every kernel source, in include order. */
    static List<String> all() { return List.copyOf(SOURCES.keySet()); }

    static String text(String file) {
        try (InputStream in = KernelSources.class.getResourceAsStream("kernels/" + file)) {
            if (in == null) throw new IllegalStateException("kernel source " + file + " is missing from the classpath");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
