#!/usr/bin/env bash
# Run HERE (the machine with .NET), in the checkout that the device tool sends: builds what tools/device/run.sh
# needs on the GPU machine (which has no .NET) into .device/ (git-ignored; the run call carries it).
#   bash tools/device/prepare.sh
# .device/trg/        self-contained single-file linux-x64 build of `trg` (57 MB on 2026-12-03)
# .device/samples/    the fixtures' sample photo (public domain, ../shared/samples/README.md); ../shared does not travel
# .device/ptx-sm_90/  `trg ptx --arch sm_90` output made here (run.sh compares the GPU machine's with it)
# .device/faces-opencl.json  face finding on PoCL with this build (run.sh compares the device's with it)
# .device/SHA256SUMS  checked by run.sh before it uses them
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
SAMPLE=${TRG_SAMPLE:-../shared/samples/astronaut.png}

if ! git check-ignore -q .device/trg/trg; then
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
  -p:PublishSingleFile=true -p:EnableCompressionInSingleFile=true \
  -o "$STAGE/trg" --nologo -v quiet
cp "$SAMPLE" "$STAGE/samples/astronaut.png"
cp ../shared/samples/README.md "$STAGE/samples/README.md" 2>/dev/null || true
git describe --always --dirty --abbrev=12 > "$STAGE/COMMIT"
(cd "$STAGE" && sha256sum trg/trg samples/astronaut.png > SHA256SUMS)
"$STAGE/trg/trg" --help >/dev/null   # the build starts at all
# The sm_90 PTX of every kernel as this build emits it here (and its ptxas table when ptxas is here): run.sh
# compiles it again on the GPU machine and compares (docs/devices.md, "CUDA without a GPU").
"$STAGE/trg/trg" ptx --arch sm_90 --out "$STAGE/ptx-sm_90" > "$STAGE/ptx-sm_90.txt"
# Face finding (no TRG model) on PoCL with this build: run.sh compares the device's detections and landmarks with it.
"$STAGE/trg/trg" estimate "$STAGE/samples/astronaut.png" --device opencl --json "$STAGE/faces-opencl.json" -q
rm -rf .device
mkdir .device
cp -a "$STAGE"/. .device/

size=$(du -sm .device | cut -f1)
tree=$(git ls-files -z | du -cm --files0-from=- 2>/dev/null | tail -1 | cut -f1)
echo "prepare: .device/ ready: ${size} MiB (trg $(du -m .device/trg/trg | cut -f1) MiB), commit $(cat .device/COMMIT);"
echo "         with the tracked tree (~${tree} MiB) the call sends about $((size + tree)) MiB of the 64 MiB allowed."
echo "prepare: dry run here first:  bash tools/device/run.sh --dry-run"
echo "prepare: then ONE device call (about 3-5 minutes of a 15-minute budget; machine start not included):"
echo
echo "  run(command: \"bash tools/device/run.sh\", carry: [\".device\"], timeout_s: 480)"
echo
echo "         read output_tail (the results table is printed last), copy files_at/results.md into"
echo "         bench/RESULTS.md, and call give_back at once unless you rerun."
