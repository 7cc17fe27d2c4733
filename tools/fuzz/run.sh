#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser that takes outside bytes (docs/fuzzing.md): AFL++ (Debian's afl++) drives
# tests/TrgIlgpu.Fuzz, whose TrgIlgpu.dll, trg.dll and SixLabors.ImageSharp.dll SharpFuzz has instrumented.
#   tools/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 20 s, every target)
# Each target starts from its seed corpus (tests/TrgIlgpu.Fuzz/corpus/TARGET); findings go to ${TRG_FUZZ_OUT:-out/fuzz}.
# Afterwards every crash and hang AFL saved is replayed in process and printed; the exit code is 1 if any input
# crashed (an exception other than the target's documented TrgException kinds), else 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-20}"; shift || true
out="${TRG_FUZZ_OUT:-out/fuzz}"
sharpfuzz_dir="${TRG_SHARPFUZZ_DIR:-/opt/trg-sharpfuzz}"
command -v afl-fuzz >/dev/null || { echo "afl-fuzz not found: apt-get install afl++ (.ci/setup does)" >&2; exit 2; }
[ -x "$sharpfuzz_dir/sharpfuzz" ] || dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$sharpfuzz_dir" >/dev/null

mkdir -p "$out"
# Two copies: instrumented for afl-fuzz, plain for replaying what it found (instrumented code may only run under AFL).
build="$out/build" plain="$out/plain"
rm -rf "$build" "$plain"
dotnet publish tests/TrgIlgpu.Fuzz -c Release -o "$plain" --nologo -v q > "$out/publish.log" 2>&1 || { cat "$out/publish.log"; exit 2; }
cp -r "$plain" "$build"
for dll in TrgIlgpu.dll trg.dll SixLabors.ImageSharp.dll; do "$sharpfuzz_dir/sharpfuzz" "$build/$dll" >/dev/null; done

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(dotnet "$plain/TrgIlgpu.Fuzz.dll" targets | cut -f1)
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1 \
       AFL_QUIET=1 AFL_FORKSRV_INIT_TMOUT=60000
status=0
for t in "${targets[@]}"; do
  rm -rf "$out/$t"
  # -t: per-input timeout (ms; inputs over it are hangs), -m none: .NET reserves far more address space than AFL's default.
  afl-fuzz -i "tests/TrgIlgpu.Fuzz/corpus/$t" -o "$out/$t" -t 2000 -m none -V "$seconds" -- \
    dotnet "$build/TrgIlgpu.Fuzz.dll" fuzz "$t" > "$out/$t.log" 2>&1 || { echo "afl-fuzz failed for $t:"; tail -20 "$out/$t.log"; status=1; continue; }
  stats="$out/$t/default/fuzzer_stats"
  printf '%-13s execs %-8s paths %-5s crashes %-3s hangs %s\n' "$t" \
    "$(awk -F' *: ' '/^execs_done/{print $2}' "$stats")" "$(awk -F' *: ' '/^corpus_count/{print $2}' "$stats")" \
    "$(awk -F' *: ' '/^saved_crashes/{print $2}' "$stats")" "$(awk -F' *: ' '/^saved_hangs/{print $2}' "$stats")"
  for kind in crashes hangs; do
    if compgen -G "$out/$t/default/$kind/id*" >/dev/null; then
      dotnet "$plain/TrgIlgpu.Fuzz.dll" replay "$t" "$out/$t/default/$kind" || status=1
    fi
  done
done
exit $status
