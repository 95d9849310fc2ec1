package dev.kiln.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.backends.Target.Accelerator;
import dev.kiln.backends.Target.Arch;
import dev.kiln.backends.Target.Os;
import dev.kiln.jobs.CreateCompilationJobRequest.InputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.NeoVpcConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.OutputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.StoppingCondition;
import dev.kiln.jobs.CreateCompilationJobRequest.Tag;
import dev.kiln.jobs.CreateCompilationJobRequest.TargetPlatform;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class RequestValidationTest {
    static final String ROLE = "arn:aws:iam::123456789012:role/service-role/KilnCompile";

    /** A valid request (ONNX for ml_c5) whose members a test changes one at a time. */
    static final class Req {
        String name = "resnet50-onnx", role = ROLE, modelPackage;
        boolean withInput = true, withOutput = true, withStopping = true;
        String s3Uri = "s3://models/resnet50.tar.gz", dataInputConfig = "{\"data\":[1,3,224,224]}",
                framework = "ONNX", frameworkVersion;
        String outputLocation = "s3://artifacts/resnet50/", device = "ml_c5", compilerOptions, kmsKeyId;
        TargetPlatform platform;
        Integer maxRuntime = 900, maxWait, maxPending;
        NeoVpcConfig vpc;
        List<Tag> tags;

        Req platform(String os, String arch, String accelerator) {
            device = null;
            platform = new TargetPlatform(os, arch, accelerator);
            return this;
        }

        CreateCompilationJobRequest build() {
            return new CreateCompilationJobRequest(name, role,
                    withInput ? new InputConfig(s3Uri, dataInputConfig, framework, frameworkVersion) : null,
                    withOutput ? new OutputConfig(outputLocation, device, platform, compilerOptions, kmsKeyId) : null,
                    vpc, withStopping ? new StoppingCondition(maxRuntime, maxWait, maxPending) : null, tags,
                    modelPackage);
        }
    }

    static ValidatedJob accept(Consumer<Req> change) {
        Req r = new Req();
        change.accept(r);
        return RequestValidation.check(r.build());
    }

    /** The message of the VALIDATION error the changed request gets. */
    static String refuse(Consumer<Req> change) {
        Req r = new Req();
        change.accept(r);
        CompilationJobException e = assertThrows(CompilationJobException.class, () -> RequestValidation.check(r.build()));
        assertEquals(CompilationJobException.Error.VALIDATION, e.error());
        return e.getMessage();
    }

    private static void refuses(String message, Consumer<Req> change) { assertEquals(message, refuse(change)); }

    private static void refusesWith(String part, Consumer<Req> change) {
        String message = refuse(change);
        assertTrue(message.contains(part), () -> "'" + message + "' should contain '" + part + "'");
    }

    @Test
    void acceptsAValidRequestAndResolvesIt() {
        ValidatedJob job = accept(r -> {});
        assertEquals(Framework.ONNX, job.framework());
        assertEquals("ml_c5", job.target().name());
        assertEquals("{\"data\":[1,3,224,224]}", job.shapes().canonicalJson());
        assertEquals(Duration.ofSeconds(900), job.maxRuntime());
        assertEquals(Optional.empty(), job.maxWait());
        assertEquals(Optional.empty(), job.classLabelsFile());
    }

    @Test
    void compilationJobName() {
        accept(r -> r.name = "a");
        accept(r -> r.name = "a-b--c9");
        accept(r -> r.name = "a".repeat(63));
        refuses("Value 'my_job' at 'CompilationJobName' failed to satisfy constraint: Member must satisfy regular "
                + "expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", r -> r.name = "my_job");
        refusesWith("pattern", r -> r.name = "-job");
        refusesWith("pattern", r -> r.name = "job-");
        refuses("Value '" + "a".repeat(64) + "' at 'CompilationJobName' failed to satisfy constraint: Member must "
                + "have length less than or equal to 63", r -> r.name = "a".repeat(64));
        refuses("Value '' at 'CompilationJobName' failed to satisfy constraint: Member must have length greater "
                + "than or equal to 1", r -> r.name = "");
        refuses("Value null at 'CompilationJobName' failed to satisfy constraint: Member must not be null",
                r -> r.name = null);
    }

    @Test
    void roleArn() {
        accept(r -> r.role = "arn:aws-cn:iam::123456789012:role/Neo");
        refusesWith("at 'RoleArn' failed to satisfy constraint: Member must satisfy regular expression pattern",
                r -> r.role = "arn:aws:iam::12345:role/Neo-compile-role");
        refusesWith("at 'RoleArn' failed to satisfy constraint: Member must have length greater than or equal to 20",
                r -> r.role = "arn:aws:iam::1:role");
        refusesWith("Value null at 'RoleArn'", r -> r.role = null);
    }

    @Test
    void requiredMembers() {
        refuses("Value null at 'InputConfig' failed to satisfy constraint: Member must not be null",
                r -> r.withInput = false);
        refuses("Value null at 'OutputConfig' failed to satisfy constraint: Member must not be null",
                r -> r.withOutput = false);
        refuses("Value null at 'StoppingCondition' failed to satisfy constraint: Member must not be null",
                r -> r.withStopping = false);
        refusesWith("Value null at 'InputConfig.S3Uri'", r -> r.s3Uri = null);
        refusesWith("Value null at 'InputConfig.Framework'", r -> r.framework = null);
        refusesWith("Value null at 'OutputConfig.S3OutputLocation'", r -> r.outputLocation = null);
    }

    @Test
    void modelPackagesAreNotSupported() {
        String arn = "arn:aws:sagemaker:us-west-2:123456789012:model-package/resnet/1";
        refuses("ModelPackageVersionArn: compiling from a model package is not supported; give InputConfig with the "
                + "model archive's S3Uri, its Framework and DataInputConfig instead", r -> {
            r.withInput = false;
            r.modelPackage = arn;
        });
        refuses("InputConfig and ModelPackageVersionArn are mutually exclusive, and Kiln compiles from InputConfig: "
                + "leave ModelPackageVersionArn out", r -> r.modelPackage = arn);
        refusesWith("at 'ModelPackageVersionArn' failed to satisfy constraint: Member must satisfy regular expression",
                r -> r.modelPackage = "arn:aws:sagemaker:us-west-2:123456789012:model/resnet");
    }

    @Test
    void inputLocations() {
        accept(r -> r.s3Uri = "s3://models/zoo/resnet50.tar.gz");
        accept(r -> r.s3Uri = "https://models.s3.amazonaws.com/resnet50.tar.gz?versionId=3");
        accept(r -> r.s3Uri = "file:///srv/models/resnet50.tar.gz");
        accept(r -> r.s3Uri = "/srv/models/resnet50.tar.gz");
        accept(r -> r.s3Uri = "models/resnet50.tar.gz");
        refuses("InputConfig.S3Uri 's3://models/resnet50.zip' must point to a single gzip compressed tar archive "
                + "(.tar.gz suffix)", r -> r.s3Uri = "s3://models/resnet50.zip");
        refusesWith("(.tar.gz suffix)", r -> r.s3Uri = "models/resnet50.tgz");
        refuses("InputConfig.S3Uri 's3://models' names models but no object in it; expected the model archive's URI, "
                + "e.g. s3://models/model.tar.gz", r -> r.s3Uri = "s3://models");
        refusesWith("no object in it", r -> r.s3Uri = "s3://models/");
        refuses("Value 's3:///resnet50.tar.gz' at 'InputConfig.S3Uri' failed to satisfy constraint: Member must "
                + "satisfy regular expression pattern: (https|s3)://([^/]+)/?(.*)", r -> r.s3Uri = "s3:///resnet50.tar.gz");
        refuses("InputConfig.S3Uri 'file://host/m.tar.gz' is not a file URI of an absolute path; expected "
                + "file:///absolute/path", r -> r.s3Uri = "file://host/m.tar.gz");
        refuses("InputConfig.S3Uri 'gs://models/m.tar.gz' uses the scheme 'gs'; expected an s3:// or https:// URI, "
                + "a file:/// URI or a filesystem path", r -> r.s3Uri = "gs://models/m.tar.gz");
        refusesWith("uses the scheme 'http'", r -> r.s3Uri = "http://models/m.tar.gz");
        refuses("InputConfig.S3Uri 's3://bad bucket/m.tar.gz' is not a location Kiln can read or write: an "
                + "s3://BUCKET/KEY URI with a valid bucket name, an S3 https URL, a file:/// URI or a path",
                r -> r.s3Uri = "s3://bad bucket/m.tar.gz");
        refusesWith("is not a location Kiln can read or write",
                r -> r.s3Uri = "https://models.s3.amazonaws.com/resnet50.tar.gz?X-Amz-Signature=abc");
        refuses("InputConfig.S3Uri 'models/a\\u000ab.tar.gz' is not a location; expected an s3:// or https:// URI, a "
                + "file:/// URI or a filesystem path, without control characters", r -> r.s3Uri = "models/a\nb.tar.gz");
        refusesWith("is not a location", r -> r.s3Uri = "");
        refusesWith("at 'InputConfig.S3Uri' failed to satisfy constraint: Member must have length less than or equal "
                + "to 1024", r -> r.s3Uri = "s3://models/" + "k".repeat(1006) + ".tar.gz");
    }

    @Test
    void outputLocations() {
        accept(r -> r.outputLocation = "s3://artifacts");
        accept(r -> r.outputLocation = "file:///srv/artifacts");
        accept(r -> r.outputLocation = "out");
        refuses("OutputConfig.S3OutputLocation 'https://artifacts.s3.amazonaws.com/x?versionId=3' is a location to write "
                + "to: it takes no query such as ?versionId=", r -> r.outputLocation = "https://artifacts.s3.amazonaws.com/x?versionId=3");
        refusesWith("OutputConfig.S3OutputLocation 'ftp://artifacts' uses the scheme 'ftp'",
                r -> r.outputLocation = "ftp://artifacts");
        refusesWith("at 'OutputConfig.S3OutputLocation' failed to satisfy constraint: Member must satisfy regular "
                + "expression pattern", r -> r.outputLocation = "s3:///out");
    }

    @Test
    void frameworkAndVersion() {
        refuses("Value 'onnx' at 'InputConfig.Framework' failed to satisfy constraint: Member must satisfy enum "
                + "value set: [TENSORFLOW, KERAS, MXNET, ONNX, PYTORCH, XGBOOST, TFLITE, DARKNET, SKLEARN]",
                r -> r.framework = "onnx");
        ValidatedJob job = accept(r -> {
            r.framework = "PYTORCH";
            r.frameworkVersion = "1.8";
            r.dataInputConfig = "[[1,3,224,224]]";
        });
        assertEquals(Framework.PYTORCH, job.framework());
        accept(r -> {
            r.framework = "TENSORFLOW";
            r.frameworkVersion = "2.4.1rc0";
            r.dataInputConfig = "{\"input\":[1,224,224,3]}";
        });
        refuses("InputConfig.FrameworkVersion '1.8' is supported only for the MXNET, PYTORCH, TENSORFLOW and TFLITE "
                + "frameworks; leave it out for ONNX", r -> r.frameworkVersion = "1.8");
        for (String bad : List.of("v1.8", "1", "1.8-cuda", "1.2.3.4.5.6")) {
            refusesWith("at 'InputConfig.FrameworkVersion' failed to satisfy constraint", r -> {
                r.framework = "PYTORCH";
                r.frameworkVersion = bad;
            });
        }
    }

    @Test
    void dataInputConfigLengthAndShapes() {
        refuses("Value '' at 'InputConfig.DataInputConfig' failed to satisfy constraint: Member must have length "
                + "greater than or equal to 1", r -> r.dataInputConfig = "");
        refusesWith("Member must have length less than or equal to 16384",
                r -> r.dataInputConfig = "{\"data\":[1,3,224,224]}" + " ".repeat(16384 - 21));
        accept(r -> r.dataInputConfig = "{\"data\":[1,3,224,224]}" + " ".repeat(16384 - 22));
        refuses("ClientError: InputConfiguration: DataInputConfig is required for ONNX. Please provide input shapes "
                + "for all inputs in the dictionary format {\"input_name\": [1,3,224,224]}", r -> r.dataInputConfig = null);
        refusesWith("ClientError: InputConfiguration: Input shapes should be provided in NCHW format. Input 'data'",
                r -> r.dataInputConfig = "{\"data\":[1,3,0,224]}");
        ValidatedJob job = accept(r -> {
            r.framework = "XGBOOST";
            r.dataInputConfig = null;
        });
        assertTrue(job.shapes().isEmpty());
    }

    @Test
    void exactlyOneTarget() {
        refuses("OutputConfig: give exactly one of TargetDevice and TargetPlatform, got both (TargetDevice 'ml_c5' "
                + "and TargetPlatform {\"Os\": \"LINUX\", \"Arch\": \"X86_64\"})", r -> {
            r.platform = new TargetPlatform("LINUX", "X86_64", null);
        });
        refuses("OutputConfig: give exactly one of TargetDevice (such as ml_c5) and TargetPlatform (such as "
                + "{\"Os\": \"LINUX\", \"Arch\": \"X86_64\"}), got neither", r -> r.device = null);
    }

    @Test
    void targetDevice() {
        assertEquals("rasp3b", accept(r -> r.device = "rasp3b").target().name());
        String message = refuse(r -> r.device = "ml_c7");
        assertTrue(message.startsWith("Value 'ml_c7' at 'OutputConfig.TargetDevice' failed to satisfy constraint: "
                + "Member must satisfy enum value set: [lambda, ml_m4, ml_m5, ml_m6g,"), message);
    }

    @Test
    void targetPlatform() {
        ValidatedJob job = accept(r -> r.platform("LINUX", "ARM64", "NVIDIA").compilerOptions =
                "{'gpu-code': 'sm_72', 'trt-ver': '6.0.1', 'cuda-ver': '10.1'}");
        assertEquals(Os.LINUX, job.target().os());
        assertEquals(Arch.ARM64, job.target().arch());
        assertEquals(Accelerator.NVIDIA, job.target().accelerator());
        assertEquals(Optional.of("sm_72"), job.options().gpuCode());
        assertEquals(Accelerator.NONE, accept(r -> r.platform("ANDROID", "ARM64", null)).target().accelerator());

        refuses("Value null at 'OutputConfig.TargetPlatform.Os' failed to satisfy constraint: Member must not be null",
                r -> r.platform(null, "ARM64", null));
        refuses("Value null at 'OutputConfig.TargetPlatform.Arch' failed to satisfy constraint: Member must not be "
                + "null", r -> r.platform("LINUX", null, null));
        refuses("Value 'WINDOWS' at 'OutputConfig.TargetPlatform.Os' failed to satisfy constraint: Member must "
                + "satisfy enum value set: [ANDROID, LINUX]", r -> r.platform("WINDOWS", "X86_64", null));
        refuses("Value 'AARCH64' at 'OutputConfig.TargetPlatform.Arch' failed to satisfy constraint: Member must "
                + "satisfy enum value set: [X86_64, X86, ARM64, ARM_EABI, ARM_EABIHF]",
                r -> r.platform("LINUX", "AARCH64", null));
        refuses("Value 'COREML' at 'OutputConfig.TargetPlatform.Accelerator' failed to satisfy constraint: Member "
                + "must satisfy enum value set: [INTEL_GRAPHICS, MALI, NVIDIA, NNA]",
                r -> r.platform("LINUX", "ARM64", "COREML"));
        // Combinations and option rules are the catalog's; its messages come through unchanged.
        refusesWith("ClientError: TargetPlatform Arch ARM_EABIHF is not available with Os ANDROID",
                r -> r.platform("ANDROID", "ARM_EABIHF", null));
        refusesWith("ClientError: CompilerOptions TargetPlatform accelerator NVIDIA requires 'gpu-code', 'trt-ver' "
                + "and 'cuda-ver'", r -> r.platform("LINUX", "X86_64", "NVIDIA"));
    }

    @Test
    void compilerOptions() {
        assertEquals(Optional.of("skylake-avx512"),
                accept(r -> r.compilerOptions = "{'mcpu': 'skylake-avx512'}").options().mcpu());
        assertEquals(List.of("--verbose", "1", "-O2"), accept(r -> {
            r.device = "ml_inf1";
            r.compilerOptions = "\"--verbose 1 -O2\"";
        }).options().neuronFlags());
        refuses("Value '{}' at 'OutputConfig.CompilerOptions' failed to satisfy constraint: Member must have length "
                + "greater than or equal to 3", r -> r.compilerOptions = "{}");
        refusesWith("Member must have length less than or equal to 1024",
                r -> r.compilerOptions = "{\"mcpu\": \"skylake\"}" + " ".repeat(1010));
        refusesWith("at 'OutputConfig.CompilerOptions' failed to satisfy constraint: Member must satisfy regular "
                + "expression pattern: .*", r -> r.compilerOptions = "{\n\"mcpu\": \"skylake\"\n}");
        refusesWith("ClientError: CompilerOptions is not valid JSON", r -> r.compilerOptions = "{mcpu: skylake");
        refusesWith("ClientError: CompilerOptions 'gpu-code' does not apply to ml_c5",
                r -> r.compilerOptions = "{\"gpu-code\": \"sm_72\"}");
        refusesWith("ClientError: CompilerOptions 'ANDROID_PLATFORM' must be an Android API level from 21 to 29",
                r -> r.platform("ANDROID", "ARM64", null).compilerOptions = "{'ANDROID_PLATFORM': 30}");
    }

    @Test
    void frameworkSpecificOptions() {
        assertEquals(Optional.of("int64"), accept(r -> {
            r.framework = "PYTORCH";
            r.dataInputConfig = "{\"input0\":[1,3,224,224]}";
            r.compilerOptions = "{\"dtype\": \"long\"}";
        }).options().dtype());
        refuses("OutputConfig.CompilerOptions 'dtype' applies to PYTORCH models only, and InputConfig.Framework is "
                + "ONNX; leave 'dtype' out", r -> r.compilerOptions = "{\"dtype\": \"float32\"}");
        accept(r -> {
            r.device = "ml_eia2";
            r.framework = "TENSORFLOW";
            r.dataInputConfig = "{\"inputs\": [1, 224, 224, 3]}";
            r.compilerOptions = "{\"signature_def_key\": \"serving_custom\"}";
        });
        refusesWith("'output_names' applies to TENSORFLOW models only", r -> {
            r.device = "ml_eia2";
            r.compilerOptions = "{\"output_names\": [\"output:0\"]}";
        });
    }

    @Test
    void coreml() {
        ValidatedJob job = accept(r -> {
            r.device = "coreml";
            r.framework = "TENSORFLOW";
            r.dataInputConfig = "{\"input_1\": {\"shape\": [\"1..10\", 224, 224, 3]}}";
            r.compilerOptions = "{\"class_labels\": \"imagenet_labels_1000.txt\"}";
        });
        assertEquals(Optional.of("imagenet_labels_1000.txt"), job.classLabelsFile());
        assertEquals(List.of(1L, 224L, 224L, 3L), job.shapes().inputs().get(0).defaultShape());
        refuses("OutputConfig.TargetDevice coreml takes TENSORFLOW and PYTORCH models (what the CoreML converter "
                + "supports), got InputConfig.Framework KERAS", r -> {
            r.device = "coreml";
            r.framework = "KERAS";
        });
        refusesWith("ClientError: CompilerOptions 'class_labels' does not apply to ml_c5",
                r -> r.compilerOptions = "{\"class_labels\": \"labels.txt\"}");
        refusesWith("ClientError: InputConfiguration: Input 'data': expected a shape such as [1,3,224,224]",
                r -> r.dataInputConfig = "{\"data\": {\"shape\": [1,3,224,224]}}");
    }

    @Test
    void kmsKeyId() {
        for (String key : List.of("1234abcd-12ab-34cd-56ef-1234567890ab",
                "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "alias/ExampleAlias", "alias/aws/s3",
                "arn:aws:kms:us-west-2:111122223333:alias/ExampleAlias",
                "arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/team/models", "")) {
            accept(r -> r.kmsKeyId = key);
        }
        for (String key : List.of("ExampleAlias", "alias/", "1234abcd-12ab-34cd-56ef-1234567890",
                "arn:aws:kms:us-west-2:111122223333:key/ExampleKey", "arn:aws:kms:us-west-2:1111:alias/a",
                "arn:aws:s3:us-west-2:111122223333:alias/a")) {
            refusesWith("OutputConfig.KmsKeyId '" + key + "' is not a KMS key; expected a key ID", r -> r.kmsKeyId = key);
        }
        refusesWith("at 'OutputConfig.KmsKeyId' failed to satisfy constraint: Member must satisfy regular expression "
                + "pattern: [a-zA-Z0-9:/_-]*", r -> r.kmsKeyId = "alias/Example.Alias");
        refusesWith("Member must have length less than or equal to 2048",
                r -> r.kmsKeyId = "alias/" + "a".repeat(2043));
    }

    @Test
    void stoppingCondition() {
        assertEquals(Duration.ofSeconds(1), accept(r -> r.maxRuntime = 1).maxRuntime());
        assertEquals(Duration.ofDays(28), accept(r -> r.maxRuntime = 2419200).maxRuntime());
        ValidatedJob waits = accept(r -> r.maxWait = 900);
        assertEquals(Optional.of(Duration.ofSeconds(900)), waits.maxWait());
        assertEquals(Duration.ofSeconds(900), accept(r -> r.maxRuntime = null).maxRuntime());
        ValidatedJob shortWait = accept(r -> {
            r.maxRuntime = null;
            r.maxWait = 600;
        });
        assertEquals(Duration.ofSeconds(600), shortWait.maxRuntime());
        assertEquals(Duration.ofSeconds(3600), accept(r -> {
            r.maxRuntime = null;
            r.maxWait = 3600;
        }).maxWait().orElseThrow());

        refuses("Value '0' at 'StoppingCondition.MaxRuntimeInSeconds' failed to satisfy constraint: Member must have "
                + "value greater than or equal to 1", r -> r.maxRuntime = 0);
        refuses("StoppingCondition.MaxRuntimeInSeconds '2419201' is more than the maximum of 2419200 (28 days)",
                r -> r.maxRuntime = 2419201);
        refuses("Value '0' at 'StoppingCondition.MaxWaitTimeInSeconds' failed to satisfy constraint: Member must have "
                + "value greater than or equal to 1", r -> r.maxWait = 0);
        refuses("StoppingCondition.MaxWaitTimeInSeconds '899' must be equal to or greater than MaxRuntimeInSeconds "
                + "'900'", r -> r.maxWait = 899);
        refuses("StoppingCondition.MaxPendingTimeInSeconds '7200' applies to training jobs, not compilation jobs; "
                + "leave it out (MaxRuntimeInSeconds and MaxWaitTimeInSeconds limit a compilation job)",
                r -> r.maxPending = 7200);
    }

    @Test
    void vpcConfig() {
        accept(r -> r.vpc = new NeoVpcConfig(List.of("sg-0123abcd", "sg-0123456789abcdef0"),
                List.of("subnet-0123abcd", "subnet-0123456789abcdef0")));
        accept(r -> r.vpc = new NeoVpcConfig(ids("sg-%08x", 5), ids("subnet-%08x", 16)));
        refuses("Value null at 'VpcConfig.Subnets' failed to satisfy constraint: Member must not be null",
                r -> r.vpc = new NeoVpcConfig(List.of("sg-0123abcd"), null));
        refuses("Value null at 'VpcConfig.SecurityGroupIds' failed to satisfy constraint: Member must not be null",
                r -> r.vpc = new NeoVpcConfig(null, List.of("subnet-0123abcd")));
        refuses("Value with 0 members at 'VpcConfig.SecurityGroupIds' failed to satisfy constraint: Member must have "
                + "length greater than or equal to 1", r -> r.vpc = new NeoVpcConfig(List.of(), List.of("subnet-0123abcd")));
        refuses("Value with 6 members at 'VpcConfig.SecurityGroupIds' failed to satisfy constraint: Member must have "
                + "length less than or equal to 5", r -> r.vpc = new NeoVpcConfig(ids("sg-%08x", 6), ids("subnet-%08x", 1)));
        refuses("Value with 17 members at 'VpcConfig.Subnets' failed to satisfy constraint: Member must have length "
                + "less than or equal to 16", r -> r.vpc = new NeoVpcConfig(ids("sg-%08x", 1), ids("subnet-%08x", 17)));
        refuses("VpcConfig.SecurityGroupIds[1] 'sg-123' is not a valid ID; expected sg- followed by 8 or 17 lowercase "
                + "hex digits, e.g. sg-0123abcd or sg-0123456789abcdef0",
                r -> r.vpc = new NeoVpcConfig(List.of("sg-0123abcd", "sg-123"), List.of("subnet-0123abcd")));
        refusesWith("VpcConfig.SecurityGroupIds[0] 'sg-0123ABCD' is not a valid ID",
                r -> r.vpc = new NeoVpcConfig(List.of("sg-0123ABCD"), List.of("subnet-0123abcd")));
        refuses("VpcConfig.Subnets[0] 'sg-0123abcd' is not a valid ID; expected subnet- followed by 8 or 17 "
                + "lowercase hex digits, e.g. subnet-0123abcd or subnet-0123456789abcdef0",
                r -> r.vpc = new NeoVpcConfig(List.of("sg-0123abcd"), List.of("sg-0123abcd")));
        refuses("VpcConfig.Subnets[1] 'subnet-0123abcd' is given more than once",
                r -> r.vpc = new NeoVpcConfig(List.of("sg-0123abcd"), List.of("subnet-0123abcd", "subnet-0123abcd")));
        refusesWith("at 'VpcConfig.SecurityGroupIds[0]' failed to satisfy constraint: Member must satisfy regular "
                + "expression pattern: [-0-9a-zA-Z]+", r -> r.vpc = new NeoVpcConfig(List.of("sg_0123abcd"),
                List.of("subnet-0123abcd")));
        refusesWith("Value null at 'VpcConfig.Subnets[0]'",
                r -> r.vpc = new NeoVpcConfig(List.of("sg-0123abcd"), java.util.Arrays.asList((String) null)));
    }

    private static List<String> ids(String format, int n) {
        return IntStream.range(0, n).mapToObj(i -> String.format(format, 0x1000 + i)).toList();
    }

    @Test
    void tags() {
        accept(r -> r.tags = List.of(new Tag("team", "vision"), new Tag("Équipe données", "modèle: resnet/50 @v1"),
                new Tag("empty", ""), new Tag("k".repeat(128), "v".repeat(256))));
        accept(r -> r.tags = IntStream.range(0, 50).mapToObj(i -> new Tag("k" + i, "v")).toList());
        refuses("Value with 51 members at 'Tags' failed to satisfy constraint: Member must have length less than or "
                + "equal to 50", r -> r.tags = IntStream.range(0, 51).mapToObj(i -> new Tag("k" + i, "v")).toList());
        refusesWith("at 'Tags[0].Key' failed to satisfy constraint: Member must have length less than or equal to 128",
                r -> r.tags = List.of(new Tag("k".repeat(129), "v")));
        refusesWith("at 'Tags[0].Value' failed to satisfy constraint: Member must have length less than or equal to 256",
                r -> r.tags = List.of(new Tag("k", "v".repeat(257))));
        refuses("Value '' at 'Tags[0].Key' failed to satisfy constraint: Member must have length greater than or "
                + "equal to 1", r -> r.tags = List.of(new Tag("", "v")));
        refuses("Value 'cost#center' at 'Tags[0].Key' failed to satisfy constraint: Member must satisfy regular "
                + "expression pattern: ([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)", r -> r.tags = List.of(new Tag("cost#center", "v")));
        refusesWith("at 'Tags[0].Value' failed to satisfy constraint: Member must satisfy regular expression pattern",
                r -> r.tags = List.of(new Tag("k", "a;b")));
        refuses("Value null at 'Tags[0].Value' failed to satisfy constraint: Member must not be null",
                r -> r.tags = List.of(new Tag("k", null)));
        refuses("Tags[1].Key 'aws:createdBy' starts with the reserved prefix aws:, which is for AWS use; choose "
                + "another key", r -> r.tags = List.of(new Tag("team", "v"), new Tag("aws:createdBy", "me")));
        refusesWith("reserved prefix aws:", r -> r.tags = List.of(new Tag("AWS:team", "v")));
        refuses("Tags[1].Key 'team' is given more than once; tag keys must be unique",
                r -> r.tags = List.of(new Tag("team", "a"), new Tag("team", "b")));
        accept(r -> r.tags = List.of(new Tag("team", "a"), new Tag("Team", "b")));
    }

    @Test
    void longValuesAreShortenedInMessages() {
        String message = refuse(r -> r.name = "x".repeat(300));
        assertEquals("Value '" + "x".repeat(100) + "...' (300 characters) at 'CompilationJobName' failed to satisfy "
                + "constraint: Member must have length less than or equal to 63", message);
    }

    @Test
    void lengthsCountCharactersNotUtf16Units() {
        String key = "\uD835\uDC00".repeat(128); // 128 letters outside the BMP, 256 UTF-16 units
        accept(r -> r.tags = List.of(new Tag(key, "v")));
        List<Tag> tags = new ArrayList<>();
        tags.add(new Tag(key + "\uD835\uDC00", "v"));
        refusesWith("Member must have length less than or equal to 128", r -> r.tags = tags);
    }
}
