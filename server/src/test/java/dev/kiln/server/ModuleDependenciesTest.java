package dev.kiln.server;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import org.junit.jupiter.api.Test;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

/**
 * The dependency arrows of the module map: the IR sees only the JDK, passes only the IR; a deployed model needs only
 * runtime and IR; compilation jobs sit below the server and the command line, which compiles only through them.
 */
class ModuleDependenciesTest {
    private static final JavaClasses KILN = new ClassFileImporter()
            .withImportOption(location -> !location.contains("/test-classes/")) // tests, whatever the build folder is called
            .importPackages("dev.kiln");

    @Test
    void irDependsOnlyOnTheJdk() {
        noClasses().that().resideInAPackage("dev.kiln.ir..")
                .should().dependOnClassesThat().resideOutsideOfPackages("dev.kiln.ir..", "java..")
                .check(KILN);
    }

    @Test
    void frontendNeverSeesRuntimeOrLaterStages() {
        noClasses().that().resideInAPackage("dev.kiln.frontend..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.kiln.runtime..", "dev.kiln.passes..", "dev.kiln.backends..",
                        "dev.kiln.jobs..", "dev.kiln.server..", "dev.kiln.cli..")
                .check(KILN);
    }

    @Test
    void passesSeeOnlyTheIr() {
        noClasses().that().resideInAPackage("dev.kiln.passes..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.kiln.frontend..", "dev.kiln.runtime..", "dev.kiln.backends..",
                        "dev.kiln.jobs..", "dev.kiln.server..", "dev.kiln.cli..")
                .check(KILN);
    }

    @Test
    void backendsNeverSeeFrontendsOrLaterStages() {
        noClasses().that().resideInAPackage("dev.kiln.backends..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.kiln.frontend..", "dev.kiln.jobs..", "dev.kiln.server..", "dev.kiln.cli..")
                .check(KILN);
    }

    @Test
    void jobsNeverSeeTheServerOrTheCommandLine() {
        noClasses().that().resideInAPackage("dev.kiln.jobs..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.kiln.server..", "dev.kiln.cli..")
                .check(KILN);
    }

    @Test
    void theCommandLineCompilesThroughJobs() {
        noClasses().that().resideInAPackage("dev.kiln.cli..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.kiln.backends..")
                .check(KILN);
    }

    @Test
    void runtimeNeverSeesTheCompiler() {
        noClasses().that().resideInAPackage("dev.kiln.runtime..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.kiln.frontend..", "dev.kiln.passes..", "dev.kiln.backends..",
                        "dev.kiln.jobs..", "dev.kiln.server..", "dev.kiln.cli..")
                .check(KILN);
    }
}
