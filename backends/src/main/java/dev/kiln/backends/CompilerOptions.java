package dev.kiln.backends;

import dev.kiln.backends.Target.Accelerator;
import dev.kiln.backends.Target.Os;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.regex.Pattern;

/**
 * The OutputConfig CompilerOptions of a compilation job, parsed and checked value by value. Whether an
 * option applies to a target is checked when the target is resolved ({@link Targets}).
 *
 * @param mattr CPU feature changes such as {@code +neon} or {@code -avx512f}
 * @param dtype the PyTorch input dtype, normalised to {@code float32} or {@code int64}
 * @param neuronFlags the Neuron compiler flags of Inferentia/Trainium targets, one token each
 */
public record CompilerOptions(Optional<String> mcpu, List<String> mattr, OptionalInt androidPlatform,
                              Optional<String> gpuCode, Optional<String> trtVersion, Optional<String> cudaVersion,
                              Optional<String> dtype, Optional<String> precisionMode,
                              Optional<String> signatureDefKey, List<String> outputNames,
                              Optional<String> classLabels, List<String> neuronFlags) {

    public static final CompilerOptions NONE = new CompilerOptions(Optional.empty(), List.of(), OptionalInt.empty(),
            Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(),
            Optional.empty(), List.of(), Optional.empty(), List.of());

    static final String MCPU = "mcpu", MATTR = "mattr", ANDROID_PLATFORM = "ANDROID_PLATFORM",
            GPU_CODE = "gpu-code", TRT_VER = "trt-ver", CUDA_VER = "cuda-ver", DTYPE = "dtype",
            PRECISION_MODE = "precision_mode", SIGNATURE_DEF_KEY = "signature_def_key",
            OUTPUT_NAMES = "output_names", CLASS_LABELS = "class_labels";
    private static final List<String> KNOWN = List.of(MCPU, MATTR, ANDROID_PLATFORM, GPU_CODE, TRT_VER, CUDA_VER,
            DTYPE, PRECISION_MODE, SIGNATURE_DEF_KEY, OUTPUT_NAMES, CLASS_LABELS);
    /** Other spellings the Neo documentation uses for the same options. */
    private static final Map<String, String> ALIASES = Map.of("DTYPE", DTYPE, "gpu_code", GPU_CODE);

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._+-]*");
    private static final Pattern FEATURE_CHANGE = Pattern.compile("[+-][a-z0-9][a-z0-9._-]*");
    private static final Pattern GPU = Pattern.compile("sm_[0-9]{2,3}");
    private static final Pattern XYZ = Pattern.compile("[0-9]+\\.[0-9]+\\.[0-9]+");
    private static final Pattern XY = Pattern.compile("[0-9]+\\.[0-9]+");
    private static final Pattern FLAG_TOKEN = Pattern.compile("[A-Za-z0-9_=.,:+/-]+");

    public CompilerOptions {
        mattr = List.copyOf(mattr);
        outputNames = List.copyOf(outputNames);
        neuronFlags = List.copyOf(neuronFlags);
    }

    /**
     * Parses the CompilerOptions string: a JSON or Python-style object of options, or (for Inferentia and
     * Trainium targets) a quoted string of Neuron compiler flags. Null or blank means no options.
     */
    public static CompilerOptions parse(String text) {
        if (text == null || text.isBlank()) return NONE;
        if (text.length() < 3 || text.length() > 1024) {
            throw fail("must be 3 to 1024 characters long, got " + text.length());
        }
        String trimmed = text.strip();
        if (trimmed.startsWith("-")) return flags(trimmed);
        Object doc;
        try {
            doc = OptionsReader.read(trimmed);
        } catch (IllegalArgumentException e) {
            throw fail("is not valid JSON: " + e.getMessage());
        }
        if (doc instanceof String s) return flags(s);
        if (!(doc instanceof Map<?, ?> map)) {
            throw fail("must be a JSON object such as {\"mcpu\": \"skylake-avx512\"}, or a quoted string of "
                    + "Neuron compiler flags");
        }
        return fromMap(map);
    }

    /** The option names given, in the order of {@link #KNOWN}; neuron flags are not options by name. */
    List<String> given() {
        List<String> names = new ArrayList<>();
        if (mcpu.isPresent()) names.add(MCPU);
        if (!mattr.isEmpty()) names.add(MATTR);
        if (androidPlatform.isPresent()) names.add(ANDROID_PLATFORM);
        if (gpuCode.isPresent()) names.add(GPU_CODE);
        if (trtVersion.isPresent()) names.add(TRT_VER);
        if (cudaVersion.isPresent()) names.add(CUDA_VER);
        if (dtype.isPresent()) names.add(DTYPE);
        if (precisionMode.isPresent()) names.add(PRECISION_MODE);
        if (signatureDefKey.isPresent()) names.add(SIGNATURE_DEF_KEY);
        if (!outputNames.isEmpty()) names.add(OUTPUT_NAMES);
        if (classLabels.isPresent()) names.add(CLASS_LABELS);
        return names;
    }

    /**
     * Checks that every option given applies to the target, and that a TargetPlatform with an NVIDIA
     * accelerator has gpu-code, trt-ver and cuda-ver.
     */
    void checkApplies(String target, Os os, Accelerator accelerator, boolean fromPlatform) {
        boolean neuron = accelerator == Accelerator.INFERENTIA || accelerator == Accelerator.TRAINIUM;
        if (neuron) {
            if (!given().isEmpty()) {
                throw fail("'" + given().get(0) + "' does not apply to " + target + "; it takes Neuron compiler "
                        + "flags as a quoted string, e.g. \"--verbose 1 --num-neuroncores 2 -O2\"");
            }
            return;
        }
        if (!neuronFlags.isEmpty()) {
            throw fail("a string of compiler flags applies to Inferentia/Trainium targets only; " + target
                    + " takes a JSON object of options");
        }
        List<String> allowed = switch (accelerator) {
            case COREML -> List.of(CLASS_LABELS);
            case ELASTIC_INFERENCE -> List.of(DTYPE, PRECISION_MODE, SIGNATURE_DEF_KEY, OUTPUT_NAMES);
            default -> {
                List<String> cpu = new ArrayList<>(List.of(MCPU, MATTR, DTYPE));
                if (os == Os.ANDROID) cpu.add(ANDROID_PLATFORM);
                if (accelerator == Accelerator.NVIDIA) cpu.addAll(List.of(GPU_CODE, TRT_VER, CUDA_VER));
                yield cpu;
            }
        };
        for (String name : given()) {
            if (!allowed.contains(name)) {
                throw fail("'" + name + "' does not apply to " + target + "; its options are "
                        + String.join(", ", allowed));
            }
        }
        if (fromPlatform && accelerator == Accelerator.NVIDIA) {
            List<String> missing = new ArrayList<>();
            if (gpuCode.isEmpty()) missing.add("'" + GPU_CODE + "'");
            if (trtVersion.isEmpty()) missing.add("'" + TRT_VER + "'");
            if (cudaVersion.isEmpty()) missing.add("'" + CUDA_VER + "'");
            if (!missing.isEmpty()) {
                throw fail("TargetPlatform accelerator NVIDIA requires 'gpu-code', 'trt-ver' and 'cuda-ver'; "
                        + "missing " + String.join(", ", missing));
            }
        }
    }

    static IllegalArgumentException fail(String what) {
        return new IllegalArgumentException("ClientError: CompilerOptions " + what);
    }

    private static CompilerOptions flags(String flagText) {
        List<String> tokens = Arrays.stream(flagText.strip().split("\\s+")).filter(t -> !t.isEmpty()).toList();
        if (tokens.isEmpty() || !tokens.get(0).startsWith("-")) {
            throw fail("flag string must start with a flag such as --verbose, got '" + flagText + "'");
        }
        for (String token : tokens) {
            if (!FLAG_TOKEN.matcher(token).matches()) {
                throw fail("flag string holds '" + token + "'; flags and values may use letters, digits and _=.,:+/-");
            }
        }
        return new CompilerOptions(Optional.empty(), List.of(), OptionalInt.empty(), Optional.empty(),
                Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(),
                List.of(), Optional.empty(), tokens);
    }

    private static CompilerOptions fromMap(Map<?, ?> raw) {
        Map<String, Object> values = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : raw.entrySet()) {
            String key = ALIASES.getOrDefault((String) e.getKey(), (String) e.getKey());
            if (!KNOWN.contains(key)) {
                throw fail("has unknown option '" + e.getKey() + "'; known options: " + String.join(", ", KNOWN));
            }
            if (values.put(key, e.getValue()) != null) throw fail("gives '" + key + "' twice");
        }
        Optional<String> signature = text(values, SIGNATURE_DEF_KEY, NAME, "a signature def key name");
        List<String> outputs = outputNames(values.get(OUTPUT_NAMES));
        if (signature.isPresent() && !outputs.isEmpty()) {
            throw fail("sets both 'signature_def_key' and 'output_names'; set at most one of them");
        }
        return new CompilerOptions(
                text(values, MCPU, NAME, "a CPU name such as 'skylake-avx512' or 'cortex-a72'"),
                mattr(values.get(MATTR)),
                androidPlatform(values.get(ANDROID_PLATFORM)),
                text(values, GPU_CODE, GPU, "a GPU architecture such as 'sm_72'"),
                text(values, TRT_VER, XYZ, "a TensorRT version x.y.z such as '6.0.1'"),
                text(values, CUDA_VER, XY, "a CUDA version x.y such as '10.1'"),
                dtype(values.get(DTYPE)),
                precisionMode(values.get(PRECISION_MODE)),
                signature,
                outputs,
                classLabels(values.get(CLASS_LABELS)),
                List.of());
    }

    private static Optional<String> text(Map<String, Object> values, String key, Pattern form, String expected) {
        if (!values.containsKey(key)) return Optional.empty();
        Object v = values.get(key);
        if (!(v instanceof String s) || !form.matcher(s).matches()) {
            throw fail("'" + key + "' must be " + expected + ", got " + show(v));
        }
        return Optional.of(s);
    }

    private static List<String> mattr(Object v) {
        if (v == null) return List.of();
        List<Object> items = new ArrayList<>();
        if (v instanceof String s) items.addAll(Arrays.asList(s.split(",", -1)));
        else if (v instanceof List<?> l) items.addAll(l);
        else throw fail("'mattr' must be a list of features such as ['+neon', '+vfpv4'], got " + show(v));
        if (items.isEmpty()) throw fail("'mattr' must name at least one feature, got " + show(v));
        List<String> changes = new ArrayList<>();
        for (Object item : items) {
            String change = item instanceof String s ? s.strip() : null;
            if (change == null || !FEATURE_CHANGE.matcher(change).matches()) {
                throw fail("'mattr' entries must look like '+neon' or '-avx512f', got " + show(item));
            }
            changes.add(change);
        }
        return changes;
    }

    private static OptionalInt androidPlatform(Object v) {
        if (v == null) return OptionalInt.empty();
        int level = -1;
        if (v instanceof BigDecimal d && d.stripTrailingZeros().scale() <= 0 && d.abs().compareTo(BigDecimal.valueOf(100)) < 0) {
            level = d.intValue();
        } else if (v instanceof String s && s.matches("[0-9]{1,3}")) {
            level = Integer.parseInt(s);
        }
        if (level < 21 || level > 29) {
            throw fail("'ANDROID_PLATFORM' must be an Android API level from 21 to 29, got " + show(v));
        }
        return OptionalInt.of(level);
    }

    private static Optional<String> dtype(Object v) {
        if (v == null) return Optional.empty();
        return Optional.of(switch (v instanceof String s ? s : "") {
            case "float32", "float" -> "float32";
            case "int64", "long" -> "int64";
            default -> throw fail("'dtype' must be \"float32\" (or \"float\") or \"int64\" (or \"long\"), got " + show(v));
        });
    }

    private static Optional<String> precisionMode(Object v) {
        if (v == null) return Optional.empty();
        if (!"FP16".equals(v) && !"FP32".equals(v)) {
            throw fail("'precision_mode' must be \"FP16\" or \"FP32\", got " + show(v));
        }
        return Optional.of((String) v);
    }

    private static List<String> outputNames(Object v) {
        if (v == null) return List.of();
        if (!(v instanceof List<?> l) || l.isEmpty()
                || !l.stream().allMatch(n -> n instanceof String s && !s.isBlank())) {
            throw fail("'output_names' must be a non-empty list of tensor names such as [\"output_tensor:0\"], got "
                    + show(v));
        }
        return l.stream().map(String.class::cast).toList();
    }

    private static Optional<String> classLabels(Object v) {
        if (v == null) return Optional.empty();
        if (!(v instanceof String s) || s.isBlank() || s.equals(".") || s.equals("..")
                || s.contains("/") || s.contains("\\") || s.chars().anyMatch(c -> c < 0x20)) {
            throw fail("'class_labels' must be the name of a labels file inside the model archive, such as "
                    + "\"imagenet_labels_1000.txt\", got " + show(v));
        }
        return Optional.of(s);
    }

    private static String show(Object v) {
        if (v == null) return "null";
        if (v instanceof String s) return "'" + s + "'";
        return v.toString();
    }
}
