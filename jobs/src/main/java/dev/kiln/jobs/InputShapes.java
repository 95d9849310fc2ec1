package dev.kiln.jobs;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.DecimalNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kiln.frontend.DataInputConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

/**
 * The DataInputConfig of a job, read the way its framework and target read it: a dictionary of input
 * names to shapes (ordered: MXNet, ONNX, Darknet and PyTorch bind inputs by position), the list form of
 * PyTorch, and for the coreml TargetDevice the CoreML converter's input descriptions with flexible
 * shapes, type, bias and scale. Both the console form {@code {"data":[1,3,224,224]}} and the CLI's escaped
 * form {@code {\"data\":[1,3,224,224]}} are read.
 */
final class InputShapes {
    /** The layout a framework's shapes are given in (KERAS: NCHW, although its model artifacts are NHWC). */
    enum Layout {
        NCHW("[1,3,224,224]", 1), NHWC("[1,224,224,3]", 3);

        final String example;
        /** Where a rank-4 image shape keeps its channels. */
        final int channelAxis;

        Layout(String example, int channelAxis) {
            this.example = example;
            this.channelAxis = channelAxis;
        }
    }

    /** A CoreML input's type: a MultiArray (the converter's default) or an image. */
    enum InputType {
        TENSOR("Tensor"), IMAGE("Image");

        final String apiName;

        InputType(String apiName) { this.apiName = apiName; }
    }

    /** A dimension: a size when lower == upper, else a CoreML range; an upper of {@link #UNBOUNDED} has no limit. */
    record Dim(long lower, long upper) {
        static final long UNBOUNDED = -1;

        static Dim of(long size) { return new Dim(size, size); }

        boolean fixed() { return lower == upper; }

        boolean admits(long size) { return size >= lower && (upper == UNBOUNDED || size <= upper); }

        @Override
        public String toString() { return fixed() ? Long.toString(lower) : lower + ".." + upper; }
    }

    /**
     * One input.
     *
     * @param name the input name; null in PyTorch's list form, where inputs are bound by position
     * @param shapes the shapes the input may take: one (its dims may be ranges) or, enumerated, two or more
     *               static shapes of one rank
     * @param defaultShape the static shape to compile with: the default_shape given, else the first
     *                     enumerated shape or each range's lower bound (what the CoreML converter uses)
     * @param bias per-channel bias of an Image input, empty otherwise or when not given
     * @param scale the scale factor of an Image input, when given
     */
    record Input(String name, List<List<Dim>> shapes, List<Long> defaultShape, InputType type,
                 List<BigDecimal> bias, Optional<BigDecimal> scale) {
        Input {
            shapes = shapes.stream().map(List::copyOf).toList();
            defaultShape = List.copyOf(defaultShape);
            bias = List.copyOf(bias);
        }

        /** Whether the input takes more than one shape (range dimensions or enumerated shapes). */
        boolean flexible() { return shapes.size() > 1 || shapes.get(0).stream().anyMatch(d -> !d.fixed()); }
    }

    /** Frameworks that bind DataInputConfig inputs in the model's NHWC layout. */
    private static final Set<Framework> NHWC_FRAMEWORKS = EnumSet.of(Framework.TENSORFLOW, Framework.TFLITE);
    /** TFLite models carry their input shapes; DataInputConfig may fix them. */
    private static final Set<Framework> SHAPES_OPTIONAL = EnumSet.of(Framework.TFLITE);
    /** Their models fix their own feature count; Neo takes no input shapes for them. */
    private static final Set<Framework> SHAPES_NOT_NEEDED = EnumSet.of(Framework.XGBOOST, Framework.SKLEARN);
    /** Only PyTorch (a traced module has positional inputs) takes the list form [[1,3,224,224]]. */
    private static final Set<Framework> LIST_FORM = EnumSet.of(Framework.PYTORCH);

    private static final String SHAPE = "shape", DEFAULT_SHAPE = "default_shape", TYPE = "type", BIAS = "bias",
            SCALE = "scale";
    private static final List<String> COREML_KEYS = List.of(SHAPE, DEFAULT_SHAPE, TYPE, BIAS, SCALE);
    /** A CoreML range dimension: "lower..upper", or "lower..-1" for no upper bound. */
    private static final Pattern RANGE = Pattern.compile("([0-9]{1,18})\\.\\.(-1|[0-9]{1,18})");

    private static final JsonFactory JSON = JsonFactory.builder().build();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
    private static final JsonMapper WRITER = JsonMapper.builder()
            .enable(StreamWriteFeature.WRITE_BIGDECIMAL_AS_PLAIN).build();

    private final List<Input> inputs;
    private final boolean coreml;

    private InputShapes(List<Input> inputs, boolean coreml) {
        this.inputs = List.copyOf(inputs);
        this.coreml = coreml;
    }

    /**
     * Reads a DataInputConfig (null when the request has none) for the framework, and for the CoreML
     * converter when {@code coreml}; throws a VALIDATION error saying which input is wrong and what was
     * expected.
     */
    static InputShapes parse(String text, Framework framework, boolean coreml) {
        Layout layout = NHWC_FRAMEWORKS.contains(framework) ? Layout.NHWC : Layout.NCHW;
        String format = formatHint(framework, coreml, layout);
        if (SHAPES_NOT_NEEDED.contains(framework)) {
            // An empty {} or [] says the same as no DataInputConfig; any shape would be silently unused.
            if (text != null && !isEmptyContainer(text)) {
                throw error("input data name and shape are not needed for " + framework
                        + "; leave DataInputConfig out");
            }
            return new InputShapes(List.of(), false);
        }
        if (text == null) {
            if (SHAPES_OPTIONAL.contains(framework)) return new InputShapes(List.of(), coreml);
            throw error("DataInputConfig is required for " + framework + ". Please provide input shapes for all "
                    + "inputs in " + format);
        }
        JsonNode root = readJson(text, format);
        List<Input> inputs = new ArrayList<>();
        if (root.isObject()) {
            for (Iterator<String> names = root.fieldNames(); names.hasNext(); ) {
                String name = names.next();
                if (name.isBlank()) throw error("Input names must not be empty. Please provide input shapes in " + format);
                inputs.add(input(name, "Input '" + name + "'", root.get(name), layout, coreml));
            }
        } else if (root.isArray() && LIST_FORM.contains(framework)) {
            for (int i = 0; i < root.size(); i++) inputs.add(input(null, "Input " + i, root.get(i), layout, coreml));
        } else if (root.isArray()) {
            throw error(framework + " takes input shapes in the dictionary format, not the list format (which is "
                    + "for PYTORCH). Please provide input shapes for all inputs in " + format);
        } else {
            throw error("DataInputConfig must be a JSON dictionary, got " + root + ". Please provide input shapes "
                    + "for all inputs in " + format);
        }
        if (inputs.isEmpty() && !SHAPES_OPTIONAL.contains(framework)) {
            throw error("DataInputConfig names no inputs. Please provide input shapes for all inputs in " + format);
        }
        return new InputShapes(inputs, coreml);
    }

    List<Input> inputs() { return inputs; }

    boolean isEmpty() { return inputs.isEmpty(); }

    /** The shapes as the frontends take them: each input's default (static) shape, names and order kept. */
    DataInputConfig toFrontend() {
        return DataInputConfig.of(inputs.stream().map(i -> new DataInputConfig.Entry(i.name(),
                i.defaultShape().stream().mapToLong(Long::longValue).toArray())).toList());
    }

    /**
     * The shapes as one JSON text without spaces, input order kept, in the form they were given (dictionary
     * or list); CoreML inputs as objects with their shape, default_shape when flexible, and type, bias and
     * scale when an image. What DescribeCompilationJob reports as DerivedDataInputConfig.
     */
    String canonicalJson() {
        boolean named = inputs.isEmpty() || inputs.get(0).name() != null;
        ObjectNode byName = NODES.objectNode();
        ArrayNode byPosition = NODES.arrayNode();
        for (Input input : inputs) {
            JsonNode node = coreml ? coremlNode(input) : dims(input.shapes().get(0));
            if (named) byName.set(input.name(), node);
            else byPosition.add(node);
        }
        try {
            return WRITER.writeValueAsString(named ? byName : byPosition);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static ObjectNode coremlNode(Input input) {
        ObjectNode node = NODES.objectNode();
        if (input.shapes().size() == 1) {
            node.set(SHAPE, dims(input.shapes().get(0)));
        } else {
            ArrayNode shapes = node.putArray(SHAPE);
            input.shapes().forEach(s -> shapes.add(dims(s)));
        }
        if (input.flexible()) {
            ArrayNode defaults = node.putArray(DEFAULT_SHAPE);
            input.defaultShape().forEach(defaults::add);
        }
        if (input.type() == InputType.IMAGE) {
            node.put(TYPE, InputType.IMAGE.apiName);
            if (!input.bias().isEmpty()) {
                ArrayNode bias = node.putArray(BIAS);
                input.bias().forEach(b -> bias.add(DecimalNode.valueOf(b)));
            }
            input.scale().ifPresent(s -> node.set(SCALE, DecimalNode.valueOf(s)));
        }
        return node;
    }

    private static ArrayNode dims(List<Dim> shape) {
        ArrayNode node = NODES.arrayNode();
        for (Dim d : shape) {
            if (d.fixed()) node.add(d.lower());
            else node.add(d.toString());
        }
        return node;
    }

    private static Input input(String name, String label, JsonNode value, Layout layout, boolean coreml) {
        if (value.isArray()) {
            List<Long> shape = staticShape(value).orElseThrow(() -> error("Input shapes should be provided in "
                    + layout + " format. " + label + ": expected a list of positive integers such as "
                    + layout.example + ", got " + value));
            return new Input(name, List.of(shape.stream().map(Dim::of).toList()), shape, InputType.TENSOR,
                    List.of(), Optional.empty());
        }
        if (value.isObject() && coreml) return coremlInput(name, label, value, layout);
        if (value.isObject()) {
            throw error(label + ": expected a shape such as " + layout.example + ", got " + value + "; input "
                    + "descriptions with \"shape\", \"default_shape\" and \"type\" are for the coreml TargetDevice");
        }
        throw error("Input shapes should be provided in " + layout + " format. " + label + ": expected a list of "
                + "positive integers such as " + layout.example + ", got " + value);
    }

    private static Input coremlInput(String name, String label, JsonNode description, Layout layout) {
        for (Iterator<String> keys = description.fieldNames(); keys.hasNext(); ) {
            String key = keys.next();
            if (!COREML_KEYS.contains(key)) {
                throw error(label + ": unknown key '" + key + "'; a CoreML input takes " + String.join(", ", COREML_KEYS));
            }
        }
        JsonNode shapeNode = description.get(SHAPE);
        if (shapeNode == null) {
            throw error(label + ": \"shape\" is required, e.g. {\"" + SHAPE + "\": " + layout.example + "}");
        }
        List<List<Dim>> shapes = shapeNode.isArray() && !shapeNode.isEmpty() && shapeNode.get(0).isArray()
                ? enumeratedShapes(label, shapeNode, layout) : List.of(flexibleShape(label, shapeNode, layout));
        List<Long> defaultShape = defaultShape(label, description.get(DEFAULT_SHAPE), shapes, layout);

        InputType type = InputType.TENSOR;
        JsonNode typeNode = description.get(TYPE);
        if (typeNode != null) {
            type = Arrays.stream(InputType.values()).filter(t -> typeNode.isTextual()
                    && t.apiName.equals(typeNode.textValue())).findFirst().orElseThrow(() ->
                    error(label + ": \"type\" must be \"Image\" or \"Tensor\", got " + typeNode));
        }
        JsonNode biasNode = description.get(BIAS), scaleNode = description.get(SCALE);
        if (type != InputType.IMAGE) {
            String key = biasNode != null ? BIAS : scaleNode != null ? SCALE : null;
            if (key != null) {
                throw error(label + ": \"" + key + "\" applies to Image inputs only; add \"type\": \"Image\" or "
                        + "leave \"" + key + "\" out");
            }
            return new Input(name, shapes, defaultShape, type, List.of(), Optional.empty());
        }
        long channels = imageChannels(label, shapes, layout);
        List<BigDecimal> bias = new ArrayList<>();
        if (biasNode != null) {
            boolean numbers = biasNode.isArray();
            for (JsonNode b : biasNode) numbers &= b.isNumber();
            if (!numbers || biasNode.size() != channels) {
                throw error(label + ": \"bias\" must be a list of " + channels + " numbers, one per channel of the "
                        + layout + " shape, such as " + listOf(channels, "-1") + ", got " + biasNode);
            }
            biasNode.forEach(b -> bias.add(b.decimalValue()));
        }
        if (scaleNode != null && !scaleNode.isNumber()) {
            throw error(label + ": \"scale\" must be a number such as 0.007843137255, got " + scaleNode);
        }
        return new Input(name, shapes, defaultShape, type, bias, Optional.ofNullable(scaleNode)
                .map(JsonNode::decimalValue));
    }

    /** Two or more static shapes of one rank (the CoreML converter's EnumeratedShapes). */
    private static List<List<Dim>> enumeratedShapes(String label, JsonNode shapeNode, Layout layout) {
        if (shapeNode.size() < 2) {
            throw error(label + ": enumerated shapes need at least two shapes, got " + shapeNode + "; give one shape "
                    + "as \"shape\": " + layout.example);
        }
        List<List<Dim>> shapes = new ArrayList<>();
        for (int i = 0; i < shapeNode.size(); i++) {
            JsonNode s = shapeNode.get(i);
            List<Long> shape = staticShape(s).orElseThrow(() -> error(label + ": each enumerated shape must be a list "
                    + "of positive integers such as " + layout.example + ", got " + s));
            if (!shapes.isEmpty() && shape.size() != shapes.get(0).size()) {
                throw error(label + ": enumerated shapes must all have the same rank, got " + shapeNode);
            }
            shapes.add(shape.stream().map(Dim::of).toList());
        }
        return shapes;
    }

    /** A shape whose dimensions are sizes or ranges "lower..upper" (the CoreML converter's RangeDim). */
    private static List<Dim> flexibleShape(String label, JsonNode shapeNode, Layout layout) {
        String expected = "a list of positive integers and ranges such as [\"1..10\"," + layout.example.substring(3)
                + " or a list of shapes such as [" + layout.example + "," + layout.example + "]";
        if (!shapeNode.isArray() || shapeNode.isEmpty()) {
            throw error(label + ": \"shape\" must be " + expected + ", got " + shapeNode);
        }
        List<Dim> dims = new ArrayList<>();
        for (int i = 0; i < shapeNode.size(); i++) {
            JsonNode d = shapeNode.get(i);
            Optional<Long> size = positive(d);
            if (size.isPresent()) {
                dims.add(Dim.of(size.get()));
                continue;
            }
            Matcher range = d.isTextual() ? RANGE.matcher(d.textValue()) : null;
            if (range == null || !range.matches()) {
                throw error(label + ": dimension " + i + " of \"shape\" must be a positive integer or a range such as "
                        + "\"1..10\", got " + d);
            }
            long lower = Long.parseLong(range.group(1)), upper = Long.parseLong(range.group(2));
            if (lower < 1 || (upper != Dim.UNBOUNDED && upper < lower)) {
                throw error(label + ": dimension " + i + " range " + d + " must have 1 <= lower <= upper, such as "
                        + "\"1..10\", or \"lower..-1\" for no upper bound");
            }
            dims.add(new Dim(lower, upper));
        }
        return dims;
    }

    private static List<Long> defaultShape(String label, JsonNode given, List<List<Dim>> shapes, Layout layout) {
        if (given == null) return shapes.get(0).stream().map(Dim::lower).toList();
        List<Long> shape = staticShape(given).orElseThrow(() -> error(label + ": \"default_shape\" must be a list of "
                + "positive integers such as " + layout.example + ", got " + given));
        boolean fits = shapes.stream().anyMatch(s -> s.size() == shape.size()
                && IntStream.range(0, s.size()).allMatch(i -> s.get(i).admits(shape.get(i))));
        if (!fits) {
            throw error(label + ": \"default_shape\" " + given + " must be " + (shapes.size() > 1
                    ? "one of the enumerated shapes " : "within the shape ") + render(shapes));
        }
        return shape;
    }

    /** An image input is a batch of images: rank 4, with a fixed channel count where the layout keeps it. */
    private static long imageChannels(String label, List<List<Dim>> shapes, Layout layout) {
        Dim channels = null;
        for (List<Dim> shape : shapes) {
            Dim c = shape.size() == 4 ? shape.get(layout.channelAxis) : null;
            if (c == null || !c.fixed() || (channels != null && !c.equals(channels))) {
                throw error(label + ": an Image input takes rank-4 " + layout + " shapes with a fixed number of "
                        + "channels, such as " + layout.example + ", got " + render(shapes));
            }
            channels = c;
        }
        return channels.lower();
    }

    private static Optional<List<Long>> staticShape(JsonNode node) {
        if (!node.isArray() || node.isEmpty()) return Optional.empty();
        List<Long> shape = new ArrayList<>();
        for (JsonNode d : node) {
            Optional<Long> size = positive(d);
            if (size.isEmpty()) return Optional.empty();
            shape.add(size.get());
        }
        return Optional.of(shape);
    }

    private static Optional<Long> positive(JsonNode d) {
        return d.isIntegralNumber() && d.canConvertToLong() && d.longValue() > 0 ? Optional.of(d.longValue())
                : Optional.empty();
    }

    private static String render(List<List<Dim>> shapes) {
        List<String> each = shapes.stream().map(s -> dims(s).toString()).toList();
        return each.size() == 1 ? each.get(0) : "[" + String.join(",", each) + "]";
    }

    private static String listOf(long n, String item) {
        return "[" + String.join(",", Collections.nCopies((int) Math.min(n, 4), item))
                + (n > 4 ? ",..." : "") + "]";
    }

    private static String formatHint(Framework framework, boolean coreml, Layout layout) {
        String shape = coreml ? "{\"shape\": " + layout.example + "}" : layout.example;
        String hint = "the dictionary format {\"input_name\": " + shape + "}";
        return LIST_FORM.contains(framework) ? hint + " or the list format [" + shape + "]" : hint;
    }

    private static boolean isEmptyContainer(String text) {
        String t = text.replaceAll("\\s", "");
        return t.equals("{}") || t.equals("[]");
    }

    /**
     * Reads the JSON, refusing duplicate keys (a dictionary would keep only the last shape of an input
     * named twice). Text that is not JSON as given but holds \" is read as the CLI's escaped form.
     */
    private static JsonNode readJson(String text, String format) {
        try {
            return readTree(text);
        } catch (JsonProcessingException e) {
            if (text.contains("\\\"")) {
                try {
                    return readTree(text.replace("\\\"", "\""));
                } catch (JsonProcessingException unescaped) {
                    throw notJson(unescaped, format);
                }
            }
            throw notJson(e, format);
        }
    }

    private static JsonNode readTree(String text) throws JsonProcessingException {
        try (JsonParser p = JSON.createParser(text)) {
            p.nextToken();
            JsonNode root = read(p, null);
            if (p.nextToken() != null) {
                throw new JsonParseException(p, "unexpected text after the JSON value");
            }
            return root;
        } catch (JsonProcessingException e) {
            throw e;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One JSON value; {@code label} names the input it belongs to (null at the top). */
    private static JsonNode read(JsonParser p, String label) throws IOException {
        JsonToken token = p.currentToken();
        if (token == null) throw new JsonParseException(p, "no JSON value");
        switch (token) {
            case START_OBJECT -> {
                ObjectNode object = NODES.objectNode();
                for (String key = p.nextFieldName(); key != null; key = p.nextFieldName()) {
                    p.nextToken();
                    if (object.has(key)) {
                        throw error(label == null ? "Input '" + key + "' is given more than once; each input name "
                                + "may appear once" : label + ": \"" + key + "\" is given more than once");
                    }
                    object.set(key, read(p, label == null ? "Input '" + key + "'" : label));
                }
                return object;
            }
            case START_ARRAY -> {
                ArrayNode array = NODES.arrayNode();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    array.add(read(p, label == null ? "Input " + array.size() : label));
                }
                return array;
            }
            case VALUE_NUMBER_INT -> { return NODES.numberNode(p.getBigIntegerValue()); }
            // As written: bias and scale keep their digits in canonicalJson, and 1.0 stays a non-integer.
            case VALUE_NUMBER_FLOAT -> { return DecimalNode.valueOf(p.getDecimalValue()); }
            case VALUE_STRING -> { return NODES.textNode(p.getText()); }
            case VALUE_TRUE, VALUE_FALSE -> { return NODES.booleanNode(token == JsonToken.VALUE_TRUE); }
            case VALUE_NULL -> { return NODES.nullNode(); }
            // The parser reports misplaced tokens itself; only value tokens reach here.
            default -> throw new IllegalStateException("parser gave " + token + " where a value starts");
        }
    }

    private static CompilationJobException notJson(JsonProcessingException e, String format) {
        String where = e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr() + ", column "
                + e.getLocation().getColumnNr();
        return error("DataInputConfig is not valid JSON (" + e.getOriginalMessage() + where + "). Please provide "
                + "input shapes for all inputs in " + format);
    }

    private static CompilationJobException error(String what) {
        return CompilationJobException.validation("ClientError: InputConfiguration: " + what);
    }
}
