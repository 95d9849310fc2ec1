package dev.kiln.jobs;

import dev.kiln.jobs.CreateCompilationJobRequest.InputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.OutputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.StoppingCondition;
import dev.kiln.jobs.CreateCompilationJobRequest.TargetPlatform;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shapes' JSON as the SageMaker protocol spells it. */
class JobsJsonTest {
    @Test
    void membersAreUpperCamelCaseAndAbsentOnesAreLeftOut() {
        var request = new CreateCompilationJobRequest("job-1", "arn:aws:iam::123456789012:role/r",
                new InputConfig("s3://b/m.tar.gz", "{\"data\":[1,3,224,224]}", "ONNX", null),
                new OutputConfig("s3://b/out", null, new TargetPlatform("LINUX", "ARM64", null), "{'mattr': ['+neon']}", null),
                null, new StoppingCondition(900, null, null), List.of(new CreateCompilationJobRequest.Tag("team", "ml")), null);
        String json = JobsJson.write(request);
        assertEquals("{\"CompilationJobName\":\"job-1\",\"RoleArn\":\"arn:aws:iam::123456789012:role/r\","
                + "\"InputConfig\":{\"S3Uri\":\"s3://b/m.tar.gz\",\"DataInputConfig\":\"{\\\"data\\\":[1,3,224,224]}\",\"Framework\":\"ONNX\"},"
                + "\"OutputConfig\":{\"S3OutputLocation\":\"s3://b/out\",\"TargetPlatform\":{\"Os\":\"LINUX\",\"Arch\":\"ARM64\"},"
                + "\"CompilerOptions\":\"{'mattr': ['+neon']}\"},\"StoppingCondition\":{\"MaxRuntimeInSeconds\":900},"
                + "\"Tags\":[{\"Key\":\"team\",\"Value\":\"ml\"}]}", json);
        assertEquals(request, JobsJson.read(json, CreateCompilationJobRequest.class));
    }

    @Test
    void timestampsAreEpochSecondsWithMilliseconds() {
        var summary = new ListCompilationJobsResponse.CompilationJobSummary("j", "arn", Instant.ofEpochMilli(1_700_000_000_123L),
                null, null, "ml_c5", null, null, null, Instant.ofEpochSecond(1_700_000_001L), CompilationJobStatus.COMPLETED);
        String json = JobsJson.write(summary);
        assertTrue(json.contains("\"CreationTime\":1700000000.123"), json);
        assertTrue(json.contains("\"LastModifiedTime\":1700000001,"), json);
        assertEquals(summary, JobsJson.read(json, ListCompilationJobsResponse.CompilationJobSummary.class));
        var list = JobsJson.read("{\"CreationTimeAfter\": 1700000000.5, \"CreationTimeBefore\": \"2024-01-01T00:00:00Z\"}",
                ListCompilationJobsRequest.class);
        assertEquals(Instant.ofEpochMilli(1_700_000_000_500L), list.creationTimeAfter());
        assertEquals(Instant.parse("2024-01-01T00:00:00Z"), list.creationTimeBefore());
    }

    @Test
    void unknownMembersWrongTypesAndBadJsonAreValidationErrors() {
        var unknown = assertThrows(CompilationJobException.class,
                () -> JobsJson.read("{\"CompilationJobName\":\"j\",\"Framwork\":\"ONNX\"}", CreateCompilationJobRequest.class));
        assertEquals(CompilationJobException.Error.VALIDATION, unknown.error());
        assertTrue(unknown.getMessage().startsWith("unknown member 'Framwork'; known members: CompilationJobName, InputConfig"),
                unknown.getMessage());
        var wrongType = assertThrows(CompilationJobException.class,
                () -> JobsJson.read("{\"StoppingCondition\":{\"MaxRuntimeInSeconds\":\"soon\"}}", CreateCompilationJobRequest.class));
        assertTrue(wrongType.getMessage().contains("StoppingCondition.MaxRuntimeInSeconds"), wrongType.getMessage());
        var list = assertThrows(CompilationJobException.class,
                () -> JobsJson.read("{\"Tags\":{\"Key\":\"k\"}}", CreateCompilationJobRequest.class));
        assertTrue(list.getMessage().contains("Tags") && list.getMessage().contains("a list"), list.getMessage());
        var malformed = assertThrows(CompilationJobException.class,
                () -> JobsJson.read("{\"CompilationJobName\":", CreateCompilationJobRequest.class));
        assertTrue(malformed.getMessage().startsWith("the request is not valid JSON"), malformed.getMessage());
    }
}
