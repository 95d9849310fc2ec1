package dev.kiln.ir.ops;

import dev.kiln.ir.Attribute;

/** A declared attribute of an op: its kind, and its default (null when the attribute is required or has no default). */
public record AttrSpec(String name, Attribute.Kind kind, Attribute defaultValue, boolean required) {
}
