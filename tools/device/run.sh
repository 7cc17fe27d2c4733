#!/usr/bin/env bash
# The one prepared run for the GPU machine (tools/device/README.md). Run THERE, from the repo root, after
# tools/device/prepare.sh HERE, as ONE device call:
#     run(command: "bash tools/device/run.sh", carry: [".device"], timeout_s: 480)
# It needs no .NET (.device/trg.xz is a self-contained build, unpacked first) and only the machine's python3 (numpy,
# PyTorch; its lzma module unpacks when there is no xz).
#   (0) `trg ptx --arch sm_90` there, compared with the PTX prepare.sh wrote here
#   (1) CUDA parity: `trg estimate --device cuda` on the parity fixtures' inputs vs the committed PyTorch values
#   (2) timings: `trg bench` and PyTorch eager (default float32 settings, then TF32 off) at batch 1/8/64
#   (3) per-kernel profile (batch 1 and the largest batch), PyTorch-on-GPU parity, nvidia-smi before/after
#   face networks vs the PoCL reference made by prepare.sh; start-up phases (`--timings`) cold and warm
# Results under $OUT: results.md (paste into bench/RESULTS.md), results.json, run.log, nvidia-smi.txt,
# trace-b1.json (Perfetto), raw.tar.gz (every JSON the steps wrote). Each step has a timeout and may fail
# alone; the whole stays inside TRG_BUDGET_S (default 360 s).
#
# Dry run HERE (OpenCL on PoCL, PyTorch on the CPU, tiny iteration counts), same code path:
#     bash tools/device/run.sh --dry-run            (TRG_DEVICE=opencl bash tools/device/run.sh is the same)
# Environment: TRG_DEVICE (cuda|opencl|cpu), TRG_BATCHES ("1 8 64"), TRG_WARMUP, TRG_ITERS_B1/_B8/_BIG,
#              TRG_BUDGET_S, TRG_PYTHON (a python3 with numpy and torch), OUT (default out/device-DEVICE).
set -u -o pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2

DRY=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$arg' (use --dry-run or nothing)" >&2; exit 2 ;;
  esac
done
if [ "$DRY" = 1 ]; then DEVICE=${TRG_DEVICE:-opencl}; else DEVICE=${TRG_DEVICE:-cuda}; fi
[ "$DEVICE" != cuda ] && DRY=1   # anything but CUDA is a rehearsal: small counts, results marked as such
case "$DEVICE" in cuda|opencl|cpu) ;; *) echo "run.sh: TRG_DEVICE '$DEVICE': use cuda, opencl or cpu" >&2; exit 2 ;; esac
TORCH_DEVICE=$([ "$DEVICE" = cuda ] && echo cuda || echo cpu)

if [ "$DRY" = 1 ]; then
  BATCHES=${TRG_BATCHES:-"1 2"}; WARMUP=${TRG_WARMUP:-1}
  ITERS_B1=${TRG_ITERS_B1:-3}; ITERS_B8=${TRG_ITERS_B8:-3}; ITERS_BIG=${TRG_ITERS_BIG:-2}
  BUDGET_S=${TRG_BUDGET_S:-900}; PROFILE_ITERS=2
else
  BATCHES=${TRG_BATCHES:-"1 8 64"}; WARMUP=${TRG_WARMUP:-20}
  ITERS_B1=${TRG_ITERS_B1:-500}; ITERS_B8=${TRG_ITERS_B8:-300}; ITERS_BIG=${TRG_ITERS_BIG:-100}
  BUDGET_S=${TRG_BUDGET_S:-360}; PROFILE_ITERS=20
fi
iters_for() { if [ "$1" -le 1 ]; then echo "$ITERS_B1"; elif [ "$1" -le 8 ]; then echo "$ITERS_B8"; else echo "$ITERS_BIG"; fi; }
BIGGEST=$(for b in $BATCHES; do echo "$b"; done | sort -n | tail -1)

OUT=${OUT:-$ROOT/out/device-$DEVICE}
mkdir -p "$OUT"
RAW=$(mktemp -d /tmp/trg-device-raw.XXXXXX)
TRG=${TRG_BIN:-$RAW/trg}   # TRG_BIN: another build, for rehearsing failures; else .device/trg.xz unpacked
BENCH_MODEL=synthetic:trgv2:1
FIXTURES="tests/TrgIlgpu.Tests/Fixtures/parity/trgv2.json tests/TrgIlgpu.Tests/Fixtures/parity/trg.json"
START=$SECONDS

# A python3 that imports the given modules: the machine's own first (the GPU image's has torch), then Debian's.
pick_python() {
  local p
  for p in ${TRG_PYTHON:-} python3 /usr/bin/python3; do
    command -v "$p" >/dev/null 2>&1 && "$p" -c "import $1" >/dev/null 2>&1 && { echo "$p"; return 0; }
  done
  echo false
}

# step NAME MAX_SECONDS COMMAND...: runs with a timeout cut to what is left of the budget; never stops the script.
step() {
  local name=$1 max=$2; shift 2
  local left=$((BUDGET_S - (SECONDS - START))) t0=$SECONDS rc
  if [ "$left" -lt 10 ]; then
    echo "== [$name] skipped: the ${BUDGET_S}s budget is spent"
    printf '%s\t%s\t%s\n' "$name" skipped 0 >> "$RAW/steps.tsv"
    return 0
  fi
  [ "$max" -gt "$left" ] && max=$left
  echo "== [$name] (timeout ${max}s) $*"
  timeout -k 5 "$max" "$@"
  rc=$?
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "== [$name] TIMED OUT after ${max}s"
  echo "== [$name] rc=$rc in $((SECONDS - t0))s"
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" >> "$RAW/steps.tsv"
  LAST_RC=$rc
  return 0
}

# engine_step: a step running trg. After one engine step timed out (a hang), the rest are skipped, so the
# budget still pays for the PyTorch steps.
ENGINE_HUNG=0
engine_step() {
  if [ "$ENGINE_HUNG" = 1 ]; then
    echo "== [$1] skipped: an earlier trg step hung"
    printf '%s\t%s\t%s\n' "$1" skipped 0 >> "$RAW/steps.tsv"
    return 0
  fi
  LAST_RC=0
  step "$@"
  if [ "$LAST_RC" = 124 ] || [ "$LAST_RC" = 137 ]; then ENGINE_HUNG=1; fi
  return 0
}

# ILGPU asks the loader for libcuda.so; drivers often ship only libcuda.so.1. Never the toolkit's stubs or compat.
setup_libcuda() {
  local lib="" d
  lib=$(ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 .*x86-64/ && !/stubs|compat/ {print $NF; exit}')
  if [ -z "$lib" ]; then
    for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /lib/x86_64-linux-gnu /usr/lib /usr/lib/wsl/lib; do
      [ -e "$d/libcuda.so.1" ] && { lib=$d/libcuda.so.1; break; }
    done
  fi
  if [ -z "$lib" ]; then
    echo "libcuda: no libcuda.so.1 found (ldconfig -p and the usual folders)"
    return 1
  fi
  mkdir -p /tmp/trg-libcuda
  ln -sf "$(readlink -f "$lib")" /tmp/trg-libcuda/libcuda.so
  export LD_LIBRARY_PATH=/tmp/trg-libcuda${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  echo "libcuda: /tmp/trg-libcuda/libcuda.so -> $(readlink -f "$lib")"
}

parity() {  # parity VARIANT_FIXTURE: every estimate run of its plan, then the comparison
  local fx=$1 variant line name model image focal boxes camera args b
  variant=$(basename "$fx" .json)
  mkdir -p "$RAW/parity" "$RAW/images"
  cp .device/samples/astronaut.png "$RAW/images/astronaut.png"
  if ! "$PY" tools/device/check_parity.py plan "$fx" --image-dir "$RAW/images" > "$RAW/plan-$variant.tsv"; then
    echo "parity $variant: no plan"; printf '%s\t%s\t%s\n' "parity-$variant-plan" 2 0 >> "$RAW/steps.tsv"; return
  fi
  local runs
  mapfile -t runs < "$RAW/plan-$variant.tsv"
  for line in "${runs[@]}"; do
    IFS=$'\t' read -r name model image focal boxes camera <<< "$line"
    if [ "$camera" = "-" ]; then args=(--focal "$focal"); else args=(--camera "$camera"); fi  # camera: off-centre principal point
    IFS=';' read -ra bs <<< "$boxes"
    for b in "${bs[@]}"; do args+=(--bbox "$b"); done
    engine_step "estimate $name" 60 "$TRG" estimate "$image" --model "$model" --device "$DEVICE" \
      "${args[@]}" --json "$RAW/parity/$name.json" --quiet < /dev/null
  done
  step "parity $variant" 60 "$PY" tools/device/check_parity.py compare "$fx" --outputs "$RAW/parity" --json "$RAW/parity-$variant.json"
}

main() {
  echo "run.sh: device $DEVICE$([ "$DRY" = 1 ] && echo ' (DRY RUN: rehearsal counts, not results)'), batches $BATCHES, warmup $WARMUP, budget ${BUDGET_S}s"
  echo "run.sh: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -srm), $(nproc) CPUs, tree $(git rev-parse --short HEAD 2>/dev/null || echo '?'), .device from $(cat .device/COMMIT 2>/dev/null || echo '?')"
  PY=$(pick_python numpy); PYT=$(pick_python torch)
  echo "run.sh: python (numpy) $PY, python (torch) $PYT $("$PYT" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)' 2>/dev/null)"
  date -u '+%Y-%m-%d' > "$RAW/date.txt"
  echo "$DEVICE" > "$RAW/device.txt"
  echo "$DRY" > "$RAW/dry.txt"
  printf 'step\trc\tseconds\n' > "$RAW/steps.tsv"

  (cd .device && sha256sum -c --quiet SHA256SUMS) && echo "run.sh: .device checksums ok" || echo "run.sh: .device checksums DIFFER"
  if [ -z "${TRG_BIN:-}" ]; then
    if [ -f .device/trg.xz ]; then
      { xz -dc .device/trg.xz > "$TRG" 2>/dev/null ||
        "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' .device/trg.xz "$TRG"; } &&
        chmod +x "$TRG" && (cd "$RAW" && sha256sum -c --quiet "$ROOT/.device/trg.sha256") &&
        echo "run.sh: trg unpacked ($(du -m "$TRG" | cut -f1) MiB, checksum ok)" || echo "run.sh: trg could not be unpacked"
    else
      echo "run.sh: .device/trg.xz missing: run tools/device/prepare.sh here and carry .device"
    fi
  fi

  if command -v nvidia-smi >/dev/null 2>&1; then
    timeout 20 nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
    timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu,pstate \
      --format=csv > "$RAW/gpu-before.csv" 2>&1
    cat "$RAW/gpu-before.csv"
  else
    echo "nvidia-smi not found" | tee "$OUT/nvidia-smi.txt"
  fi
  [ "$DEVICE" = cuda ] && setup_libcuda
  echo "cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" > "$RAW/cpu.txt"

  # (0) the sm_90 PTX of every kernel, compiled there by the same binary: must equal the PTX prepare.sh made here.
  engine_step "ptx sm_90" 60 "$TRG" ptx --arch sm_90 --out "$RAW/ptx-sm_90"
  step "ptx sm_90 as prepared" 20 diff -r .device/ptx-sm_90 "$RAW/ptx-sm_90"

  # (1) parity first: a wrong engine makes the timings moot.
  for fx in $FIXTURES; do parity "$fx"; done
  # The face networks (face-api's SSD and landmark net on the engine, no TRG model) against the same binary on PoCL
  # (prepare.sh); --timings records the start-up phases of a whole photo-to-pose run there.
  if [ -f .device/faces-opencl.json ]; then
    engine_step "faces $DEVICE" 90 bash -c "'$TRG' estimate .device/samples/astronaut.png --device $DEVICE --json '$RAW/faces-$DEVICE.json' --timings -q 2> '$RAW/faces-timings.txt'"
    step "faces parity" 30 "$PY" tools/device/check_parity.py faces .device/faces-opencl.json "$RAW/faces-$DEVICE.json" --json "$RAW/faces-parity.json"
  fi
  # Start-up: a fresh process to the first TRG result, twice (the second with warm caches), phases and peak memory.
  local run
  for run in cold warm; do
    engine_step "startup $run" 90 bash -c "'$TRG' estimate .device/samples/astronaut.png --model $BENCH_MODEL --device $DEVICE --bbox 153,49,295,191 --json /dev/null --timings -q 2> '$RAW/startup-$run.txt'"
    cat "$RAW/startup-$run.txt" 2>/dev/null
  done

  # (2) timings, engine and peer interleaved per batch so both see the same clocks.
  local b it threads=()
  [ "$TORCH_DEVICE" = cpu ] && threads=(--threads "$(nproc)")
  for b in $BATCHES; do
    it=$(iters_for "$b")
    engine_step "engine b$b" 120 "$TRG" bench --model "$BENCH_MODEL" --device "$DEVICE" --batch "$b" --warmup "$WARMUP" --iters "$it" \
      --json "$RAW/engine-b$b.json"
    step "torch default b$b" 120 "$PYT" tools/bench_peers.py torch --device "$TORCH_DEVICE" --synthetic trgv2:1 --batch "$b" \
      --warmup "$WARMUP" --iters "$it" "${threads[@]}" --json "$RAW/torch-default-b$b.json"
    step "torch strict b$b" 120 "$PYT" tools/bench_peers.py torch --device "$TORCH_DEVICE" --strict-fp32 --synthetic trgv2:1 \
      --batch "$b" --warmup "$WARMUP" --iters "$it" "${threads[@]}" --json "$RAW/torch-strict-b$b.json"
  done

  # The same measurement again after everything else: the spread between the two is the noise floor.
  engine_step "engine b1 again" 120 "$TRG" bench --model "$BENCH_MODEL" --device "$DEVICE" --batch 1 --warmup "$WARMUP" \
    --iters "$ITERS_B1" --json "$RAW/repeat-engine-b1.json"

  # The other 3x3 convolution algorithm (CUDA defaults to direct, PoCL to Winograd: docs/devices.md), to decide the
  # CUDA default from a measurement; the per-launch view shows where it differs.
  engine_step "engine b1 winograd" 120 env TRG_CONV=winograd "$TRG" bench --model "$BENCH_MODEL" --device "$DEVICE" --batch 1 \
    --warmup "$WARMUP" --iters "$ITERS_B1" --json "$RAW/winograd-engine-b1.json"
  engine_step "profile b1 winograd" 90 bash -c "TRG_CONV=winograd '$TRG' profile --model $BENCH_MODEL --device $DEVICE --batch 1 --warmup 2 --iters $PROFILE_ITERS --ops > '$RAW/profile-b1-winograd.txt'"

  # (3) the kernel-level view, then PyTorch on this device against the same fixtures.
  engine_step "profile b1" 90 bash -c "'$TRG' profile --model $BENCH_MODEL --device $DEVICE --batch 1 --warmup 2 --iters $PROFILE_ITERS --trace '$RAW/trace-b1.json' > '$RAW/profile-b1.txt'"
  cat "$RAW/profile-b1.txt" 2>/dev/null
  if [ "$BIGGEST" != 1 ]; then
    engine_step "profile b$BIGGEST" 90 bash -c "'$TRG' profile --model $BENCH_MODEL --device $DEVICE --batch $BIGGEST --warmup 1 --iters $PROFILE_ITERS > '$RAW/profile-b$BIGGEST.txt'"
    cat "$RAW/profile-b$BIGGEST.txt" 2>/dev/null
  fi
  # shellcheck disable=SC2086
  step "torch parity" 120 "$PYT" tools/device/torch_parity.py --device "$TORCH_DEVICE" --image-dir "$RAW/images" \
    --json "$RAW/torch-parity.json" $FIXTURES

  if command -v nvidia-smi >/dev/null 2>&1; then
    timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit,temperature.gpu,pstate \
      --format=csv > "$RAW/gpu-after.csv" 2>&1
  fi

  [ -f "$RAW/trace-b1.json" ] && cp "$RAW/trace-b1.json" "$OUT/trace-b1.json"
  "$PY" tools/device/report.py --raw "$RAW" --out "$OUT" || echo "run.sh: report failed"
  tar -czf "$OUT/raw.tar.gz" --exclude=./trg -C "$RAW" . 2>/dev/null || echo "run.sh: could not pack raw outputs"
  echo "run.sh: done in $((SECONDS - START))s; files in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')"
  echo
  cat "$OUT/results.md" 2>/dev/null   # last, so the device tool's output_tail carries it
}

main 2>&1 | tee "$OUT/run.log"
rm -rf "$RAW"
