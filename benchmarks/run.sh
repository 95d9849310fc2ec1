#!/usr/bin/env bash
# Runs the JMH benchmarks (Kiln native vs ONNX Runtime, latency and resnet18 compile time) and prints the
# Kiln/ORT median table with GFLOP/s. Each (model, threads) pair runs Kiln and ORT back to back, for
# KILN_BENCH_ROUNDS rounds (default 3). Defaults suit a small (2-core) machine (-f 1 -wi 3 -i 5 -w 1s -r 1s);
# JMH options given here replace them, e.g. KILN_BENCH_ROUNDS=5 benchmarks/run.sh -p model=squeezenet1_1 -p threads=1 -i 10.
# Build first: mvn install -DskipTests -pl benchmarks -am  (set KILN_BUILD when building with -Dkiln.build=X).
set -euo pipefail
home="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$home/benchmarks/${KILN_BUILD:-target}"
jar="$build/kiln-benchmarks-0.1.0-SNAPSHOT.jar"
if [ ! -f "$jar" ]; then
  echo "run.sh: $jar not found; build it with: mvn install -DskipTests -pl benchmarks -am${KILN_BUILD:+ -Dkiln.build=$KILN_BUILD}" >&2
  exit 2
fi
cd "$home"
exec java -Dkiln.bench.results="$build/results" ${KILN_BENCH_ROUNDS:+"-Dkiln.bench.rounds=$KILN_BENCH_ROUNDS"} -cp "$jar:$build/lib/*" dev.kiln.benchmarks.BenchmarkMain "$@"
