package dev.kiln.jobs;

import static dev.kiln.jobs.RequestValidationTest.accept;
import static dev.kiln.jobs.RequestValidationTest.refuse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kiln.jobs.CreateCompilationJobRequest.NeoVpcConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.Tag;
import dev.kiln.jobs.CreateCompilationJobRequest.TargetPlatform;
import dev.kiln.jobs.RequestValidation.IntShape;
import dev.kiln.jobs.RequestValidation.ListShape;
import dev.kiln.jobs.RequestValidation.StringShape;
import dev.kiln.jobs.RequestValidationTest.Req;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.IntFunction;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Holds what RequestValidation enforces equal to the API model in the seed, for every member of the
 * CreateCompilationJobRequest tree: the constants must match the seed's shapes, and requests built at the
 * seed's bounds must be accepted or refused accordingly. A member or bound added to the seed fails here
 * until Kiln enforces it.
 */
class SeedShapesTest {
    private static final Path SEED = Path.of("../../shared/seed/sagemaker-compilation-jobs.json");

    private static final Map<String, StringShape> STRINGS = byName(Stream.of(RequestValidation.ENTITY_NAME,
            RequestValidation.ROLE_ARN, RequestValidation.MODEL_PACKAGE_ARN, RequestValidation.S3_URI,
            RequestValidation.DATA_INPUT_CONFIG, RequestValidation.FRAMEWORK_VERSION, RequestValidation.COMPILER_OPTIONS,
            RequestValidation.KMS_KEY_ID, RequestValidation.TAG_KEY, RequestValidation.TAG_VALUE,
            RequestValidation.SECURITY_GROUP_ID, RequestValidation.SUBNET_ID), StringShape::name);
    private static final Map<String, ListShape> LISTS = byName(Stream.of(RequestValidation.TAG_LIST,
            RequestValidation.SECURITY_GROUP_IDS, RequestValidation.SUBNETS), ListShape::name);
    private static final Map<String, IntShape> INTS = byName(Stream.of(RequestValidation.MAX_RUNTIME,
            RequestValidation.MAX_WAIT), IntShape::name);
    private static final Map<String, List<String>> ENUMS = Map.of("Framework", RequestValidation.FRAMEWORKS,
            "TargetDevice", RequestValidation.TARGET_DEVICES, "TargetPlatformOs", RequestValidation.PLATFORM_OSES,
            "TargetPlatformArch", RequestValidation.PLATFORM_ARCHES,
            "TargetPlatformAccelerator", RequestValidation.PLATFORM_ACCELERATORS);
    /** Integer shapes Kiln refuses whatever the value: MaxPendingTimeInSeconds is not for compilation jobs. */
    private static final Set<String> REFUSED = Set.of("MaxPendingTimeInSeconds");

    /** For each string member: the request with a value of the given length there, otherwise valid. */
    private static final Map<String, IntFunction<Consumer<Req>>> STRING_MEMBERS = Map.ofEntries(
            Map.entry("CompilationJobName", n -> r -> r.name = pad("", n, "a", "")),
            Map.entry("RoleArn", n -> r -> r.role = pad("arn:aws:iam::123456789012:role/", n, "r", "")),
            Map.entry("ModelPackageVersionArn", n -> r -> {
                r.withInput = false;
                r.modelPackage = pad("arn:aws:sagemaker:us-west-2:123456789012:model-package/", n, "p", "");
            }),
            Map.entry("InputConfig.S3Uri", n -> r -> r.s3Uri = pad("s3://models/", n, "k", ".tar.gz")),
            Map.entry("InputConfig.DataInputConfig", n -> r -> r.dataInputConfig = pad("{\"data\":[1,3,224,224]}", n, " ", "")),
            Map.entry("InputConfig.FrameworkVersion", n -> r -> {
                r.framework = "PYTORCH";
                r.dataInputConfig = "[[1,3,224,224]]";
                r.frameworkVersion = pad("1.", n, "0", "");
            }),
            Map.entry("OutputConfig.S3OutputLocation", n -> r -> r.outputLocation = pad("s3://artifacts/", n, "k", "")),
            Map.entry("OutputConfig.CompilerOptions", n -> r -> r.compilerOptions = pad("{\"mcpu\":\"skylake\"}", n, " ", "")),
            Map.entry("OutputConfig.KmsKeyId", n -> r -> r.kmsKeyId = pad("alias/", n, "a", "")),
            Map.entry("Tags[0].Key", n -> r -> r.tags = List.of(new Tag(pad("", n, "k", ""), "v"))),
            Map.entry("Tags[0].Value", n -> r -> r.tags = List.of(new Tag("k", pad("", n, "v", "")))),
            Map.entry("VpcConfig.SecurityGroupIds[0]", n -> r -> r.vpc = new NeoVpcConfig(
                    List.of(pad("sg-", n, "0", "")), List.of("subnet-0123abcd"))),
            Map.entry("VpcConfig.Subnets[0]", n -> r -> r.vpc = new NeoVpcConfig(
                    List.of("sg-0123abcd"), List.of(pad("subnet-", n, "0", "")))));

    /** For each list member: the request with that many distinct valid members there. */
    private static final Map<String, IntFunction<Consumer<Req>>> LIST_MEMBERS = Map.of(
            "Tags", n -> r -> r.tags = IntStream.range(0, n).mapToObj(i -> new Tag("k" + i, "v")).toList(),
            "VpcConfig.SecurityGroupIds", n -> r -> r.vpc = new NeoVpcConfig(ids("sg-%08x", n), ids("subnet-%08x", 1)),
            "VpcConfig.Subnets", n -> r -> r.vpc = new NeoVpcConfig(ids("sg-%08x", 1), ids("subnet-%08x", n)));

    private static final Map<String, IntFunction<Consumer<Req>>> INT_MEMBERS = Map.of(
            "StoppingCondition.MaxRuntimeInSeconds", n -> r -> r.maxRuntime = n,
            "StoppingCondition.MaxWaitTimeInSeconds", n -> r -> {
                r.maxRuntime = null;
                r.maxWait = n;
            },
            "StoppingCondition.MaxPendingTimeInSeconds", n -> r -> r.maxPending = n);

    /** For each enum member: the request with that value there, valid for every seed value. */
    private static final Map<String, Function<String, Consumer<Req>>> ENUM_MEMBERS = Map.of(
            "InputConfig.Framework", v -> r -> {
                r.framework = v;
                r.dataInputConfig = switch (v) {
                    case "XGBOOST", "SKLEARN" -> null;
                    case "TENSORFLOW", "TFLITE" -> "{\"input\":[1,224,224,3]}";
                    default -> "{\"data\":[1,3,224,224]}";
                };
            },
            "OutputConfig.TargetDevice", v -> r -> {
                r.device = v;
                r.framework = "TENSORFLOW";
                r.dataInputConfig = "{\"input\":[1,224,224,3]}";
            },
            "OutputConfig.TargetPlatform.Os", v -> r -> r.platform(v, "ARM64", null),
            "OutputConfig.TargetPlatform.Arch", v -> r -> r.platform(v.equals("ARM_EABI") ? "ANDROID" : "LINUX", v, null),
            "OutputConfig.TargetPlatform.Accelerator", v -> r -> r.platform("LINUX", "ARM64", v).compilerOptions =
                    v.equals("NVIDIA") ? "{'gpu-code': 'sm_72', 'trt-ver': '6.0.1', 'cuda-ver': '10.1'}" : null);

    /** For each member the seed requires: the request without it. */
    private static final Map<String, Consumer<Req>> REQUIRED_MEMBERS = Map.ofEntries(
            Map.entry("CompilationJobName", r -> r.name = null),
            Map.entry("RoleArn", r -> r.role = null),
            Map.entry("OutputConfig", r -> r.withOutput = false),
            Map.entry("StoppingCondition", r -> r.withStopping = false),
            Map.entry("InputConfig.S3Uri", r -> r.s3Uri = null),
            Map.entry("InputConfig.Framework", r -> r.framework = null),
            Map.entry("OutputConfig.S3OutputLocation", r -> r.outputLocation = null),
            Map.entry("OutputConfig.TargetPlatform.Os", r -> r.platform(null, "ARM64", null)),
            Map.entry("OutputConfig.TargetPlatform.Arch", r -> r.platform("LINUX", null, null)),
            Map.entry("Tags[0].Key", r -> r.tags = List.of(new Tag(null, "v"))),
            Map.entry("Tags[0].Value", r -> r.tags = List.of(new Tag("k", null))),
            Map.entry("VpcConfig.SecurityGroupIds", r -> r.vpc = new NeoVpcConfig(null, List.of("subnet-0123abcd"))),
            Map.entry("VpcConfig.Subnets", r -> r.vpc = new NeoVpcConfig(List.of("sg-0123abcd"), null)));

    /** A member of the request tree: its path as messages name it, and its shape in the seed. */
    private record Member(String path, String shapeName, JsonNode shape) {
        String type() { return shape.get("type").asText(); }

        int min() { return shape.path("min").asInt(0); }
    }

    private static JsonNode shapes;
    private static List<Member> members;

    @BeforeAll
    static void readSeed() throws IOException {
        shapes = new ObjectMapper().readTree(SEED.toFile()).get("shapes");
        members = new ArrayList<>();
        collect("CreateCompilationJobRequest", "");
    }

    private static void collect(String structure, String prefix) {
        shapes.get(structure).get("members").properties().forEach(m -> {
            String path = prefix.isEmpty() ? m.getKey() : prefix + "." + m.getKey();
            add(path, m.getValue().get("shape").asText());
        });
    }

    private static void add(String path, String shapeName) {
        JsonNode shape = shapes.get(shapeName);
        assertNotNull(shape, shapeName);
        members.add(new Member(path, shapeName, shape));
        switch (shape.get("type").asText()) {
            case "structure" -> collect(shapeName, path);
            case "list" -> add(path + "[0]", shape.get("member").get("shape").asText());
            default -> { }
        }
    }

    @Test
    void kilnsConstantsAreTheSeedsShapes() {
        Set<String> used = new HashSet<>();
        for (Member m : members) {
            String name = m.shapeName();
            switch (m.type()) {
                case "structure" -> { continue; }
                case "string" -> {
                    if (m.shape().has("enum")) {
                        assertEquals(strings(m.shape().get("enum")), ENUMS.get(name), m.path());
                    } else {
                        StringShape kiln = STRINGS.get(name);
                        assertNotNull(kiln, m.path() + " (" + name + ") has no Kiln rule");
                        assertEquals(m.min(), kiln.min(), m.path() + " min");
                        assertEquals(m.shape().get("max").asInt(), kiln.max(), m.path() + " max");
                        assertEquals(m.shape().get("pattern").asText(), kiln.pattern().pattern(), m.path() + " pattern");
                    }
                }
                case "list" -> {
                    ListShape kiln = LISTS.get(name);
                    assertNotNull(kiln, m.path() + " (" + name + ") has no Kiln rule");
                    assertEquals(m.min(), kiln.min(), m.path() + " min");
                    assertEquals(m.shape().get("max").asInt(), kiln.max(), m.path() + " max");
                }
                case "integer" -> {
                    if (REFUSED.contains(name)) break;
                    IntShape kiln = INTS.get(name);
                    assertNotNull(kiln, m.path() + " (" + name + ") has no Kiln rule");
                    assertEquals(m.shape().get("min").asInt(), kiln.min(), m.path() + " min");
                    // Kiln's one maximum, 28 days for MaxRuntimeInSeconds, is from the documentation.
                    assertFalse(m.shape().has("max"), m.path() + " has a maximum in the seed now");
                }
                default -> throw new AssertionError(m.path() + ": unexpected shape type " + m.type());
            }
            used.add(name);
        }
        Set<String> declared = new HashSet<>(STRINGS.keySet());
        declared.addAll(LISTS.keySet());
        declared.addAll(INTS.keySet());
        declared.addAll(ENUMS.keySet());
        declared.addAll(REFUSED);
        assertEquals(declared, used, "Kiln rules for shapes the request does not use");
    }

    @Test
    void stringLengthsAreBoundAsInTheSeed() {
        List<Member> strings = members.stream().filter(m -> m.type().equals("string") && !m.shape().has("enum")).toList();
        assertEquals(STRING_MEMBERS.keySet(), strings.stream().map(Member::path).collect(Collectors.toSet()));
        for (Member m : strings) {
            IntFunction<Consumer<Req>> at = STRING_MEMBERS.get(m.path());
            int max = m.shape().get("max").asInt();
            String lengthRule = "at '" + m.path() + "' failed to satisfy constraint: Member must have length ";
            assertNoComplaint(lengthRule, at.apply(max), m.path() + " at its maximum " + max);
            assertComplaint(lengthRule + "less than or equal to " + max, at.apply(max + 1), m.path());
            if (m.min() > 0) {
                assertNoComplaint(lengthRule, at.apply(m.min()), m.path() + " at its minimum " + m.min());
                assertComplaint(lengthRule + "greater than or equal to " + m.min(), at.apply(m.min() - 1), m.path());
            }
        }
    }

    @Test
    void listSizesAreBoundAsInTheSeed() {
        List<Member> lists = members.stream().filter(m -> m.type().equals("list")).toList();
        assertEquals(LIST_MEMBERS.keySet(), lists.stream().map(Member::path).collect(Collectors.toSet()));
        for (Member m : lists) {
            IntFunction<Consumer<Req>> at = LIST_MEMBERS.get(m.path());
            int max = m.shape().get("max").asInt();
            accept(at.apply(max));
            accept(at.apply(m.min()));
            String rule = "' failed to satisfy constraint: Member must have length ";
            assertEquals("Value with " + (max + 1) + " members at '" + m.path() + rule + "less than or equal to " + max,
                    refuse(at.apply(max + 1)));
            if (m.min() > 0) {
                assertEquals("Value with " + (m.min() - 1) + " members at '" + m.path() + rule + "greater than or "
                        + "equal to " + m.min(), refuse(at.apply(m.min() - 1)));
            }
        }
    }

    @Test
    void integersAreBoundAsInTheSeed() {
        List<Member> ints = members.stream().filter(m -> m.type().equals("integer")).toList();
        assertEquals(INT_MEMBERS.keySet(), ints.stream().map(Member::path).collect(Collectors.toSet()));
        for (Member m : ints) {
            IntFunction<Consumer<Req>> at = INT_MEMBERS.get(m.path());
            int min = m.shape().get("min").asInt();
            if (REFUSED.contains(m.shapeName())) {
                for (int value : List.of(min, m.shape().get("max").asInt())) {
                    assertTrue(refuse(at.apply(value)).startsWith(m.path() + " '" + value + "' applies to training "
                            + "jobs, not compilation jobs"), m.path());
                }
                continue;
            }
            accept(at.apply(min));
            assertEquals("Value '" + (min - 1) + "' at '" + m.path() + "' failed to satisfy constraint: Member must "
                    + "have value greater than or equal to " + min, refuse(at.apply(min - 1)));
        }
    }

    @Test
    void enumsHoldTheSeedsValues() {
        List<Member> enums = members.stream().filter(m -> m.shape().has("enum")).toList();
        assertEquals(ENUM_MEMBERS.keySet(), enums.stream().map(Member::path).collect(Collectors.toSet()));
        for (Member m : enums) {
            Function<String, Consumer<Req>> at = ENUM_MEMBERS.get(m.path());
            List<String> values = strings(m.shape().get("enum"));
            String enumRule = "at '" + m.path() + "' failed to satisfy constraint: Member must satisfy enum value set";
            for (String value : values) {
                // Framework and TargetDevice values are each accepted; platform values may still meet the
                // catalog's combination rules, but never the enum.
                if (m.path().startsWith("OutputConfig.TargetPlatform")) assertNoComplaint(enumRule, at.apply(value), value);
                else accept(at.apply(value));
            }
            String unknown = values.get(0) + "x";
            assertEquals("Value '" + unknown + "' " + enumRule + ": " + values, refuse(at.apply(unknown)));
        }
    }

    @Test
    void requiredMembersAreRequired() {
        List<String> required = new ArrayList<>();
        for (Member m : members) {
            m.shape().path("required").forEach(name -> required.add(m.path() + "." + name.asText()));
        }
        shapes.get("CreateCompilationJobRequest").get("required").forEach(name -> required.add(name.asText()));
        assertEquals(REQUIRED_MEMBERS.keySet(), Set.copyOf(required));
        for (String path : required) {
            assertEquals("Value null at '" + path + "' failed to satisfy constraint: Member must not be null",
                    refuse(REQUIRED_MEMBERS.get(path)), path);
        }
    }

    private static void assertNoComplaint(String rule, Consumer<Req> change, String what) {
        Optional<String> refusal;
        try {
            accept(change);
            refusal = Optional.empty();
        } catch (CompilationJobException e) {
            refusal = Optional.of(e.getMessage());
        }
        refusal.ifPresent(message -> assertFalse(message.contains(rule), what + ": " + message));
    }

    private static void assertComplaint(String rule, Consumer<Req> change, String what) {
        String message = refuse(change);
        assertTrue(message.contains(rule), what + ": " + message);
    }

    /** A value of exactly n characters: prefix, fill, suffix, or only fill where n is shorter than both. */
    private static String pad(String prefix, int n, String fill, String suffix) {
        int rest = n - prefix.length() - suffix.length();
        return rest < 0 ? fill.repeat(n) : prefix + fill.repeat(rest) + suffix;
    }

    private static List<String> ids(String format, int n) {
        return IntStream.range(0, n).mapToObj(i -> String.format(format, 0x1000 + i)).toList();
    }

    private static List<String> strings(JsonNode array) {
        List<String> values = new ArrayList<>();
        array.forEach(v -> values.add(v.asText()));
        return values;
    }

    private static <T> Map<String, T> byName(Stream<T> rules, Function<T, String> name) {
        return rules.collect(Collectors.toMap(name, r -> r));
    }
}
