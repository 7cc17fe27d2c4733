#!/usr/bin/env bash
# Packs the three NuGet packages (TrgIlgpu.Kernels, TrgIlgpu, TrgIlgpu.Tool) with their .snupkg symbols into one folder.
# Usage: tools/release/pack.sh [OUT_DIR (default out/packages)] [VERSION_SUFFIX (e.g. ci.42; default none)]
# The version is Directory.Build.props' VersionPrefix (the one version source) plus the suffix. docs/packaging.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$(mkdir -p "${1:-$root/out/packages}" && cd "${1:-$root/out/packages}" && pwd)"
suffix="${2:-}"
props=(-c Release -o "$out" -p:ContinuousIntegrationBuild=true -p:VersionSuffix="$suffix" -nologo -v:q)
# The library pack builds the kernels; the tool pack reuses both builds.
for project in kernels/TrgIlgpu.Kernels.csproj src/TrgIlgpu/TrgIlgpu.csproj src/TrgIlgpu.Cli/TrgIlgpu.Cli.csproj; do
  dotnet pack "$root/$project" "${props[@]}"
done
ls -l "$out"
