package dev.kiln.jobs;

import java.util.List;

/** The CreateCompilationJob request; members as the SageMaker API names them, null when not given. */
public record CreateCompilationJobRequest(String compilationJobName, String roleArn, InputConfig inputConfig,
                                          OutputConfig outputConfig, NeoVpcConfig vpcConfig,
                                          StoppingCondition stoppingCondition, List<Tag> tags,
                                          String modelPackageVersionArn) {
    /** Where the model archive is, the shapes of its inputs and the framework that trained it. */
    public record InputConfig(String s3Uri, String dataInputConfig, String framework, String frameworkVersion) {}

    /** Where the artifact goes and the target it is compiled for (exactly one of TargetDevice and TargetPlatform). */
    public record OutputConfig(String s3OutputLocation, String targetDevice, TargetPlatform targetPlatform,
                               String compilerOptions, String kmsKeyId) {}

    public record TargetPlatform(String os, String arch, String accelerator) {}

    /** Limits in seconds; MaxPendingTimeInSeconds belongs to other job kinds and is refused for compilation. */
    public record StoppingCondition(Integer maxRuntimeInSeconds, Integer maxWaitTimeInSeconds,
                                    Integer maxPendingTimeInSeconds) {}

    public record NeoVpcConfig(List<String> securityGroupIds, List<String> subnets) {}

    public record Tag(String key, String value) {}
}
