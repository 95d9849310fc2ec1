package dev.kiln.server;

import dev.kiln.passes.PassContext;
import dev.kiln.passes.PassOptions;
import dev.kiln.passes.Pipelines;
import dev.kiln.runtime.interpreter.InterpreterEvaluator;
import org.junit.jupiter.api.Test;

/**
 * The passes never break valid IR: every backend-suite case that imports goes through the level-3
 * pipeline (with a blocked layout, so layout conversion is exercised too) and must still give the
 * suite's expected outputs.
 */
class OptimizedConformanceTest {

    @Test
    void everyImportedCaseSurvivesLevel3WithUnchangedOutputs() throws Exception {
        PassOptions options = PassOptions.defaults().withLayout("NCHW8c");
        OnnxConformanceTest.runSuite("conformance-report-o3.txt", "import + level-3 passes (NCHW8c) + reference interpreter",
                g -> Pipelines.forLevel(3, options).run(g, PassContext.builder().options(options).evaluator(new InterpreterEvaluator()).build()));
    }
}
