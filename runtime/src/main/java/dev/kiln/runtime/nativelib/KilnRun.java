package dev.kiln.runtime.nativelib;

import com.sun.jna.Pointer;

/**
 * kiln_run through JNA's direct mapping: a JNI registration of this native method, which costs a fraction of
 * what {@code Function.invoke} costs per call (no argument array, no per-argument type dispatch). JNI binds a
 * method of one class to one library, so every {@link NativeModel} defines a copy of this class of its own
 * ({@link NativeModel} loads it through a class loader of its own) and registers that copy with its library.
 */
final class KilnRun {
    private KilnRun() {}

    static native int kiln_run(Pointer inputs, Pointer outputs);
}
