package dev.kiln.backends;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

class CompilerOptionsTest {
    private static String error(String options) {
        return assertThrows(IllegalArgumentException.class, () -> CompilerOptions.parse(options)).getMessage();
    }

    @Test
    void absentOptionsAreNone() {
        assertSame(CompilerOptions.NONE, CompilerOptions.parse(null));
        assertSame(CompilerOptions.NONE, CompilerOptions.parse("  "));
        assertEquals(List.of(), CompilerOptions.parse("{ }").given());
    }

    @Test
    void jsonAndPythonDictSpellings() {
        CompilerOptions json = CompilerOptions.parse("{\"ANDROID_PLATFORM\": 25, \"mattr\": [\"+neon\"]}");
        CompilerOptions python = CompilerOptions.parse("{'ANDROID_PLATFORM': 25, 'mattr': ['+neon'],}");
        assertEquals(json, python);
        assertEquals(OptionalInt.of(25), json.androidPlatform());
        assertEquals(List.of("+neon"), json.mattr());
        assertEquals(List.of("+neon", "+vfpv4"), CompilerOptions.parse("{'mattr': '+neon,+vfpv4'}").mattr());
        assertEquals(Optional.of("skylake-avx512"), CompilerOptions.parse("{'mcpu': 'skylake-avx512'}").mcpu());
        CompilerOptions nvidia = CompilerOptions.parse("{'gpu_code': 'sm_72', 'trt-ver': '6.0.1', 'cuda-ver': '10.1'}");
        assertEquals(Optional.of("sm_72"), nvidia.gpuCode());
        assertEquals(Optional.of("6.0.1"), nvidia.trtVersion());
        assertEquals(Optional.of("10.1"), nvidia.cudaVersion());
        assertEquals(List.of("gpu-code", "trt-ver", "cuda-ver"), nvidia.given());
        assertEquals(OptionalInt.of(28), CompilerOptions.parse("{'ANDROID_PLATFORM': '28'}").androidPlatform());
    }

    @Test
    void dtype() {
        assertEquals(Optional.of("float32"), CompilerOptions.parse("{\"dtype\": \"float32\"}").dtype());
        assertEquals(Optional.of("float32"), CompilerOptions.parse("{\"dtype\": \"float\"}").dtype());
        assertEquals(Optional.of("int64"), CompilerOptions.parse("{\"DTYPE\": \"long\"}").dtype());
        assertEquals(Optional.of("int64"), CompilerOptions.parse("{\"dtype\": \"int64\"}").dtype());
        assertEquals("ClientError: CompilerOptions 'dtype' must be \"float32\" (or \"float\") or \"int64\" (or \"long\"), "
                + "got 'float16'", error("{\"dtype\": \"float16\"}"));
    }

    @Test
    void eiaOptions() {
        assertEquals(Optional.of("FP32"), CompilerOptions.parse("{\"precision_mode\": \"FP32\"}").precisionMode());
        assertEquals("ClientError: CompilerOptions 'precision_mode' must be \"FP16\" or \"FP32\", got 'INT8'",
                error("{\"precision_mode\": \"INT8\"}"));
        assertEquals(Optional.of("serving_custom"),
                CompilerOptions.parse("{\"signature_def_key\": \"serving_custom\"}").signatureDefKey());
        assertEquals(List.of("output_tensor:0"),
                CompilerOptions.parse("{\"output_names\": [\"output_tensor:0\"]}").outputNames());
        assertEquals("ClientError: CompilerOptions sets both 'signature_def_key' and 'output_names'; set at most one "
                + "of them", error("{\"signature_def_key\": \"serving_custom\", \"output_names\": [\"out:0\"]}"));
        assertEquals("ClientError: CompilerOptions 'output_names' must be a non-empty list of tensor names such as "
                + "[\"output_tensor:0\"], got []", error("{\"output_names\": []}"));
        assertEquals("ClientError: CompilerOptions 'output_names' must be a non-empty list of tensor names such as "
                + "[\"output_tensor:0\"], got 'out:0'", error("{\"output_names\": \"out:0\"}"));
    }

    @Test
    void classLabelsIsAFileName() {
        assertEquals(Optional.of("imagenet_labels_1000.txt"),
                CompilerOptions.parse("{\"class_labels\": \"imagenet_labels_1000.txt\"}").classLabels());
        String expected = "ClientError: CompilerOptions 'class_labels' must be the name of a labels file inside the "
                + "model archive, such as \"imagenet_labels_1000.txt\", got ";
        assertEquals(expected + "'../etc/passwd'", error("{\"class_labels\": \"../etc/passwd\"}"));
        assertEquals(expected + "'..'", error("{\"class_labels\": \"..\"}"));
        assertEquals(expected + "3", error("{\"class_labels\": 3}"));
    }

    @Test
    void neuronFlagStrings() {
        assertEquals(List.of("--verbose", "1", "--num-neuroncores", "2", "-O2"),
                CompilerOptions.parse("\"--verbose 1 --num-neuroncores 2 -O2\"").neuronFlags());
        assertEquals(List.of("--num-neuroncores", "4"), CompilerOptions.parse("--num-neuroncores 4").neuronFlags());
        assertEquals("ClientError: CompilerOptions flag string must start with a flag such as --verbose, got 'verbose 1'",
                error("\"verbose 1\""));
        assertEquals("ClientError: CompilerOptions flag string holds '1;rm'; flags and values may use letters, digits "
                + "and _=.,:+/-", error("\"--verbose 1;rm -rf /\""));
    }

    @Test
    void valueErrors() {
        assertEquals("ClientError: CompilerOptions 'ANDROID_PLATFORM' must be an Android API level from 21 to 29, "
                + "got 30", error("{'ANDROID_PLATFORM': 30}"));
        assertEquals("ClientError: CompilerOptions 'ANDROID_PLATFORM' must be an Android API level from 21 to 29, "
                + "got 20", error("{'ANDROID_PLATFORM': 20}"));
        assertEquals("ClientError: CompilerOptions 'ANDROID_PLATFORM' must be an Android API level from 21 to 29, "
                + "got 25.5", error("{'ANDROID_PLATFORM': 25.5}"));
        assertEquals("ClientError: CompilerOptions 'mattr' entries must look like '+neon' or '-avx512f', got 'neon'",
                error("{'mattr': ['neon']}"));
        assertEquals("ClientError: CompilerOptions 'mattr' must be a list of features such as ['+neon', '+vfpv4'], "
                + "got 3", error("{'mattr': 3}"));
        assertEquals("ClientError: CompilerOptions 'mcpu' must be a CPU name such as 'skylake-avx512' or 'cortex-a72', "
                + "got 'skylake avx512'", error("{'mcpu': 'skylake avx512'}"));
        assertEquals("ClientError: CompilerOptions 'gpu-code' must be a GPU architecture such as 'sm_72', got '72'",
                error("{'gpu-code': '72'}"));
        assertEquals("ClientError: CompilerOptions 'trt-ver' must be a TensorRT version x.y.z such as '6.0.1', got '6.0'",
                error("{'trt-ver': '6.0'}"));
        assertEquals("ClientError: CompilerOptions 'cuda-ver' must be a CUDA version x.y such as '10.1', got '10'",
                error("{'cuda-ver': '10'}"));
    }

    @Test
    void syntaxAndShapeErrors() {
        assertEquals("ClientError: CompilerOptions has unknown option 'mfpu'; known options: mcpu, mattr, "
                + "ANDROID_PLATFORM, gpu-code, trt-ver, cuda-ver, dtype, precision_mode, signature_def_key, "
                + "output_names, class_labels", error("{'mfpu': 'neon'}"));
        assertEquals("ClientError: CompilerOptions gives 'gpu-code' twice", error("{'gpu-code': 'sm_72', 'gpu_code': 'sm_72'}"));
        assertEquals("ClientError: CompilerOptions is not valid JSON: expected '}' at character 19",
                error("{'mcpu': 'haswell'"));
        assertEquals("ClientError: CompilerOptions is not valid JSON: duplicate key 'mcpu' at character 28",
                error("{'mcpu': 'haswell', 'mcpu': 'x86-64'}"));
        assertEquals("ClientError: CompilerOptions must be a JSON object such as {\"mcpu\": \"skylake-avx512\"}, or a "
                + "quoted string of Neuron compiler flags", error("[1, 2, 3]"));
        assertEquals("ClientError: CompilerOptions must be 3 to 1024 characters long, got 2", error("{}"));
        assertEquals("ClientError: CompilerOptions must be 3 to 1024 characters long, got 1025",
                error("{'mcpu': '" + "a".repeat(1013) + "'}"));
    }
}
