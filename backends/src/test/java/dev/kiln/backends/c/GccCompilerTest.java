package dev.kiln.backends.c;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Toolchain commands: their output, their failures, and killing them when the compiling thread is interrupted. */
class GccCompilerTest {
    @Test
    void returnsTheOutputOfACommand() {
        assertEquals("hello\n", GccCompiler.run(List.of("sh", "-c", "echo hello; echo >&2 -n"), "sh", "to greet"));
    }

    @Test
    void aFailingCommandReportsItsExitAndOutput() {
        var e = assertThrows(IllegalStateException.class,
                () -> GccCompiler.run(List.of("sh", "-c", "echo broken; exit 3"), "sh", "to fail"));
        assertTrue(e.getMessage().startsWith("sh failed (exit 3) to fail:"), e.getMessage());
        assertTrue(e.getMessage().contains("broken"), e.getMessage());
    }

    @Test
    void interruptingTheThreadKillsTheCommandAndItsChildren() throws Exception {
        // The shell starts a child that would outlive a kill of the shell alone.
        var pids = new CompletableFuture<List<ProcessHandle>>();
        var outcome = new CompletableFuture<Throwable>();
        Thread compiling = new Thread(() -> {
            try {
                GccCompiler.run(List.of("sh", "-c", "sleep 60 & wait"), "sh", "to sleep");
                outcome.complete(null);
            } catch (Throwable t) {
                outcome.complete(t);
            }
        });
        long before = ProcessHandle.current().descendants().count();
        compiling.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (ProcessHandle.current().descendants().filter(h -> h.info().command().orElse("").endsWith("sleep")).count() == 0) {
            assertTrue(System.nanoTime() < deadline, "the command did not start");
            Thread.sleep(20);
        }
        pids.complete(ProcessHandle.current().descendants().toList());
        long t0 = System.nanoTime();
        compiling.interrupt();
        Throwable thrown = outcome.get(5, TimeUnit.SECONDS);
        assertInstanceOf(CancellationException.class, thrown);
        assertTrue(thrown.getMessage().contains("to sleep"), thrown.getMessage());
        for (ProcessHandle h : pids.get()) {
            h.onExit().get(5, TimeUnit.SECONDS);
            assertFalse(h.isAlive(), "process " + h.pid() + " outlived the interrupt");
        }
        assertTrue(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0) < 5);
        assertEquals(before, ProcessHandle.current().descendants().count());
    }

    @Test
    void anInterruptedThreadStartsNothing() {
        Thread.currentThread().interrupt();
        try {
            assertThrows(CancellationException.class, () -> GccCompiler.run(List.of("true"), "true", "to do nothing"));
        } finally {
            Thread.interrupted();
        }
    }
}
