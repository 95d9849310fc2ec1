package dev.kiln.runtime.artifact;

import dev.kiln.ir.DType;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * What an artifact holds, as {@code manifest.json}: who made it (kiln version, source framework), for what
 * (target and compiler options), its interface (inputs and outputs), which file plays which part
 * ({@code components}: e.g. library, weights, ir), and the size and BLAKE2b-512 of every other file.
 * {@link #toJson()} is canonical: the same manifest always gives the same bytes.
 */
public record Manifest(
        String kilnVersion,
        String model,
        String framework,
        Target target,
        Map<String, Object> compilerOptions,
        List<TensorSpec> inputs,
        List<TensorSpec> outputs,
        Map<String, String> components,
        List<FileEntry> files) {

    /** The version of this manifest layout; a reader refuses any other. */
    public static final int FORMAT = 1;
    public static final String FILE_NAME = "manifest.json";

    /** Model and target names become part of the artifact's file name. */
    private static final Pattern SIMPLE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._+-]*");
    private static final Pattern PATH_PART = Pattern.compile("[A-Za-z0-9._+-]+");
    private static final Pattern DIGEST = Pattern.compile("[0-9a-f]{128}");
    /** Keeps every entry name inside a plain ustar header (no long-name extensions). */
    private static final int MAX_PATH_LENGTH = 100;

    public Manifest {
        require(kilnVersion, "kiln_version");
        requireSimple(model, "model");
        require(framework, "framework");
        require(target, "target");
        compilerOptions = jsonObject(require(compilerOptions, "compiler_options"), "compiler_options");
        inputs = List.copyOf(require(inputs, "inputs"));
        outputs = List.copyOf(require(outputs, "outputs"));
        components = Collections.unmodifiableMap(new TreeMap<>(require(components, "components")));
        List<FileEntry> sorted = new ArrayList<>(require(files, "files"));
        sorted.sort((a, b) -> a.name().compareTo(b.name()));
        for (int i = 1; i < sorted.size(); i++) {
            if (sorted.get(i).name().equals(sorted.get(i - 1).name())) {
                throw new IllegalArgumentException("manifest lists file '" + sorted.get(i).name() + "' twice");
            }
        }
        files = List.copyOf(sorted);
        Set<String> names = new HashSet<>();
        for (TensorSpec t : inputs) if (!names.add("in:" + t.name())) throw new IllegalArgumentException("duplicate input '" + t.name() + "'");
        for (TensorSpec t : outputs) if (!names.add("out:" + t.name())) throw new IllegalArgumentException("duplicate output '" + t.name() + "'");
    }

    /** The target: its catalog name and the resolved platform (os, arch, features, toolchain ...) as JSON values. */
    public record Target(String name, Map<String, Object> platform) {
        public Target {
            requireSimple(name, "target.name");
            platform = jsonObject(require(platform, "target.platform"), "target.platform");
        }
    }

    /**
     * A graph input or output; a dim of -1 is known only once a run computed it (an output whose shape depends on
     * the data), layout "" means the user's plain layout.
     */
    public record TensorSpec(String name, DType dtype, List<Long> shape, String layout) {
        public TensorSpec {
            require(name, "tensor name");
            require(dtype, "dtype of '" + name + "'");
            shape = List.copyOf(require(shape, "shape of '" + name + "'"));
            for (long d : shape) {
                if (d < -1) throw new IllegalArgumentException("negative dimension in the shape of '" + name + "': " + shape);
            }
            require(layout, "layout of '" + name + "'");
        }
    }

    /** One file of the artifact besides the manifest. */
    public record FileEntry(String name, long size, String blake2b) {
        public FileEntry {
            checkPath(name);
            if (name.equals(FILE_NAME)) throw new IllegalArgumentException("'" + FILE_NAME + "' cannot be listed in itself");
            if (size < 0) throw new IllegalArgumentException("negative size for '" + name + "'");
            if (blake2b == null || !DIGEST.matcher(blake2b).matches()) {
                throw new IllegalArgumentException("'" + name + "' has no valid BLAKE2b-512 digest (128 lowercase hex digits): " + blake2b);
            }
        }
    }

    /** The same manifest listing {@code files} instead. */
    public Manifest withFiles(List<FileEntry> files) {
        return new Manifest(kilnVersion, model, framework, target, compilerOptions, inputs, outputs, components, files);
    }

    public FileEntry file(String name) {
        for (FileEntry f : files) if (f.name().equals(name)) return f;
        throw new IllegalArgumentException("manifest lists no file '" + name + "'");
    }

    /** The file playing a part (e.g. "library", "weights", "ir"). */
    public FileEntry component(String part) {
        String name = components.get(part);
        if (name == null) throw new IllegalArgumentException("manifest names no '" + part + "' component");
        return file(name);
    }

    /** Every component must name a listed file. */
    void checkComponents() {
        Set<String> listed = new HashSet<>();
        for (FileEntry f : files) listed.add(f.name());
        for (Map.Entry<String, String> c : components.entrySet()) {
            if (!listed.contains(c.getValue())) {
                throw new IllegalArgumentException("component '" + c.getKey() + "' names '" + c.getValue() + "', which is not a file of the artifact");
            }
        }
    }

    public byte[] toJson() {
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("format", (long) FORMAT);
        root.put("kiln_version", kilnVersion);
        root.put("model", model);
        root.put("framework", framework);
        root.put("target", Map.of("name", target.name(), "platform", target.platform()));
        root.put("compiler_options", compilerOptions);
        root.put("inputs", tensorsJson(inputs));
        root.put("outputs", tensorsJson(outputs));
        root.put("components", components);
        List<Object> fileList = new ArrayList<>();
        for (FileEntry f : files) fileList.add(Map.of("name", f.name(), "size", f.size(), "blake2b", f.blake2b()));
        root.put("files", fileList);
        return Json.write(root).getBytes(StandardCharsets.UTF_8);
    }

    private static List<Object> tensorsJson(List<TensorSpec> tensors) {
        List<Object> list = new ArrayList<>();
        for (TensorSpec t : tensors) {
            list.add(Map.of("name", t.name(), "dtype", t.dtype().irName(), "shape", t.shape(), "layout", t.layout()));
        }
        return list;
    }

    /** Parses and validates manifest.json; every key is required and no other key is allowed. */
    public static Manifest parse(byte[] json) throws ArtifactException {
        try {
            String text = StandardCharsets.UTF_8.newDecoder().decode(java.nio.ByteBuffer.wrap(json)).toString();
            Fields root = new Fields(Json.parse(text), "manifest", "format", "kiln_version", "model", "framework", "target",
                    "compiler_options", "inputs", "outputs", "components", "files");
            long format = root.integer("format");
            if (format != FORMAT) throw new IllegalArgumentException("manifest format " + format + " is not supported (this reader knows " + FORMAT + ")");
            Fields target = root.object("target", "name", "platform");
            Map<String, String> components = new TreeMap<>();
            for (Map.Entry<String, Object> c : root.map("components").entrySet()) {
                if (!(c.getValue() instanceof String s)) throw new IllegalArgumentException("components." + c.getKey() + " is not a string");
                components.put(c.getKey(), s);
            }
            List<FileEntry> files = new ArrayList<>();
            for (Fields f : root.objects("files", "name", "size", "blake2b")) {
                files.add(new FileEntry(f.string("name"), f.integer("size"), f.string("blake2b")));
            }
            Manifest m = new Manifest(root.string("kiln_version"), root.string("model"), root.string("framework"),
                    new Target(target.string("name"), target.map("platform")), root.map("compiler_options"),
                    tensors(root, "inputs"), tensors(root, "outputs"), components, files);
            m.checkComponents();
            return m;
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new ArtifactException(FILE_NAME + " is not valid UTF-8", e);
        } catch (IllegalArgumentException e) {
            throw new ArtifactException(FILE_NAME + " is invalid: " + e.getMessage(), e);
        }
    }

    private static List<TensorSpec> tensors(Fields root, String key) {
        List<TensorSpec> list = new ArrayList<>();
        for (Fields t : root.objects(key, "name", "dtype", "shape", "layout")) {
            List<Long> shape = new ArrayList<>();
            for (Object d : t.list("shape")) {
                if (!(d instanceof Long l)) throw new IllegalArgumentException(key + " '" + t.string("name") + "': shape holds a non-integer " + d);
                shape.add(l);
            }
            list.add(new TensorSpec(t.string("name"), DType.fromIrName(t.string("dtype")), shape, t.string("layout")));
        }
        return list;
    }

    /** A JSON object with exactly the expected keys, read with typed getters. */
    private record Fields(Map<String, Object> map, String where) {
        Fields(Object value, String where, String... keys) {
            this(checked(value, where, keys), where);
        }

        private static Map<String, Object> checked(Object value, String where, String... keys) {
            if (!(value instanceof Map<?, ?> raw)) throw new IllegalArgumentException(where + " is not an object");
            @SuppressWarnings("unchecked")
            Map<String, Object> map = (Map<String, Object>) raw;
            Set<String> expected = Set.of(keys);
            for (String k : new TreeMap<>(map).keySet()) {
                if (!expected.contains(k)) throw new IllegalArgumentException(where + " has an unknown key \"" + k + "\"");
            }
            for (String k : keys) {
                if (!map.containsKey(k)) throw new IllegalArgumentException(where + " lacks the key \"" + k + "\"");
            }
            return map;
        }

        String string(String key) {
            if (!(map.get(key) instanceof String s)) throw new IllegalArgumentException(where + "." + key + " is not a string");
            return s;
        }

        long integer(String key) {
            if (!(map.get(key) instanceof Long l)) throw new IllegalArgumentException(where + "." + key + " is not an integer");
            return l;
        }

        List<?> list(String key) {
            if (!(map.get(key) instanceof List<?> l)) throw new IllegalArgumentException(where + "." + key + " is not an array");
            return l;
        }

        @SuppressWarnings("unchecked")
        Map<String, Object> map(String key) {
            if (!(map.get(key) instanceof Map<?, ?> m)) throw new IllegalArgumentException(where + "." + key + " is not an object");
            return (Map<String, Object>) m;
        }

        Fields object(String key, String... keys) {
            return new Fields(map.get(key), where + "." + key, keys);
        }

        List<Fields> objects(String key, String... keys) {
            List<Fields> out = new ArrayList<>();
            List<?> l = list(key);
            for (int i = 0; i < l.size(); i++) out.add(new Fields(l.get(i), where + "." + key + "[" + i + "]", keys));
            return out;
        }
    }

    /** A relative path of plain parts ('/'-separated), short enough for a ustar header. */
    static void checkPath(String name) {
        if (name == null || name.isEmpty()) throw new IllegalArgumentException("empty file name");
        if (name.length() > MAX_PATH_LENGTH) throw new IllegalArgumentException("file name longer than " + MAX_PATH_LENGTH + " characters: '" + name + "'");
        for (String part : name.split("/", -1)) {
            if (part.equals(".") || part.equals("..") || !PATH_PART.matcher(part).matches()) {
                throw new IllegalArgumentException("unsafe file name '" + name + "' (relative paths of letters, digits, '.', '_', '+', '-' only)");
            }
        }
    }

    private static <T> T require(T value, String what) {
        if (value == null) throw new IllegalArgumentException("manifest field " + what + " is missing");
        return value;
    }

    private static void requireSimple(String value, String what) {
        require(value, what);
        if (!SIMPLE_NAME.matcher(value).matches()) {
            throw new IllegalArgumentException(what + " '" + value + "' must be letters, digits, '.', '_', '+', '-' (it names the artifact file)");
        }
    }

    /** An immutable copy with sorted keys, holding only manifest JSON values (Integer widened to Long). */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> jsonObject(Map<String, ?> map, String where) {
        return (Map<String, Object>) jsonValue(map, where);
    }

    private static Object jsonValue(Object value, String where) {
        if (value instanceof Map<?, ?> map) {
            TreeMap<String, Object> copy = new TreeMap<>();
            for (Map.Entry<?, ?> e : map.entrySet()) {
                if (!(e.getKey() instanceof String key)) throw new IllegalArgumentException(where + " has a non-string key " + e.getKey());
                copy.put(key, jsonValue(e.getValue(), where + "." + key));
            }
            return Collections.unmodifiableMap(copy);
        }
        if (value instanceof List<?> list) {
            List<Object> copy = new ArrayList<>();
            for (Object v : list) copy.add(jsonValue(v, where + "[]"));
            return Collections.unmodifiableList(copy);
        }
        if (value instanceof Integer i) return (long) i;
        if (value instanceof String || value instanceof Long || value instanceof Boolean) return value;
        throw new IllegalArgumentException(where + " holds " + value + ", which is not a string, integer, boolean, array or object");
    }
}
