package dev.kiln.cli;

import dev.kiln.cli.KilnCliTest.Result;
import dev.kiln.jobs.CompilationJobStatus;
import dev.kiln.jobs.CompilationJobs;
import dev.kiln.jobs.DescribeCompilationJobResponse;
import dev.kiln.jobs.JobsConfig;
import dev.kiln.jobs.JobsJson;
import dev.kiln.jobs.ModelArchiveWriter;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.kiln.cli.KilnCliTest.assertUserError;
import static dev.kiln.cli.KilnCliTest.kiln;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kiln compile} and {@code kiln jobs}: one job in this process, and the store it leaves behind. */
class CompileCommandTest {
    private static final String SHAPES = "{\"input0\":[1,3,224,224]}";

    @TempDir
    Path dir;

    private Path archive() throws Exception {
        Path archive = dir.resolve("squeezenet.tar.gz");
        ModelArchiveWriter.write(Fixtures.dir("squeezenet1_1").resolve("model.onnx"), archive);
        return archive;
    }

    private String[] compile(Path archive, String name, String shapes, String... more) {
        List<String> argv = new ArrayList<>(List.of("compile", "--model", archive.toString(), "--framework", "ONNX",
                "--data-input-config", shapes, "--output", dir.resolve("out").toString(), "--name", name,
                "--data-dir", dir.resolve("data").toString()));
        argv.addAll(List.of(more));
        return argv.toArray(String[]::new);
    }

    @Test
    void compilesOneJobAndPrintsItsDescription() throws Exception {
        Path archive = archive();
        Result r = kiln(compile(archive, "cli-job", SHAPES, "--target-platform", "{\"Os\": \"LINUX\", \"Arch\": \"X86_64\"}",
                "--compiler-options", "{'mcpu': 'skylake-avx512'}"));
        assertEquals(0, r.code(), r.err());
        var d = JobsJson.read(r.out(), DescribeCompilationJobResponse.class);
        assertEquals(CompilationJobStatus.COMPLETED, d.compilationJobStatus());
        assertEquals(dir.resolve("out/squeezenet-linux_x86_64.tar.gz").toString(), d.modelArtifacts().s3ModelArtifacts());
        assertTrue(Files.isRegularFile(dir.resolve("out/squeezenet-linux_x86_64.tar.gz")));

        Result list = kiln("jobs", "list", "--data-dir", dir.resolve("data").toString());
        assertEquals(0, list.code(), list.err());
        assertTrue(list.out().contains("\"CompilationJobName\" : \"cli-job\""), list.out());
        Result logs = kiln("logs", "cli-job", "--data-dir", dir.resolve("data").toString());
        assertTrue(logs.out().lines().anyMatch(l -> l.contains("COMPLETED: ")), logs.out());
        Result describe = kiln("jobs", "describe", "cli-job", "--data-dir", dir.resolve("data").toString());
        assertEquals(d, JobsJson.read(describe.out(), DescribeCompilationJobResponse.class));
        assertUserError(kiln("jobs", "stop", "cli-job", "--data-dir", dir.resolve("data").toString()),
                "ValidationException: compilation job cli-job is COMPLETED");
        assertEquals(0, kiln("jobs", "delete", "cli-job", "--data-dir", dir.resolve("data").toString()).code());
        assertUserError(kiln("jobs", "describe", "cli-job", "--data-dir", dir.resolve("data").toString()),
                "ResourceNotFound: no compilation job named cli-job");
    }

    @Test
    void aJobThatFailsExitsNonZeroWithItsReason() throws Exception {
        Path archive = archive();
        Result r = kiln(compile(archive, "wrong-input", "{\"data\":[1,3,224,224]}", "--target-device", "ml_c5"));
        assertEquals(1, r.code(), r.err());
        var d = JobsJson.read(r.out(), DescribeCompilationJobResponse.class);
        assertEquals(CompilationJobStatus.FAILED, d.compilationJobStatus());
        assertTrue(r.err().startsWith("kiln: wrong-input FAILED: ClientError"), r.err());
    }

    @Test
    void aBareModelFileOrDirectoryIsPackedForTheJob() throws Exception {
        Path file = Files.copy(Fixtures.dir("squeezenet1_1").resolve("model.onnx"), dir.resolve("squeeze.onnx"));
        Result r = kiln(compile(file, "bare-file", SHAPES, "--target-device", "ml_c5"));
        assertEquals(0, r.code(), r.err());
        assertEquals(dir.resolve("out/squeeze-ml_c5.tar.gz").toString(),
                JobsJson.read(r.out(), DescribeCompilationJobResponse.class).modelArtifacts().s3ModelArtifacts());

        Path folder = Files.createDirectories(dir.resolve("sq"));
        Files.copy(file, folder.resolve("model.onnx"));
        r = kiln(compile(folder, "bare-dir", SHAPES, "--target-device", "ml_c5"));
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(dir.resolve("out/sq-ml_c5.tar.gz")));
        assertTrue(Files.notExists(dir.resolve("data/packed/bare-file")) && Files.notExists(dir.resolve("data/packed/bare-dir")),
                "the packed archives go once their jobs ended");

        Files.createSymbolicLink(folder.resolve("link.onnx"), file);
        assertUserError(kiln(compile(folder, "linked", SHAPES, "--target-device", "ml_c5")), "holds a link");
    }

    @Test
    void aRequestThatFailsValidationCreatesNoJob() throws Exception {
        Path archive = archive();
        assertUserError(kiln(compile(archive, "bad", "{\"input0\":[1,\"three\"]}", "--target-device", "ml_c5")),
                "ValidationException: ");
        assertUserError(kiln(compile(archive, "both", SHAPES, "--target-device", "ml_c5", "--target-platform", "{\"Os\":\"LINUX\",\"Arch\":\"X86_64\"}")),
                "ValidationException: ");
        assertUserError(kiln("jobs", "describe", "bad", "--data-dir", dir.resolve("data").toString()), "ResourceNotFound");
    }

    @Test
    void aKilledCompileIsFailedWhenTheStoreIsOpenedAgain() throws Exception {
        Path archive = archive();
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(), "-cp",
                System.getProperty("java.class.path"), Kiln.class.getName()));
        cmd.addAll(List.of(compile(archive, "killed", SHAPES, "--target-device", "ml_c5")));
        Process child = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("child.log").toFile()).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
            // Kill it once it is compiling: its C compiler is running.
            while (child.descendants().noneMatch(p -> p.info().command().map(c -> c.contains("gcc") || c.endsWith("cc1")).orElse(false))) {
                assertTrue(child.isAlive() && System.nanoTime() < deadline, "the compile never reached its C compiler: "
                        + Files.readString(dir.resolve("child.log")));
                Thread.sleep(20);
            }
            List<ProcessHandle> orphans = child.descendants().toList();
            child.destroyForcibly().waitFor();
            orphans.forEach(ProcessHandle::destroyForcibly);
        } finally {
            child.destroyForcibly();
        }
        try (CompilationJobs jobs = CompilationJobs.open(JobsConfig.at(dir.resolve("data")).withWorkers(0))) {
            var d = jobs.describeCompilationJob("killed");
            assertEquals(CompilationJobStatus.FAILED, d.compilationJobStatus());
            assertTrue(d.failureReason().startsWith("InternalError: the Kiln process running this job ended"), d.failureReason());
        }
        assertTrue(Files.notExists(dir.resolve("out/squeezenet-ml_c5.tar.gz")), "no artifact from a killed compile");
    }
}
