package dev.kiln.jobs;

import dev.kiln.backends.CompilerOptions;
import dev.kiln.backends.Target;
import dev.kiln.backends.Target.Accelerator;
import dev.kiln.backends.Target.Arch;
import dev.kiln.backends.Target.Os;
import dev.kiln.backends.Targets;
import dev.kiln.jobs.CreateCompilationJobRequest.InputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.NeoVpcConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.OutputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.StoppingCondition;
import dev.kiln.jobs.CreateCompilationJobRequest.Tag;
import dev.kiln.jobs.CreateCompilationJobRequest.TargetPlatform;
import java.time.Duration;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checks a CreateCompilationJob request completely before any work starts: the constraints of the API
 * model (sagemaker-compilation-jobs.json) on every member, the rules its documentation states, and what
 * the target, CompilerOptions and DataInputConfig must agree on. Constraint violations read as SageMaker's
 * ValidationException messages do; member paths are the API's (e.g. OutputConfig.TargetDevice).
 */
final class RequestValidation {
    private RequestValidation() {}

    /** A string shape of the API model: its name there, length bounds in characters, and its pattern. */
    record StringShape(String name, int min, int max, Pattern pattern) {
        StringShape(String name, int min, int max, String regex) { this(name, min, max, Pattern.compile(regex)); }
    }

    /** A list shape of the API model: bounds on its number of members. */
    record ListShape(String name, int min, int max) {}

    /** An integer shape of the API model: its minimum (none of the ones Kiln enforces has a maximum there). */
    record IntShape(String name, int min) {}

    // The shapes the request members use, as the API model has them; SeedShapesTest holds them equal to it.
    static final StringShape ENTITY_NAME = new StringShape("EntityName", 1, 63, "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}");
    static final StringShape ROLE_ARN = new StringShape("RoleArn", 20, 2048,
            "arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+");
    static final StringShape MODEL_PACKAGE_ARN = new StringShape("ModelPackageArn", 1, 2048,
            "arn:aws[a-z\\-]*:sagemaker:[a-z0-9\\-]{9,16}:[0-9]{12}:model-package/[\\S]{1,2048}");
    static final StringShape S3_URI = new StringShape("S3Uri", 0, 1024, "(https|s3)://([^/]+)/?(.*)");
    static final StringShape DATA_INPUT_CONFIG = new StringShape("DataInputConfig", 1, 16384, "[\\S\\s]+");
    static final StringShape FRAMEWORK_VERSION = new StringShape("FrameworkVersion", 3, 10, "[0-9]\\.[A-Za-z0-9.]+");
    static final StringShape COMPILER_OPTIONS = new StringShape("CompilerOptions", 3, 1024, ".*");
    static final StringShape KMS_KEY_ID = new StringShape("KmsKeyId", 0, 2048, "[a-zA-Z0-9:/_-]*");
    static final StringShape TAG_KEY = new StringShape("TagKey", 1, 128, "([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)");
    static final StringShape TAG_VALUE = new StringShape("TagValue", 0, 256, "([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)");
    static final StringShape SECURITY_GROUP_ID = new StringShape("NeoVpcSecurityGroupId", 0, 32, "[-0-9a-zA-Z]+");
    static final StringShape SUBNET_ID = new StringShape("NeoVpcSubnetId", 0, 32, "[-0-9a-zA-Z]+");
    static final ListShape TAG_LIST = new ListShape("TagList", 0, 50);
    static final ListShape SECURITY_GROUP_IDS = new ListShape("NeoVpcSecurityGroupIds", 1, 5);
    static final ListShape SUBNETS = new ListShape("NeoVpcSubnets", 1, 16);
    static final IntShape MAX_RUNTIME = new IntShape("MaxRuntimeInSeconds", 1);
    static final IntShape MAX_WAIT = new IntShape("MaxWaitTimeInSeconds", 1);

    // The API model's enums, in its order.
    static final List<String> FRAMEWORKS = Arrays.stream(Framework.values()).map(Enum::name).toList();
    static final List<String> TARGET_DEVICES = Targets.deviceNames();
    static final List<String> PLATFORM_OSES = List.of("ANDROID", "LINUX");
    static final List<String> PLATFORM_ARCHES = List.of("X86_64", "X86", "ARM64", "ARM_EABI", "ARM_EABIHF");
    static final List<String> PLATFORM_ACCELERATORS = List.of("INTEL_GRAPHICS", "MALI", "NVIDIA", "NNA");

    /** The documented maximum of MaxRuntimeInSeconds, 28 days (the API model states no maximum). */
    static final int MAX_RUNTIME_SECONDS = 28 * 24 * 3600;
    /** What the documentation recommends starting a compilation job with; used when none is given. */
    static final Duration DEFAULT_MAX_RUNTIME = Duration.ofSeconds(900);

    /** The documented form of security group IDs, sg-xxxxxxxx; newer IDs have 17 hex digits. */
    private static final Pattern SECURITY_GROUP_FORM = Pattern.compile("sg-([0-9a-f]{8}|[0-9a-f]{17})");
    private static final Pattern SUBNET_FORM = Pattern.compile("subnet-([0-9a-f]{8}|[0-9a-f]{17})");

    /**
     * The four documented KmsKeyId forms: key ID, key ARN, alias name, alias ARN. ARNs may name any
     * partition (arn:aws, arn:aws-cn, ...) as the model's RoleArn and ModelPackageArn patterns do.
     */
    private static final String KEY_ID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}";
    private static final String ALIAS = "alias/[a-zA-Z0-9/_-]+";
    private static final String KMS_ARN = "arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-[0-9]+:[0-9]{12}:";
    private static final Pattern KMS_KEY_FORMS = Pattern.compile(
            KEY_ID + "|" + ALIAS + "|" + KMS_ARN + "key/" + KEY_ID + "|" + KMS_ARN + ALIAS);

    /** A URI scheme; InputConfig.S3Uri and S3OutputLocation take s3 and https, and locally file. */
    private static final Pattern SCHEME = Pattern.compile("([a-zA-Z][a-zA-Z0-9+.-]*)://.*");
    private static final String ARCHIVE_SUFFIX = ".tar.gz";

    /** CoreML's converter takes TensorFlow and PyTorch models only. */
    private static final Set<Framework> COREML_FRAMEWORKS = EnumSet.of(Framework.TENSORFLOW, Framework.PYTORCH);

    /** CompilerOptions that only one framework's models have a use for, as the documentation gives them. */
    private record FrameworkOption(String name, Framework framework, Predicate<CompilerOptions> given) {}

    private static final List<FrameworkOption> FRAMEWORK_OPTIONS = List.of(
            // The input data type of a traced PyTorch model; other formats carry their input types.
            new FrameworkOption("dtype", Framework.PYTORCH, o -> o.dtype().isPresent()),
            // Signature defs and output tensor names select the graph of a TensorFlow SavedModel / FrozenGraph.
            new FrameworkOption("signature_def_key", Framework.TENSORFLOW, o -> o.signatureDefKey().isPresent()),
            new FrameworkOption("output_names", Framework.TENSORFLOW, o -> !o.outputNames().isEmpty()));

    /** Values longer than this are shortened in messages. */
    private static final int SHOWN_CHARACTERS = 100;

    /** Checks the request; a refusal is a VALIDATION CompilationJobException naming the member. */
    static ValidatedJob check(CreateCompilationJobRequest request) {
        checkJobName(request.compilationJobName());
        check("RoleArn", required("RoleArn", request.roleArn()), ROLE_ARN);
        InputConfig input = modelSource(request);
        Framework framework = inputConfig(input);

        OutputConfig output = required("OutputConfig", request.outputConfig());
        checkLocation("OutputConfig.S3OutputLocation", required("OutputConfig.S3OutputLocation",
                output.s3OutputLocation()), false);
        checkKmsKeyId(output.kmsKeyId());
        CompilerOptions options = compilerOptions(output.compilerOptions());
        Target target = target(output, options);
        checkFrameworkFits(framework, target, options);
        InputShapes shapes = InputShapes.parse(input.dataInputConfig(), framework,
                target.accelerator() == Accelerator.COREML);

        StoppingCondition stopping = required("StoppingCondition", request.stoppingCondition());
        Optional<Duration> maxWait = maxWait(stopping);
        Duration maxRuntime = maxRuntime(stopping, maxWait);
        checkVpcConfig(request.vpcConfig());
        checkTags(request.tags());
        return new ValidatedJob(request, framework, shapes, target, options, maxRuntime, maxWait);
    }

    /** The CompilationJobName member that every operation takes. */
    static void checkJobName(String name) {
        check("CompilationJobName", required("CompilationJobName", name), ENTITY_NAME);
    }

    /** Kiln compiles the archive InputConfig names; SageMaker's alternative, a model package, it does not read. */
    private static InputConfig modelSource(CreateCompilationJobRequest request) {
        String packageArn = request.modelPackageVersionArn();
        if (packageArn != null) {
            check("ModelPackageVersionArn", packageArn, MODEL_PACKAGE_ARN);
            throw CompilationJobException.validation(request.inputConfig() == null
                    ? "ModelPackageVersionArn: compiling from a model package is not supported; give InputConfig "
                      + "with the model archive's S3Uri, its Framework and DataInputConfig instead"
                    : "InputConfig and ModelPackageVersionArn are mutually exclusive, and Kiln compiles from "
                      + "InputConfig: leave ModelPackageVersionArn out");
        }
        return required("InputConfig", request.inputConfig());
    }

    private static Framework inputConfig(InputConfig input) {
        checkLocation("InputConfig.S3Uri", required("InputConfig.S3Uri", input.s3Uri()), true);
        String name = required("InputConfig.Framework", input.framework());
        Framework framework = Framework.named(name).orElseThrow(() ->
                constraint("InputConfig.Framework", name, "satisfy enum value set: " + FRAMEWORKS));
        String version = input.frameworkVersion();
        if (version != null) {
            check("InputConfig.FrameworkVersion", version, FRAMEWORK_VERSION);
            if (!framework.takesVersion()) {
                throw CompilationJobException.validation("InputConfig.FrameworkVersion " + show(version)
                        + " is supported only for the MXNET, PYTORCH, TENSORFLOW and TFLITE frameworks; leave it "
                        + "out for " + framework);
            }
        }
        if (input.dataInputConfig() != null) {
            check("InputConfig.DataInputConfig", input.dataInputConfig(), DATA_INPUT_CONFIG);
        }
        return framework;
    }

    /**
     * An S3Uri member: the API's s3:// or https:// URI, or for local use a file:/// URI or a filesystem
     * path. The model input must be one .tar.gz archive.
     */
    private static void checkLocation(String member, String value, boolean archive) {
        checkLength(member, value, S3_URI);
        if (value.isEmpty() || value.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
            throw CompilationJobException.validation(member + " " + show(value) + " is not a location; expected an "
                    + "s3:// or https:// URI, a file:/// URI or a filesystem path, without control characters");
        }
        String path = value;
        Matcher scheme = SCHEME.matcher(value);
        if (scheme.matches()) {
            switch (scheme.group(1)) {
                case "s3", "https" -> {
                    Matcher uri = S3_URI.pattern().matcher(value);
                    if (!uri.matches()) {
                        throw constraint(member, value, "satisfy regular expression pattern: " + S3_URI.pattern());
                    }
                    path = scheme.group(1).equals("https") ? uri.group(3).split("\\?", 2)[0] : uri.group(3);
                    if (!archive && scheme.group(1).equals("https") && value.contains("?")) {
                        throw CompilationJobException.validation(member + " " + show(value) + " is a location to write "
                                + "to: it takes no query such as ?versionId=");
                    }
                    if (archive && path.isEmpty()) {
                        throw CompilationJobException.validation(member + " " + show(value) + " names "
                                + uri.group(2) + " but no object in it; expected the model archive's URI, e.g. "
                                + scheme.group(1) + "://" + uri.group(2) + "/model" + ARCHIVE_SUFFIX);
                    }
                }
                case "file" -> {
                    path = value.substring("file://".length());
                    if (!path.startsWith("/")) {
                        throw CompilationJobException.validation(member + " " + show(value) + " is not a file URI "
                                + "of an absolute path; expected file:///absolute/path");
                    }
                }
                default -> throw CompilationJobException.validation(member + " " + show(value) + " uses the scheme '"
                        + scheme.group(1) + "'; expected an s3:// or https:// URI, a file:/// URI or a filesystem path");
            }
        }
        if (archive && !path.endsWith(ARCHIVE_SUFFIX)) {
            throw CompilationJobException.validation(member + " " + show(value) + " must point to a single gzip "
                    + "compressed tar archive (" + ARCHIVE_SUFFIX + " suffix)");
        }
        // What passes here must be what storage can reach, so that a job never fails later on its location's form.
        if (!Storage.understands(value)) {
            throw CompilationJobException.validation(member + " " + show(value) + " is not a location Kiln can read or "
                    + "write: an s3://BUCKET/KEY URI with a valid bucket name, an S3 https URL, a file:/// URI or a path");
        }
    }

    /** Empty means no key, as the model's minimum length of 0 allows: S3 then uses the account's default key. */
    private static void checkKmsKeyId(String kmsKeyId) {
        if (kmsKeyId == null) return;
        check("OutputConfig.KmsKeyId", kmsKeyId, KMS_KEY_ID);
        if (!kmsKeyId.isEmpty() && !KMS_KEY_FORMS.matcher(kmsKeyId).matches()) {
            throw CompilationJobException.validation("OutputConfig.KmsKeyId " + show(kmsKeyId) + " is not a KMS key; "
                    + "expected a key ID (1234abcd-12ab-34cd-56ef-1234567890ab), a key ARN "
                    + "(arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab), an alias "
                    + "(alias/ExampleAlias) or an alias ARN (arn:aws:kms:us-west-2:111122223333:alias/ExampleAlias)");
        }
    }

    private static CompilerOptions compilerOptions(String text) {
        if (text == null) return CompilerOptions.NONE;
        check("OutputConfig.CompilerOptions", text, COMPILER_OPTIONS);
        try {
            return CompilerOptions.parse(text);
        } catch (IllegalArgumentException e) {
            throw CompilationJobException.validation(e.getMessage());
        }
    }

    /** Exactly one of TargetDevice and TargetPlatform, resolved with the options, which must apply to it. */
    private static Target target(OutputConfig output, CompilerOptions options) {
        String device = output.targetDevice();
        TargetPlatform platform = output.targetPlatform();
        if (device != null && platform != null) {
            throw CompilationJobException.validation("OutputConfig: give exactly one of TargetDevice and "
                    + "TargetPlatform, got both (TargetDevice " + show(device) + " and TargetPlatform "
                    + render(platform) + ")");
        }
        if (device == null && platform == null) {
            throw CompilationJobException.validation("OutputConfig: give exactly one of TargetDevice (such as "
                    + "ml_c5) and TargetPlatform (such as {\"Os\": \"LINUX\", \"Arch\": \"X86_64\"}), got neither");
        }
        if (device != null) checkEnum("OutputConfig.TargetDevice", device, TARGET_DEVICES);
        else {
            checkEnum("OutputConfig.TargetPlatform.Os", required("OutputConfig.TargetPlatform.Os", platform.os()),
                    PLATFORM_OSES);
            checkEnum("OutputConfig.TargetPlatform.Arch", required("OutputConfig.TargetPlatform.Arch",
                    platform.arch()), PLATFORM_ARCHES);
            if (platform.accelerator() != null) {
                checkEnum("OutputConfig.TargetPlatform.Accelerator", platform.accelerator(), PLATFORM_ACCELERATORS);
            }
        }
        try {
            return device != null ? Targets.device(device, options)
                    : Targets.platform(Os.valueOf(platform.os()), Arch.valueOf(platform.arch()),
                    platform.accelerator() == null ? Accelerator.NONE : Accelerator.valueOf(platform.accelerator()),
                    options);
        } catch (IllegalArgumentException e) {
            throw CompilationJobException.validation(e.getMessage());
        }
    }

    private static void checkFrameworkFits(Framework framework, Target target, CompilerOptions options) {
        if (target.accelerator() == Accelerator.COREML && !COREML_FRAMEWORKS.contains(framework)) {
            throw CompilationJobException.validation("OutputConfig.TargetDevice " + target.name() + " takes "
                    + "TENSORFLOW and PYTORCH models (what the CoreML converter supports), got InputConfig.Framework "
                    + framework);
        }
        for (FrameworkOption option : FRAMEWORK_OPTIONS) {
            if (option.given().test(options) && framework != option.framework()) {
                throw CompilationJobException.validation("OutputConfig.CompilerOptions '" + option.name()
                        + "' applies to " + option.framework() + " models only, and InputConfig.Framework is "
                        + framework + "; leave '" + option.name() + "' out");
            }
        }
    }

    private static Optional<Duration> maxWait(StoppingCondition stopping) {
        // MaxPendingTimeInSeconds bounds the wait for training capacity; a compilation job has no such
        // phase, so accepting it would promise a limit that is never applied.
        if (stopping.maxPendingTimeInSeconds() != null) {
            throw CompilationJobException.validation("StoppingCondition.MaxPendingTimeInSeconds "
                    + show(stopping.maxPendingTimeInSeconds()) + " applies to training jobs, not compilation jobs; "
                    + "leave it out (MaxRuntimeInSeconds and MaxWaitTimeInSeconds limit a compilation job)");
        }
        Integer wait = stopping.maxWaitTimeInSeconds();
        if (wait == null) return Optional.empty();
        checkMin("StoppingCondition.MaxWaitTimeInSeconds", wait, MAX_WAIT);
        Integer runtime = stopping.maxRuntimeInSeconds();
        if (runtime != null && wait < runtime) {
            throw CompilationJobException.validation("StoppingCondition.MaxWaitTimeInSeconds " + show(wait)
                    + " must be equal to or greater than MaxRuntimeInSeconds " + show(runtime));
        }
        return Optional.of(Duration.ofSeconds(wait));
    }

    /** Not given: the recommended 900 s, or MaxWaitTimeInSeconds when that is shorter (the wait includes the run). */
    private static Duration maxRuntime(StoppingCondition stopping, Optional<Duration> maxWait) {
        Integer runtime = stopping.maxRuntimeInSeconds();
        if (runtime == null) {
            return maxWait.filter(w -> w.compareTo(DEFAULT_MAX_RUNTIME) < 0).orElse(DEFAULT_MAX_RUNTIME);
        }
        checkMin("StoppingCondition.MaxRuntimeInSeconds", runtime, MAX_RUNTIME);
        if (runtime > MAX_RUNTIME_SECONDS) {
            throw CompilationJobException.validation("StoppingCondition.MaxRuntimeInSeconds " + show(runtime)
                    + " is more than the maximum of " + MAX_RUNTIME_SECONDS + " (28 days)");
        }
        return Duration.ofSeconds(runtime);
    }

    private static void checkVpcConfig(NeoVpcConfig vpc) {
        if (vpc == null) return;
        checkIds("VpcConfig.SecurityGroupIds", required("VpcConfig.SecurityGroupIds", vpc.securityGroupIds()),
                SECURITY_GROUP_IDS, SECURITY_GROUP_ID, SECURITY_GROUP_FORM,
                "sg- followed by 8 or 17 lowercase hex digits, e.g. sg-0123abcd or sg-0123456789abcdef0");
        checkIds("VpcConfig.Subnets", required("VpcConfig.Subnets", vpc.subnets()), SUBNETS, SUBNET_ID, SUBNET_FORM,
                "subnet- followed by 8 or 17 lowercase hex digits, e.g. subnet-0123abcd or subnet-0123456789abcdef0");
    }

    private static void checkIds(String member, List<String> ids, ListShape list, StringShape id, Pattern form,
                                 String expected) {
        checkSize(member, ids, list);
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < ids.size(); i++) {
            String at = member + "[" + i + "]";
            String value = required(at, ids.get(i));
            check(at, value, id);
            if (!form.matcher(value).matches()) {
                throw CompilationJobException.validation(at + " " + show(value) + " is not a valid ID; expected "
                        + expected);
            }
            if (!seen.add(value)) {
                throw CompilationJobException.validation(at + " " + show(value) + " is given more than once");
            }
        }
    }

    private static void checkTags(List<Tag> tags) {
        if (tags == null) return;
        checkSize("Tags", tags, TAG_LIST);
        Set<String> keys = new HashSet<>();
        for (int i = 0; i < tags.size(); i++) {
            Tag tag = required("Tags[" + i + "]", tags.get(i));
            String key = required("Tags[" + i + "].Key", tag.key());
            check("Tags[" + i + "].Key", key, TAG_KEY);
            check("Tags[" + i + "].Value", required("Tags[" + i + "].Value", tag.value()), TAG_VALUE);
            // AWS reserves the prefix in any letter case.
            if (key.toLowerCase(Locale.ROOT).startsWith("aws:")) {
                throw CompilationJobException.validation("Tags[" + i + "].Key " + show(key) + " starts with the "
                        + "reserved prefix aws:, which is for AWS use; choose another key");
            }
            if (!keys.add(key)) {
                throw CompilationJobException.validation("Tags[" + i + "].Key " + show(key) + " is given more than "
                        + "once; tag keys must be unique");
            }
        }
    }

    private static <T> T required(String member, T value) {
        if (value == null) throw constraint(member, null, "not be null");
        return value;
    }

    private static void check(String member, String value, StringShape shape) {
        checkLength(member, value, shape);
        if (!shape.pattern().matcher(value).matches()) {
            throw constraint(member, value, "satisfy regular expression pattern: " + shape.pattern().pattern());
        }
    }

    /** Lengths count characters (code points), not UTF-16 units. */
    private static void checkLength(String member, String value, StringShape shape) {
        int length = value.codePointCount(0, value.length());
        if (length < shape.min()) throw constraint(member, value, "have length greater than or equal to " + shape.min());
        if (length > shape.max()) throw constraint(member, value, "have length less than or equal to " + shape.max());
    }

    private static void checkSize(String member, List<?> list, ListShape shape) {
        if (list.size() < shape.min() || list.size() > shape.max()) {
            throw CompilationJobException.validation("Value with " + list.size() + " members at '" + member
                    + "' failed to satisfy constraint: Member must have length " + (list.size() < shape.min()
                    ? "greater than or equal to " + shape.min() : "less than or equal to " + shape.max()));
        }
    }

    private static void checkMin(String member, int value, IntShape shape) {
        if (value < shape.min()) throw constraint(member, value, "have value greater than or equal to " + shape.min());
    }

    private static void checkEnum(String member, String value, List<String> values) {
        if (!values.contains(value)) throw constraint(member, value, "satisfy enum value set: " + values);
    }

    /** SageMaker's wording for a member that breaks a constraint of the API model. */
    private static CompilationJobException constraint(String member, Object value, String rule) {
        return CompilationJobException.validation("Value " + (value == null ? "null" : show(value)) + " at '"
                + member + "' failed to satisfy constraint: Member must " + rule);
    }

    /** A value for a message: quoted, control characters escaped, long values shortened. */
    private static String show(Object value) {
        String text = String.valueOf(value);
        StringBuilder shown = new StringBuilder("'");
        text.codePoints().limit(SHOWN_CHARACTERS).forEach(c -> {
            if (c < 0x20 || c == 0x7f) shown.append(String.format("\\u%04x", c));
            else shown.appendCodePoint(c);
        });
        int length = text.codePointCount(0, text.length());
        return length > SHOWN_CHARACTERS ? shown + "...' (" + length + " characters)" : shown + "'";
    }

    private static String render(TargetPlatform platform) {
        StringBuilder json = new StringBuilder("{\"Os\": \"" + platform.os() + "\", \"Arch\": \"" + platform.arch() + "\"");
        if (platform.accelerator() != null) json.append(", \"Accelerator\": \"").append(platform.accelerator()).append('"');
        return json.append('}').toString();
    }
}
