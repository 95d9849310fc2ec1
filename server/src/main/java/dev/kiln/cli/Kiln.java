package dev.kiln.cli;

import dev.kiln.frontend.ImportException;
import dev.kiln.ir.IrException;
import dev.kiln.jobs.CompilationJobException;
import dev.kiln.runtime.interpreter.InterpreterException;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;

/** The {@code kiln} command line. */
public final class Kiln {
    static final String USAGE = """
            usage: kiln <command> [options]
              run MODEL --input NAME=FILE.npy ... --output-dir DIR [--data-input-config JSON]
                        [--warmup N --repeat N] [--threads N] [--verbose]
                  run an .onnx model, an .ir file or a compiled MODEL-TARGET.tar.gz; writes
                  DIR/<output>.npy, and with --repeat prints {"median_ms":..,"p90_ms":..,"min_ms":..}
              run ARTIFACT --input NAME=FILE.npy ... --profile [--json] [--output-dir DIR]
                        [--warmup N (3) --repeat N (20)] [--threads N]
                  the time of each node of a compiled artifact, counted in its native code: a table
                  sorted by time (node, op, median ms, share, FLOPs, GFLOP/s), or --json
              optimize MODEL --opt-level N --output OUT.ir [--data-input-config JSON] [--dump-ir DIR]
                        [--layout NCHW|NHWC|NCHW{4,8,16}c] [--dtype fp32|fp16|bf16|int8]
                        [--calibration DIR [--calibration-method minmax|percentile]] [--verbose]
                  the optimised IR (weights in OUT.ir.weights), runnable by kiln run; --dump-ir
                  writes the IR after each pass as DIR/NN-<pass>.ir
              compile --model PATH|URI --framework F [--framework-version V] --data-input-config JSON
                        (--target-device D | --target-platform JSON) [--compiler-options JSON]
                        --output DIR|URI [--name NAME] [--data-dir DIR] [--max-runtime-seconds N]
                        [--kms-key-id KEY] [--region R] [--s3-endpoint URL [--s3-region R]]
                  one compilation job (model .tar.gz in, <archive>-<target>.tar.gz out; a bare model
                  file or directory is packed into the .tar.gz first); prints
                  DescribeCompilationJob's JSON; exit 0 only when COMPLETED
              jobs list|describe|stop|delete|logs [NAME] [--data-dir DIR]
                        [--name-contains S] [--status S] [--sort-by Name|CreationTime|Status]
                        [--sort-order Ascending|Descending] [--max-results N]
                  the compilation jobs of a data directory (default ~/.kiln); logs NAME = jobs logs NAME
              serve --port P [--data-dir DIR] [--host H] [--workers N] [--queue-limit N] [--region R]
                        [--s3-endpoint URL [--s3-region R]]
                  the SageMaker-compatible endpoint (AWS JSON 1.1, SigV4) for the compilation-job
                  operations; aws/boto3 reach it with --endpoint-url http://H:P
              keys add [--data-dir DIR] [--account ID]
                  a new access key for serve; prints {"AccessKeyId":..,"SecretAccessKey":..,"Account":..}
              demo  import and run a bundled model end to end, saying what happens
            """;

    private Kiln() {}

    public static void main(String[] argv) {
        System.exit(run(List.of(argv), System.out, System.err));
    }

    /** Runs one command; returns the process exit code (0 ok, 2 bad input, 1 internal error). */
    static int run(List<String> argv, PrintStream out, PrintStream err) {
        boolean verbose = argv.contains("--verbose");
        if (argv.isEmpty() || argv.get(0).equals("--help") || argv.get(0).equals("help")) {
            (argv.isEmpty() ? err : out).print(USAGE);
            return argv.isEmpty() ? 2 : 0;
        }
        List<String> rest = argv.subList(1, argv.size());
        try {
            return switch (argv.get(0)) {
                case "run" -> RunCommand.run(rest, out);
                case "optimize" -> OptimizeCommand.run(rest, out, err);
                case "demo" -> DemoCommand.run(rest, out);
                case "compile" -> CompileCommand.run(rest, out, err);
                case "jobs" -> JobsCommand.run(rest, out);
                case "serve" -> ServeCommand.run(rest, err);
                case "keys" -> KeysCommand.run(rest, out);
                case "logs" -> JobsCommand.run(java.util.stream.Stream.concat(java.util.stream.Stream.of("logs"), rest.stream()).toList(), out);
                default -> throw new UsageException("unknown command '" + argv.get(0) + "'; commands: run, optimize, compile, jobs, logs, serve, keys, demo");
            };
        } catch (UsageException | ImportException | IrException | InterpreterException | IllegalArgumentException e) {
            err.println("kiln: " + oneLine(e.getMessage()));
            if (verbose) e.printStackTrace(err);
            return 2;
        } catch (CompilationJobException e) {
            err.println("kiln: " + e.error().awsName() + ": " + oneLine(e.getMessage()));
            return 2;
        } catch (InterruptedException e) {
            err.println("kiln: interrupted");
            return 1;
        } catch (java.io.IOException e) {
            err.println("kiln: " + oneLine(e.getMessage()));
            if (verbose) e.printStackTrace(err);
            return 2;
        } catch (OutOfMemoryError e) {
            err.println("kiln: out of memory; the model or its inputs are too large for this JVM's heap (-Xmx)");
            return 2;
        } catch (RuntimeException | StackOverflowError e) {
            err.println("kiln: internal error: " + oneLine(e.toString()) + (verbose ? "" : " (--verbose shows where)"));
            if (verbose) e.printStackTrace(err);
            return 1;
        }
    }

    /** Messages go on one stderr line; embedded newlines (multi-problem reports) are folded. */
    static String oneLine(String s) {
        if (s == null) return "";
        return Arrays.stream(s.split("\\R")).map(String::strip).filter(l -> !l.isEmpty()).reduce((a, b) -> a + "; " + b).orElse("");
    }
}
