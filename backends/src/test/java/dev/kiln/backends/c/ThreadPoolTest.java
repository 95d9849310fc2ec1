package dev.kiln.backends.c;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * threads.h on its own, compiled with gcc for this machine: over thousands of parallel-fors of 1 to 5000
 * items, every item runs exactly once, on 1 to 4 threads (more threads than this machine may have cores, so
 * workers are descheduled while they hold chunks), the pool restarted between; every call hands work over,
 * however small (threshold 0).
 */
class ThreadPoolTest {
    @TempDir
    Path dir;

    private static final String MAIN = """
            static int runs[5000];
            static void count_items(void* ctx, long begin, long end, float* ws) {
                (void) ctx;
                (void) ws;
                for (long i = begin; i < end; i++) __atomic_add_fetch(&runs[i], 1, __ATOMIC_RELAXED);
            }
            int main(void) {
                long wrong = 0, calls = 0;
                unsigned seed = 1;
                for (int threads = 1; threads <= 4; threads++) {
                    for (int start = 0; start < 2; start++) {
                        if (kiln_pool_start(threads, 16) != 0) return 2;
                        for (int call = 0; call < 2000; call++, calls++) {
                            seed = seed * 1103515245u + 12345u;
                            long count = 1 + (long) (seed >> 8) % (call % 8 == 0 ? 5000 : 40);
                            kiln_parallel_for(count, 1, count_items, 0, 0);
                            for (long i = 0; i < count; i++) {
                                if (runs[i] != 1) wrong++;
                                runs[i] = 0;
                            }
                        }
                    }
                }
                kiln_pool_stop();
                printf("calls %ld wrong %ld\\n", calls, wrong);
                return 0;
            }
            """;

    @Test
    void everyItemRunsOnceOnAnyThreadCount() throws Exception {
        Path source = dir.resolve("pool.c");
        Files.writeString(source, KernelSources.text("base.h") + KernelSources.text("threads.h") + MAIN, StandardCharsets.UTF_8);
        Path program = dir.resolve("pool");
        GccCompiler.run(List.of("gcc", "-O2", "-Wall", "-Werror", "-Wno-unused-function", "-pthread", "-DKILN_PARALLEL_MIN_WORK=0", "-o",
                program.toString(), source.toString(), "-lm"), "the C compiler", "to compile " + source);
        String output = GccCompiler.run(List.of(program.toString()), "the pool test", "to run " + program);
        assertEquals("calls 16000 wrong 0", output.strip());
    }
}
