#!/usr/bin/env bash
# Self-contained single-file `trg` executables, one per runtime (docs/packaging.md records sizes and host needs).
# Usage: tools/release/publish.sh [OUT_DIR (default out/release)] [RID ...]
#        (default RIDs: linux-x64 linux-arm64 win-x64 osx-arm64; out/release/<rid>/trg[.exe])
# Untrimmed: ILGPU maps .NET methods (Math, BitOperations, ...) onto its intrinsics by reflection, which trimming
# removes (docs/packaging.md, "Trimming"). ReadyToRun (precompiled, one image per assembly) and not compressed:
# measured (docs/startup.md, ".NET settings"), ReadyToRun cuts a `trg estimate`'s CPU time by about a third, and
# uncompressed the bundle's assemblies are mapped from the file instead of unpacked into memory (peak resident set
# 302 MiB instead of 411 MiB with compression); the price is the file size (155 MB instead of 59 MB for linux-x64).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$(mkdir -p "${1:-$root/out/release}" && cd "${1:-$root/out/release}" && pwd)"
shift || true
rids=("$@")
[ ${#rids[@]} -gt 0 ] || rids=(linux-x64 linux-arm64 win-x64 osx-arm64)
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
for rid in "${rids[@]}"; do
  staging="$out/.staging/$rid"
  rm -rf "$staging"
  dotnet publish "$root/src/TrgIlgpu.Cli/TrgIlgpu.Cli.csproj" -c Release -r "$rid" --self-contained \
    -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=false -p:PublishTrimmed=false \
    -p:PublishReadyToRun=true -p:PublishReadyToRunComposite=false \
    -p:ContinuousIntegrationBuild=true -o "$staging" -nologo -v:q
  mkdir -p "$out/$rid"
  exe="trg"; [[ "$rid" == win-* ]] && exe="trg.exe"
  install -m 0755 "$staging/$exe" "$out/$rid/$exe"    # only the executable: PDBs and XML docs stay behind
  rm -rf "$staging"
  printf '%-12s %s  %s bytes\n' "$rid" "$out/$rid/$exe" "$(stat -c %s "$out/$rid/$exe")"
done
rmdir "$out/.staging" 2>/dev/null || true
