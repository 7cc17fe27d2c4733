#!/usr/bin/env bash
# The package route as a new user takes it, outside the repository (docs/packaging.md; run by .ci/run):
#   1. pack the three packages into a local folder (tools/release/pack.sh, version suffix ci.<time>),
#   2. `dotnet tool install` TrgIlgpu.Tool from that folder into a temporary tool path and run `trg estimate` on the
#      sample photo,
#   3. a throw-away console app that references the TrgIlgpu *package* (`dotnet add package`) and runs the README's
#      C# example, copied from README.md as it stands.
# Offline: the only package source is the local folder; everything else comes read-only from the NuGet cache
# (a fallback folder), filled by the repository's own restore. Usage: tools/release/check-packages.sh [PHOTO]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
photo="$(realpath "${1:-$root/../shared/samples/astronaut.png}")"
bbox="153,49,295,191"                      # the face in the sample photo (as in README.md)

export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
work="$(mktemp -d "${TMPDIR:-/tmp}/trg-packages.XXXXXX")"
trap 'rm -rf "$work"' EXIT
fail() { echo "check-packages: FAILED: $*" >&2; exit 1; }

# 1. Pack. A unique prerelease version, so no stale copy of an earlier check can be picked up from any cache.
bash "$root/tools/release/pack.sh" "$work/feed" "ci.$(date -u +%Y%m%d%H%M%S)" >/dev/null
version="$(cd "$work/feed" && ls TrgIlgpu.Tool.*.nupkg | sed 's/^TrgIlgpu\.Tool\.\(.*\)\.nupkg$/\1/')"
for id in TrgIlgpu TrgIlgpu.Kernels TrgIlgpu.Tool; do
  [ -f "$work/feed/$id.$version.nupkg" ] && [ -f "$work/feed/$id.$version.snupkg" ] || fail "$id $version: .nupkg or .snupkg missing"
done
echo "check-packages: packed $version"

cache="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
cat > "$work/nuget.config" <<CONFIG
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <config><add key="globalPackagesFolder" value="$work/packages" /></config>
  <packageSources><clear /><add key="local" value="$work/feed" /></packageSources>
  <fallbackPackageFolders><clear /><add key="cache" value="$cache" /></fallbackPackageFolders>
</configuration>
CONFIG

# 2. The tool.
dotnet tool install TrgIlgpu.Tool --version "$version" --tool-path "$work/tools" --configfile "$work/nuget.config" >/dev/null
trg="$work/tools/trg"
"$trg" estimate "$photo" --model synthetic:trgv2 --bbox "$bbox" --json "$work/box.json" > "$work/box.log" 2>&1 \
  || { cat "$work/box.log" >&2; fail "trg estimate --bbox failed"; }
grep -q '"translation"' "$work/box.json" || fail "trg estimate --bbox: no face in $work/box.json"
echo "check-packages: tool: trg estimate --bbox ok"
if "$trg" estimate "$photo" --json "$work/found.json" > "$work/found.log" 2>&1; then
  grep -q '"translation"' "$work/found.json" || fail "trg estimate (no box): no face found"
  echo "check-packages: tool: trg estimate (faces found) ok"
else
  cat "$work/found.log" >&2; fail "trg estimate (no box) failed"
fi

# 3. A console app on the library package, running the README's example.
dotnet new console -o "$work/app" -n HeadPose --no-restore >/dev/null
cp "$work/nuget.config" "$work/app/nuget.config"
(cd "$work/app" && dotnet add package TrgIlgpu --version "$version" >/dev/null)
{
  echo 'using SixLabors.ImageSharp;'
  echo 'using SixLabors.ImageSharp.PixelFormats;'
  echo 'using TrgIlgpu;'
  echo 'using TrgIlgpu.Engine;'
  echo 'using TrgIlgpu.Imaging;'
  echo ''
  echo 'ReadmeExample.Run(args[0], args[1], args[2], Console.Out);'
  echo ''
  echo 'static class ReadmeExample'
  echo '{'
  awk '/^```csharp$/ { inside = 1; block = ""; next }
       /^```$/ && inside { inside = 0; if (block ~ /TrgEstimator\.Create\(/) { printf "%s", block; exit } next }
       inside { block = block $0 "\n" }' "$root/README.md"
  echo '}'
} > "$work/app/Program.cs"
grep -q 'TrgEstimator.Create(' "$work/app/Program.cs" || fail "README.md has no C# example calling TrgEstimator.Create"
(cd "$work/app" && dotnet run -c Release -- synthetic:trgv2 "$photo" "$work/overlay.png") > "$work/app.log" 2>&1 \
  || { cat "$work/app.log" >&2; fail "the README example failed"; }
cat "$work/app.log"
grep -q '^yaw ' "$work/app.log" || fail "the README example printed no pose"
[ -s "$work/overlay.png" ] || fail "the README example wrote no overlay"
echo "check-packages: library: the README example ran on the TrgIlgpu $version package"
