package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.kiln.backends.c.OpBatch.attrs;

/**
 * Einsum of every equation form in every dtype its spec allows, against the interpreter; in f32 and f16 the
 * matrix-product forms run as GEMMs (C as is or transposed), the others as loops.
 */
class EinsumEmitterTest {
    @TempDir
    Path dir;

    /** An equation and its operands' dims. */
    private record Case(String equation, long[]... shapes) {}

    private static final List<Case> CASES = List.of(
            new Case("ij,jk->ik", new long[] {3, 5}, new long[] {5, 4}),
            new Case("bij,bjk->bik", new long[] {2, 3, 5}, new long[] {2, 5, 4}),
            new Case("bhid,bhjd->bhij", new long[] {1, 2, 3, 4}, new long[] {1, 2, 5, 4}),
            new Case("ii->i", new long[] {4, 4}),
            new Case("ii", new long[] {5, 5}),
            new Case("bii->bi", new long[] {2, 3, 3}),
            new Case("ij->ji", new long[] {3, 4}),
            new Case("i,i", new long[] {6}, new long[] {6}),
            new Case("i,j->ij", new long[] {3}, new long[] {4}),
            new Case("ij->", new long[] {3, 4}),
            new Case("ij", new long[] {2, 3}),
            new Case("ba", new long[] {2, 3}),
            new Case("abc,cd,de->abe", new long[] {2, 3, 4}, new long[] {4, 5}, new long[] {5, 2}),
            new Case("...ij,...jk->...ik", new long[] {2, 1, 3, 4}, new long[] {5, 4, 2}),
            new Case("...i,...i->...", new long[] {3, 4}, new long[] {1, 4}),
            new Case("i...->...", new long[] {3, 2, 2}),
            new Case("ij,kj->ik", new long[] {3, 1}, new long[] {2, 4}),
            new Case("ijk,ikl->ijl", new long[] {2, 0, 3}, new long[] {2, 3, 2}),
            new Case("ij,jk", new long[] {2, 0}, new long[] {0, 3}),
            new Case("a,b,c,d,e,f->fedcba", new long[] {2}, new long[] {1}, new long[] {2}, new long[] {3}, new long[] {1}, new long[] {2}),
            new Case(" i j , j k -> i k ", new long[] {2, 3}, new long[] {3, 2}),
            new Case("ij,jk->ki", new long[] {3, 5}, new long[] {5, 4}),
            new Case("bij,bjk->ibk", new long[] {2, 3, 5}, new long[] {2, 5, 4}),
            new Case("bij,bjk->ikb", new long[] {2, 3, 5}, new long[] {2, 5, 4}));

    /** Every case, or (not thorough) the few that cover contraction, diagonals, broadcasting and rank 0. */
    private static void einsums(OpBatch b, DType t, boolean thorough) {
        for (Case c : thorough ? CASES : List.of(CASES.get(1), CASES.get(5), CASES.get(7), CASES.get(13), CASES.get(17))) {
            List<Value> inputs = new ArrayList<>();
            for (long[] s : c.shapes()) inputs.add(b.input(t, s));
            b.node("Einsum", inputs, attrs("equation", c.equation()));
        }
    }

    @Test
    void everyEquationInEveryType() {
        OpBatch b = new OpBatch("einsum", 1);
        for (DType t : List.of(DType.F32, DType.F16, DType.F64, DType.I8, DType.I16, DType.I32, DType.I64, DType.U8, DType.U16, DType.U32, DType.U64)) {
            einsums(b, t, t == DType.F32 || t == DType.F64 || t == DType.I64 || t == DType.U8);
        }
        b.assertMatchesAsWritten(dir, 1e-6);
    }
}
