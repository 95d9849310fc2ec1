package dev.kiln.jobs;

import dev.kiln.jobs.CreateCompilationJobRequest.InputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.NeoVpcConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.OutputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.StoppingCondition;
import java.time.Instant;

/**
 * What DescribeCompilationJob returns. CreationTime is when the job was accepted, CompilationStartTime when
 * a worker began it, CompilationEndTime when its artifact finished uploading (or it failed or stopped),
 * LastModifiedTime when its status last changed. Members not yet known are null.
 */
public record DescribeCompilationJobResponse(String compilationJobName, String compilationJobArn,
                                             CompilationJobStatus compilationJobStatus,
                                             Instant compilationStartTime, Instant compilationEndTime,
                                             StoppingCondition stoppingCondition, String inferenceImage,
                                             String modelPackageVersionArn, Instant creationTime,
                                             Instant lastModifiedTime, String failureReason,
                                             ModelArtifacts modelArtifacts, ModelDigests modelDigests,
                                             String roleArn, InputConfig inputConfig, OutputConfig outputConfig,
                                             NeoVpcConfig vpcConfig, DerivedInformation derivedInformation) {
    /** The compiled artifact's location; empty until the job completes, as SageMaker reports it. */
    public record ModelArtifacts(String s3ModelArtifacts) {}

    /** The BLAKE2b-512 of the artifact, in hex as b2sum prints it. */
    public record ModelDigests(String artifactDigest) {}

    /** The input shapes as the compiler used them (for a model whose DataInputConfig was derived). */
    public record DerivedInformation(String derivedDataInputConfig) {}
}
