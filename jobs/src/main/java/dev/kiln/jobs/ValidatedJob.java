package dev.kiln.jobs;

import dev.kiln.backends.CompilerOptions;
import dev.kiln.backends.Target;
import java.time.Duration;
import java.util.Optional;

/**
 * A CreateCompilationJob request that {@link RequestValidation} accepted, with what it resolved: the
 * framework, the input shapes, the target with its CompilerOptions and the stopping limits.
 *
 * @param maxRuntime how long compiling may take (MaxRuntimeInSeconds, 900 s when not given)
 * @param maxWait how long the job may take from creation to its end, when MaxWaitTimeInSeconds is given
 */
record ValidatedJob(CreateCompilationJobRequest request, Framework framework, InputShapes shapes, Target target,
                    CompilerOptions options, Duration maxRuntime, Optional<Duration> maxWait) {

    /**
     * The CoreML class_labels file the model archive must hold. Only the job can check that, once it has
     * extracted the archive; a missing file is a ClientError there.
     */
    Optional<String> classLabelsFile() { return options.classLabels(); }
}
