package dev.kiln.jobs;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.JsonSerializer;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.SerializerProvider;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.module.SimpleModule;
import java.io.IOException;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.stream.Collectors;

/**
 * The API's shapes as SageMaker's JSON 1.1 protocol spells them: members in UpperCamelCase, absent members
 * left out, timestamps as epoch seconds (with milliseconds as a fraction).
 */
public final class JobsJson {
    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.UPPER_CAMEL_CASE)
            .defaultPropertyInclusion(JsonInclude.Value.construct(JsonInclude.Include.NON_NULL, JsonInclude.Include.NON_NULL))
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
            .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS)
            .addModule(new SimpleModule().addSerializer(Instant.class, new EpochSeconds())
                    .addDeserializer(Instant.class, new FromEpochSeconds()))
            .build();

    private JobsJson() {}

    /** One shape as compact JSON. */
    public static String write(Object shape) {
        try {
            return MAPPER.writeValueAsString(shape);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write " + shape.getClass().getSimpleName() + " as JSON", e);
        }
    }

    /** One shape as indented JSON, for people. */
    public static String writePretty(Object shape) {
        try {
            return MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(shape);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write " + shape.getClass().getSimpleName() + " as JSON", e);
        }
    }

    /**
     * Reads a request shape. Text that is not a JSON object is a SerializationException; unknown members and
     * members of the wrong type are a ValidationException naming the member.
     */
    public static <T> T read(String json, Class<T> shape) {
        try {
            T value = MAPPER.readValue(json, shape);
            if (value == null) throw notAnObject();
            return value;
        } catch (UnrecognizedPropertyException e) {
            String parent = path(e.getPath().subList(0, e.getPath().size() - 1));
            throw CompilationJobException.validation("unknown member '" + e.getPropertyName() + "'"
                    + (parent.isEmpty() ? "" : " in " + parent) + "; known members: " + e.getKnownPropertyIds().stream().map(Object::toString).sorted()
                    .collect(Collectors.joining(", ")));
        } catch (InvalidFormatException e) {
            throw CompilationJobException.validation("member" + at(e) + " has the wrong type: got " + e.getValue());
        } catch (MismatchedInputException e) {
            if (e.getPath().isEmpty()) throw notAnObject();
            throw CompilationJobException.validation("member" + at(e) + " has the wrong type; expected "
                    + (e.getTargetType() == null ? "another form" : expected(e.getTargetType())));
        } catch (JsonProcessingException e) {
            throw new CompilationJobException(CompilationJobException.Error.SERIALIZATION,
                    "the request is not valid JSON: " + e.getOriginalMessage());
        }
    }

    private static CompilationJobException notAnObject() {
        return new CompilationJobException(CompilationJobException.Error.SERIALIZATION, "the request body must be a JSON object");
    }

    private static String at(MismatchedInputException e) {
        String path = path(e.getPath());
        return path.isEmpty() ? "" : " " + path;
    }

    /** A member path as the API documents it: InputConfig.S3Uri, Tags[2].Key. */
    private static String path(java.util.List<com.fasterxml.jackson.databind.JsonMappingException.Reference> references) {
        return references.stream()
                .map(r -> r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]")
                .collect(Collectors.joining(".")).replace(".[", "[");
    }

    private static String expected(Class<?> type) {
        if (type == String.class) return "a string";
        if (type == Integer.class || type == int.class) return "an integer";
        if (type == Instant.class) return "a timestamp (epoch seconds)";
        if (java.util.List.class.isAssignableFrom(type)) return "a list";
        if (type.isRecord()) return "an object";
        return type.getSimpleName();
    }

    private static final class EpochSeconds extends JsonSerializer<Instant> {
        @Override
        public void serialize(Instant t, JsonGenerator out, SerializerProvider provider) throws IOException {
            out.writeNumber(BigDecimal.valueOf(t.toEpochMilli()).movePointLeft(3).stripTrailingZeros());
        }
    }

    /** Epoch seconds as a number, or an ISO-8601 string as some clients send. */
    private static final class FromEpochSeconds extends JsonDeserializer<Instant> {
        @Override
        public Instant deserialize(JsonParser in, DeserializationContext ctx) throws IOException {
            if (in.currentToken() == JsonToken.VALUE_STRING) {
                try {
                    return Instant.parse(in.getText());
                } catch (java.time.format.DateTimeParseException e) {
                    return (Instant) ctx.handleWeirdStringValue(Instant.class, in.getText(), "not an ISO-8601 timestamp");
                }
            }
            if (!in.currentToken().isNumeric()) return (Instant) ctx.handleUnexpectedToken(Instant.class, in);
            BigDecimal seconds = in.getDecimalValue();
            return Instant.ofEpochMilli(seconds.movePointRight(3).longValue());
        }
    }
}
