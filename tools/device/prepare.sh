#!/usr/bin/env bash
# Run HERE (the machine with .NET), in the checkout that the device tool sends: builds what tools/device/run.sh
# needs on the GPU machine (which has no .NET) into .device/ (git-ignored; the run call carries it).
#   bash tools/device/prepare.sh
# .device/trg.xz      self-contained single-file linux-x64 build of `trg`, xz-compressed (110 MB -> ~36 MB on
#                     2026-12-03; .NET's own single-file compression left 57 MB, too much for the 64 MiB the device
#                     call carries with the tracked tree); run.sh unpacks it on the GPU machine
# .device/samples/    the fixtures' sample photo (public domain, ../shared/samples/README.md); ../shared does not travel
# .device/ptx-sm_90/  `trg ptx --arch sm_90` output made here (run.sh compares the GPU machine's with it)
# .device/faces-opencl.json  face finding on PoCL with this build (run.sh compares the device's with it)
# .device/SHA256SUMS  checked by run.sh before it uses them
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
SAMPLE=${TRG_SAMPLE:-../shared/samples/astronaut.png}

if ! git check-ignore -q .device/trg.xz; then
  echo "prepare: error: .device/ is not git-ignored here; add '/.device/' to .gitignore first" >&2
  exit 2
fi
[ -f "$SAMPLE" ] || { echo "prepare: error: $SAMPLE: sample photo not found" >&2; exit 3; }
# Fixtures are tracked files: they travel with the working tree, run.sh reads them in place.
ls tests/TrgIlgpu.Tests/Fixtures/parity/*.json >/dev/null

# Build into a fresh folder, then swap it in: an interrupted build leaves the previous one intact.
STAGE=$(mktemp -d /tmp/trg-device.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/samples"
dotnet publish src/TrgIlgpu.Cli -c Release -r linux-x64 --self-contained \
  -p:PublishSingleFile=true -p:DebugType=none -p:GenerateDocumentationFile=false \
  -o "$STAGE/pub" --nologo -v quiet
echo "prepare: compressing trg ($(du -m "$STAGE/pub/trg" | cut -f1) MiB) with xz -9 (a minute or two)"
xz -9 -T0 -c "$STAGE/pub/trg" > "$STAGE/trg.xz"
TRG="$STAGE/pub/trg"
cp "$SAMPLE" "$STAGE/samples/astronaut.png"
cp ../shared/samples/README.md "$STAGE/samples/README.md" 2>/dev/null || true
git describe --always --dirty --abbrev=12 > "$STAGE/COMMIT"
# run.sh checks the unpacked binary too (trg.sha256), so a bad unpack is caught before any step.
(cd "$STAGE/pub" && sha256sum trg > "$STAGE/trg.sha256")
(cd "$STAGE" && sha256sum trg.xz samples/astronaut.png > SHA256SUMS)
"$TRG" --help >/dev/null   # the build starts at all
# The sm_90 PTX of every kernel as this build emits it here (and its ptxas table when ptxas is here): run.sh
# compiles it again on the GPU machine and compares (docs/devices.md, "CUDA without a GPU").
"$TRG" ptx --arch sm_90 --out "$STAGE/ptx-sm_90" > "$STAGE/ptx-sm_90.txt"
# Face finding (no TRG model) on PoCL with this build: run.sh compares the device's detections and landmarks with it.
"$TRG" estimate "$STAGE/samples/astronaut.png" --device opencl --json "$STAGE/faces-opencl.json" -q
rm -rf "$STAGE/pub"
rm -rf .device
mkdir .device
cp -a "$STAGE"/. .device/

size=$(du -sm .device | cut -f1)
tree=$(git ls-files -z | du -cm --files0-from=- 2>/dev/null | tail -1 | cut -f1)
echo "prepare: .device/ ready: ${size} MiB (trg.xz $(du -m .device/trg.xz | cut -f1) MiB), commit $(cat .device/COMMIT);"
echo "         with the tracked tree (~${tree} MiB) the call sends about $((size + tree)) MiB of the 64 MiB allowed."
if [ $((size + tree)) -gt 62 ]; then
  echo "prepare: error: $((size + tree)) MiB is too close to the 64 MiB the device call carries: trim before a GPU run" >&2
  exit 4
fi
echo "prepare: dry run here first:  bash tools/device/run.sh --dry-run"
echo "prepare: then ONE device call (about 3-5 minutes of a 15-minute budget; machine start not included):"
echo
echo "  run(command: \"bash tools/device/run.sh\", carry: [\".device\"], timeout_s: 480)"
echo
echo "         read output_tail (the results table is printed last), copy files_at/results.md into"
echo "         bench/RESULTS.md, and call give_back at once unless you rerun."
