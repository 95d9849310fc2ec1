package dev.kiln.ir.ops;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.IrException;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the IR knows about an op: its input and output arity, typed attributes with defaults, and
 * how to infer output types. Op semantics are those of the newest ONNX version of the op of the
 * same name; frontends rewrite older forms into it.
 */
public final class OpSpec {
    public static final int VARIADIC = Integer.MAX_VALUE;

    private final String name;
    private final int minInputs;
    private final int maxInputs;
    private final int minOutputs;
    private final int maxOutputs;
    private final Map<String, AttrSpec> attributes;
    private final TypeInference inference;

    private OpSpec(Builder b) {
        this.name = b.name;
        this.minInputs = b.minInputs;
        this.maxInputs = b.maxInputs;
        this.minOutputs = b.minOutputs;
        this.maxOutputs = b.maxOutputs;
        this.attributes = Collections.unmodifiableMap(new LinkedHashMap<>(b.attributes));
        this.inference = b.inference;
    }

    public static Builder builder(String name) { return new Builder(name); }

    public String name() { return name; }

    public int minInputs() { return minInputs; }

    public int maxInputs() { return maxInputs; }

    public int minOutputs() { return minOutputs; }

    public int maxOutputs() { return maxOutputs; }

    public Map<String, AttrSpec> attributes() { return attributes; }

    /** How the op relates to tensor layouts; the layout pass reads this instead of naming ops. */
    public LayoutRule layoutRule() { return LayoutRules.of(name); }

    /** For a layout-SENSITIVE convolution, the input holding its filter, which may be laid out like one (OIHW8i8o); else -1. */
    public int weightInput() { return LayoutRules.weightInput(name); }

    /**
     * For a {@link LayoutRule#RESAMPLE} op: whether the node, by its constant parameters, leaves every dim of input
     * 0 but the last two (and the channels, dim 1) exactly as they are, so that it resamples images plane by plane;
     * false when a parameter that decides it is not a constant.
     */
    public boolean resamplesImageOnly(List<Value> inputs, Map<String, Attribute> attrs) {
        return LayoutRules.resamplesImageOnly(name, inputs, attrs);
    }

    /** How the op takes to reduced precision; the dtype passes read this instead of naming ops. */
    public PrecisionPolicy precisionPolicy() { return PrecisionPolicies.of(name); }

    /**
     * Whether a float input keeps its own dtype when the op computes in reduced precision (Resize's scales, Pow's
     * exponent, BatchNormalization's statistics: ONNX types them apart from the data).
     */
    public boolean keepsInputPrecision(int input) { return PrecisionPolicies.keepsOwnType(name, input); }

    /** The attribute's value on a node, or its declared default; null when neither exists. */
    public Attribute attributeOrDefault(Map<String, Attribute> given, String attrName) {
        Attribute a = given.get(attrName);
        if (a != null) return a;
        AttrSpec s = attributes.get(attrName);
        return s == null ? null : s.defaultValue();
    }

    /** Checks arity and attributes, then infers the output types. */
    public List<TensorType> inferTypes(String nodeName, List<Value> inputs, Map<String, Attribute> attrs, int outputCount) {
        validate(nodeName, inputs, attrs, outputCount);
        List<TensorType> types = LayoutRules.infer(this, inference, nodeName, inputs, attrs, outputCount);
        if (types.size() != outputCount) {
            throw new IrException(name + " node '" + nodeName + "': inference gave " + types.size() + " types for " + outputCount + " outputs");
        }
        return types;
    }

    /** Checks arity, attribute names and kinds, and required attributes. */
    public void validate(String nodeName, List<Value> inputs, Map<String, Attribute> attrs, int outputCount) {
        int n = inputs.size();
        if (n < minInputs || n > maxInputs) {
            throw new IrException(name + " node '" + nodeName + "' has " + n + " inputs; expected " + arity(minInputs, maxInputs));
        }
        for (int i = 0; i < minInputs; i++) {
            if (inputs.get(i) == null) throw new IrException(name + " node '" + nodeName + "': required input " + i + " is missing");
        }
        if (outputCount < minOutputs || outputCount > maxOutputs) {
            throw new IrException(name + " node '" + nodeName + "' has " + outputCount + " outputs; expected " + arity(minOutputs, maxOutputs));
        }
        for (Map.Entry<String, Attribute> e : attrs.entrySet()) {
            AttrSpec s = attributes.get(e.getKey());
            if (s == null) throw new IrException(name + " node '" + nodeName + "' has unknown attribute '" + e.getKey() + "'");
            if (s.kind() != e.getValue().kind()) {
                throw new IrException(name + " node '" + nodeName + "': attribute '" + e.getKey() + "' must be " + s.kind() + ", got " + e.getValue().kind());
            }
        }
        for (AttrSpec s : attributes.values()) {
            if (s.required() && !attrs.containsKey(s.name())) {
                throw new IrException(name + " node '" + nodeName + "' lacks required attribute '" + s.name() + "'");
            }
        }
    }

    private static String arity(int min, int max) {
        if (max == VARIADIC) return "at least " + min;
        return min == max ? Integer.toString(min) : min + " to " + max;
    }

    @Override
    public String toString() { return "OpSpec(" + name + ")"; }

    /** Declares an op spec. */
    public static final class Builder {
        private final String name;
        private int minInputs = 1;
        private int maxInputs = 1;
        private int minOutputs = 1;
        private int maxOutputs = 1;
        private final Map<String, AttrSpec> attributes = new LinkedHashMap<>();
        private TypeInference inference;

        private Builder(String name) { this.name = name; }

        public Builder inputs(int min, int max) { minInputs = min; maxInputs = max; return this; }

        public Builder inputs(int exactly) { return inputs(exactly, exactly); }

        public Builder outputs(int min, int max) { minOutputs = min; maxOutputs = max; return this; }

        public Builder outputs(int exactly) { return outputs(exactly, exactly); }

        /** An optional attribute with a default (null: absent means "not set"). */
        public Builder attr(String attrName, Attribute.Kind kind, Attribute defaultValue) {
            attributes.put(attrName, new AttrSpec(attrName, kind, defaultValue, false));
            return this;
        }

        public Builder requiredAttr(String attrName, Attribute.Kind kind) {
            attributes.put(attrName, new AttrSpec(attrName, kind, null, true));
            return this;
        }

        public Builder infer(TypeInference f) { inference = f; return this; }

        public OpSpec build() {
            if (inference == null) throw new IllegalStateException("op " + name + " has no type inference");
            return new OpSpec(this);
        }
    }
}
