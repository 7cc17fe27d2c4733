#!/usr/bin/env bash
# Rewrites the fuzzers' seed corpus, tests/TrgIlgpu.Fuzz/corpus/TARGET/* (a few kB; docs/fuzzing.md), from code in
# tests/TrgIlgpu.Fuzz/SeedCorpus.cs and the small PyTorch-made fixtures in tests/TrgIlgpu.Tests/Fixtures/checkpoints.
set -euo pipefail
cd "$(dirname "$0")/../.."
corpus=tests/TrgIlgpu.Fuzz/corpus
rm -rf "$corpus"
dotnet run -c Release --project tests/TrgIlgpu.Fuzz -- seeds "$corpus" tests/TrgIlgpu.Tests/Fixtures/checkpoints
du -sh "$corpus"
