#!/usr/bin/env bash
# Copies the three face-api models the engine runs (manifest + .bin, byte-identical) from the pinned npm package into
# weights/faceapi/, with the package's MIT licence and a PROVENANCE.md (version, npm integrity, sha256 of each file).
# Re-runnable: installs the pinned packages (npm ci) when node_modules is missing, then overwrites the vendored files.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/weights/faceapi"
pkg="$here/node_modules/@vladmandic/face-api"
[ -d "$pkg" ] || (cd "$here" && npm ci --no-audit --no-fund)
version="$(node -p "require('$pkg/package.json').version")"
[ "$version" = "1.7.15" ] || { echo "expected @vladmandic/face-api 1.7.15, found $version" >&2; exit 1; }
integrity="$(node -p "require('$here/package-lock.json').packages['node_modules/@vladmandic/face-api'].integrity")"
mkdir -p "$out"
models=(ssd_mobilenetv1_model tiny_face_detector_model face_landmark_68_model)
for m in "${models[@]}"; do
  cp "$pkg/model/$m-weights_manifest.json" "$pkg/model/$m.bin" "$out/"
done
cp "$pkg/LICENSE" "$out/LICENSE"
{
  echo "# Provenance of weights/faceapi"
  echo
  echo "Copied byte-identical by \`tools/faceapi/vendor.sh\` from the npm package \`@vladmandic/face-api@$version\`"
  echo "(MIT licence, text in LICENSE here; npm tarball integrity \`$integrity\`), folder \`model/\`."
  echo
  echo "Each model is a TensorFlow.js weights manifest (JSON: tensor names, shapes, dtypes and uint8 quantisation"
  echo "\`scale\`/\`min\`) plus one \`.bin\` of uint8-quantised weights (value = scale * q + min, dequantised to float32 by"
  echo "\`tf.io.decodeWeights\`; SSD's anchors \`Output/extra_dim\` are plain float32). The library embeds these files"
  echo "(src/TrgIlgpu/TrgIlgpu.csproj) and reads them with \`TfjsWeights\`; a test checks the sha256 values below."
  echo
  echo "| model | network | file | bytes | sha256 |"
  echo "|---|---|---|---|---|"
  for m in "${models[@]}"; do
    case "$m" in
      ssd_mobilenetv1_model) what="SSD MobileNet v1 face detector, 512x512 input";;
      tiny_face_detector_model) what="Tiny face detector (tiny YOLOv2, separable convs), input a multiple of 32";;
      face_landmark_68_model) what="FaceLandmark68Net, 68 landmarks from a 112x112 crop";;
    esac
    for f in "$m-weights_manifest.json" "$m.bin"; do
      echo "| $m | $what | $f | $(stat -c %s "$out/$f") | $(sha256sum "$out/$f" | cut -d' ' -f1) |"
    done
  done
} > "$out/PROVENANCE.md"
echo "vendored ${models[*]} from @vladmandic/face-api@$version into $out"
