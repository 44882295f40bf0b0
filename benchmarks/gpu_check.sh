#!/usr/bin/env bash
# GPU render check: one command that renders, times, watches the GPU and verifies.
#
#   bash benchmarks/gpu_check.sh                      # OptiX if present, else CUDA
#   bash benchmarks/gpu_check.sh --device cuda --n 2000 --json gpu.json
#   bash benchmarks/gpu_check.sh --device cpu --n 8 --resolution 32 --qualities draft --workers-per-device 1
#
# For each quality x workers-per-device it runs
#   latentscape render --n N --resolution R --quality Q --device D --workers-per-device K \
#       --shard-size S --out DIR/Q_wK --quiet
# (on cpu: --workers K), times it, samples GPU utilisation and memory with nvidia-smi
# every 500 ms while it runs, checks the dataset with `latentscape verify`, then
# prints a table and (with --json) writes the figures and a description of the machine.
# A short warm-up render on the chosen device comes first (it also picks the device
# when --device is not given, and loads/compiles the GPU kernels), untimed.
#
# Interpreter: $PYTHON if set, else the active virtualenv, else the repository's .venv,
# else python3.  latentscape is run as `$PYTHON -m latentscape`.
# Exit status: 0 when every render and every verify passed; 1 when one failed;
# 2 for bad options or when no device of the requested kind is found.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bash benchmarks/gpu_check.sh [options]
  --device optix|cuda|cpu       render device (default: optix if Cycles finds one, else cuda)
  --n N                         images per run (default 1000)
  --resolution R                image side in pixels (default 224)
  --qualities "Q ..."           quality presets to run: draft standard high (default all three)
  --workers-per-device "K ..."  worker processes per GPU to try (default "1 2 4"; on cpu: --workers K)
  --shard-size S                images per shard (default: enough shards for 4 per worker process:
                                ceil(N / (4 x max K x GPUs)); the default spec's 1000 would give one
                                shard, so one worker, for N=1000)
  --out DIR                     where the datasets go: a new or empty folder (default: a temporary
                                folder, removed at the end unless --keep)
  --keep                        keep the temporary folder
  --json FILE                   write the results as JSON
  -h, --help                    this text
EOF
}

die() { echo "gpu_check: error: $*" >&2; exit 2; }

orig_args="${*:+$(printf '%q ' "$@")}"
device="" n=1000 resolution=224 qualities="draft standard high" wpd_list="1 2 4"
out="" keep=0 json="" shard_size=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --device) [[ $# -ge 2 ]] || die "--device needs a value"; device="$2"; shift 2 ;;
    --n) [[ $# -ge 2 ]] || die "--n needs a value"; n="$2"; shift 2 ;;
    --resolution) [[ $# -ge 2 ]] || die "--resolution needs a value"; resolution="$2"; shift 2 ;;
    --qualities) [[ $# -ge 2 ]] || die "--qualities needs a value"; qualities="$2"; shift 2 ;;
    --workers-per-device) [[ $# -ge 2 ]] || die "--workers-per-device needs a value"; wpd_list="$2"; shift 2 ;;
    --shard-size) [[ $# -ge 2 ]] || die "--shard-size needs a value"; shard_size="$2"; shift 2 ;;
    --out) [[ $# -ge 2 ]] || die "--out needs a value"; out="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --json) [[ $# -ge 2 ]] || die "--json needs a value"; json="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

# ---------------------------------------------------------------- check the options
case "$device" in
  ""|optix|cuda|cpu) ;;
  *) die "--device must be optix, cuda or cpu, not '$device'" ;;
esac
[[ "$n" =~ ^[1-9][0-9]*$ ]] || die "--n must be a positive integer, not '$n'"
[[ "$resolution" =~ ^[1-9][0-9]*$ ]] || die "--resolution must be a positive integer, not '$resolution'"
read -r -a QUALITIES <<<"$qualities"
read -r -a WPDS <<<"$wpd_list"
[[ ${#QUALITIES[@]} -gt 0 ]] || die "--qualities is empty"
[[ ${#WPDS[@]} -gt 0 ]] || die "--workers-per-device is empty"
for q in "${QUALITIES[@]}"; do
  case "$q" in draft|standard|high) ;; *) die "unknown quality '$q' (draft, standard or high)" ;; esac
done
max_k=0
for k in "${WPDS[@]}"; do
  [[ "$k" =~ ^[1-9][0-9]*$ ]] || die "--workers-per-device values must be positive integers, not '$k'"
  (( k > max_k )) && max_k=$k
done
[[ -z "$shard_size" || "$shard_size" =~ ^[1-9][0-9]*$ ]] || die "--shard-size must be a positive integer, not '$shard_size'"
if [[ -n "$out" && -e "$out" ]]; then
  [[ -d "$out" ]] || die "--out '$out' is not a folder"
  [[ -z "$(ls -A "$out")" ]] || die "--out '$out' is not empty (timings need fresh datasets)"
fi

# ---------------------------------------------------------------- interpreter and latentscape
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then PYTHON="$VIRTUAL_ENV/bin/python"
  elif [[ -x "$repo/.venv/bin/python" ]]; then PYTHON="$repo/.venv/bin/python"
  else PYTHON="python3"; fi
fi
ls_cli() { "$PYTHON" -m latentscape "$@"; }
"$PYTHON" -c "import latentscape" 2>/dev/null || die "$PYTHON cannot import latentscape (set PYTHON or activate its venv)"
render_help="$(ls_cli render --help)" || die "'$PYTHON -m latentscape render --help' failed"
grep -q -- '--quality' <<<"$render_help" || die "this latentscape has no 'render --quality' option (the quality presets are needed)"

# ---------------------------------------------------------------- work folder, clean-up
if [[ -z "$out" ]]; then
  out="$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")"
  remove_out=$(( 1 - keep ))
else
  mkdir -p "$out"
  remove_out=0
fi
out="$(cd "$out" && pwd)"
logs="$out/logs"
mkdir -p "$logs"
rows="$logs/rows.tsv"
: >"$rows"
smi_pid=""
have_smi=0
command -v nvidia-smi >/dev/null 2>&1 && have_smi=1

cleanup() {
  if [[ -n "$smi_pid" ]]; then kill "$smi_pid" 2>/dev/null || true; wait "$smi_pid" 2>/dev/null || true; fi
  if [[ "$remove_out" == 1 ]]; then rm -rf -- "$out"; else echo "gpu_check: kept $out" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { echo "${EPOCHREALTIME:-$(date +%s.%N)}"; }
worker_flag() { if [[ "$1" == cpu ]]; then echo --workers; else echo --workers-per-device; fi; }

# ---------------------------------------------------------------- device: warm-up render
# Untimed; on a GPU the first render loads (OptiX: compiles) the kernels.
warmup() {  # warmup DEVICE -> 0 if a 2-image render on DEVICE succeeded
  rm -rf -- "$out/warmup_$1"
  ls_cli render --n 2 --resolution "$resolution" --quality "${QUALITIES[0]}" --device "$1" \
    --out "$out/warmup_$1" --quiet >"$logs/warmup_$1.log" 2>&1
}
if [[ -z "$device" ]]; then
  for d in optix cuda; do
    if warmup "$d"; then device="$d"; break; fi
    echo "gpu_check: no $d: $(grep -m1 '^error' "$logs/warmup_$d.log" || tail -n1 "$logs/warmup_$d.log")" >&2
  done
  if [[ -z "$device" ]]; then
    msg="$(grep -m1 '^error' "$logs/warmup_cuda.log" || tail -n1 "$logs/warmup_cuda.log")"
    die "no OptiX or CUDA device found (use --device cpu to check the CPU path); cuda: $msg"
  fi
else
  if ! warmup "$device"; then
    msg="$(grep -m1 '^error' "$logs/warmup_$device.log" || tail -n1 "$logs/warmup_$device.log")"
    die "warm-up render on '$device' failed: $msg"
  fi
fi
rm -rf -- "$out/warmup_$device"
n_gpus=1
if [[ "$device" != cpu && "$have_smi" == 1 ]]; then
  n_gpus="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)"
  (( n_gpus >= 1 )) || n_gpus=1
fi
if [[ -z "$shard_size" ]]; then
  shards=$(( 4 * max_k * n_gpus ))
  shard_size=$(( (n + shards - 1) / shards ))
fi
echo "gpu_check: shard size $shard_size ($(( (n + shard_size - 1) / shard_size )) shards)" >&2
echo "gpu_check: device $device, $n images at ${resolution}px, qualities: ${QUALITIES[*]}, workers: ${WPDS[*]}" >&2

# ---------------------------------------------------------------- the runs
failed=0
for q in "${QUALITIES[@]}"; do
  for k in "${WPDS[@]}"; do
    name="${q}_w${k}"
    ds="$out/$name"
    smi_log="$logs/$name.smi.csv"
    : >"$smi_log"
    if [[ "$have_smi" == 1 && "$device" != cpu ]]; then
      nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -lms 500 >"$smi_log" 2>/dev/null &
      smi_pid=$!
    fi
    echo "gpu_check: $name ..." >&2
    t0="$(now)"
    rc=0
    ls_cli render --n "$n" --resolution "$resolution" --quality "$q" --device "$device" \
      --shard-size "$shard_size" "$(worker_flag "$device")" "$k" --out "$ds" --quiet >"$logs/$name.render.log" 2>&1 || rc=$?
    t1="$(now)"
    if [[ -n "$smi_pid" ]]; then kill "$smi_pid" 2>/dev/null || true; wait "$smi_pid" 2>/dev/null || true; smi_pid=""; fi
    vrc=0
    if [[ "$rc" == 0 ]]; then
      ls_cli verify "$ds" >"$logs/$name.verify.log" 2>&1 || vrc=$?
    else
      vrc=-1
      echo "gpu_check: render $name failed (exit $rc):" >&2
      tail -n 5 "$logs/$name.render.log" >&2
    fi
    if [[ "$vrc" != 0 && "$vrc" != -1 ]]; then
      echo "gpu_check: verify $name failed (exit $vrc):" >&2
      tail -n 5 "$logs/$name.verify.log" >&2
    fi
    [[ "$rc" == 0 && "$vrc" == 0 ]] || failed=1
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$q" "$k" "$rc" "$t0" "$t1" "$vrc" >>"$rows"
  done
done

# ---------------------------------------------------------------- table and JSON
GC_SHARD="$shard_size" GC_LOGS="$logs" GC_DEVICE="$device" GC_N="$n" GC_RES="$resolution" GC_JSON="$json" GC_ARGS="$orig_args" \
GC_SMI="$have_smi" "$PYTHON" - <<'PY'
import datetime, json, os, platform, re, subprocess, sys
from pathlib import Path

logs, device = Path(os.environ["GC_LOGS"]), os.environ["GC_DEVICE"]
n, res, json_path = int(os.environ["GC_N"]), int(os.environ["GC_RES"]), os.environ["GC_JSON"]
use_smi = os.environ["GC_SMI"] == "1" and device != "cpu"


def sh(*cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        return p.stdout.strip() if p.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def read(p):
    return p.read_text(errors="replace") if p.exists() else ""


rows = []
for line in read(logs / "rows.tsv").splitlines():
    q, k, rc, t0, t1, vrc = line.split("\t")
    name = f"{q}_w{k}"
    render_log, verify_log = read(logs / f"{name}.render.log"), read(logs / f"{name}.verify.log")
    seconds = float(t1.replace(",", ".")) - float(t0.replace(",", "."))  # EPOCHREALTIME follows the locale
    # the render command's last line: "rendered N images in S s (R img/s after U s start-up) on DEV with W worker(s); ..."
    m = re.search(r"rendered (\d+) images in ([\d.]+) s \(([\d.]+) img/s after ([\d.]+) s start-up\) on (.*?) with (\d+) worker",
                  render_log)
    images = int(m.group(1)) if m else 0
    util = mem = None
    if use_smi:
        samples = []
        for s in read(logs / f"{name}.smi.csv").splitlines():
            try:
                u, mb = (float(x) for x in s.split(","))
                samples.append((u, mb))
            except ValueError:
                continue  # "[N/A]" or a partly written line
        if samples:
            util = round(sum(u for u, _ in samples) / len(samples), 1)
            mem = int(max(mb for _, mb in samples))
    vm = re.search(r"^ok: (\d+) images", verify_log, re.M)
    rows.append({
        "quality": q, "workers": int(k),
        "workers_flag": "--workers" if device == "cpu" else "--workers-per-device",
        "images": images, "seconds": round(seconds, 3),
        "img_s": round(images / seconds, 3) if images and seconds > 0 else 0.0,
        "render_exit": int(rc),
        "cli_img_s_after_startup": float(m.group(3)) if m else None,
        "startup_s": float(m.group(4)) if m else None,
        "devices_used": m.group(5) if m else None,
        "worker_processes": int(m.group(6)) if m else None,
        "gpu_util_mean_pct": util, "gpu_mem_peak_mib": mem,
        "verify_exit": int(vrc), "verify_ok": vrc == "0",
        "verified_images": int(vm.group(1)) if vm else None,
        "verify_line": (verify_log.strip().splitlines() or [""])[-1],
    })

cpu = None
for line in read(Path("/proc/cpuinfo")).splitlines():
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
bpy_version = sh(sys.executable, "-c", "import bpy; print(bpy.app.version_string)")
machine = {
    "gpus": (sh("nvidia-smi", "-L") or "").splitlines() or None,
    "gpu_driver": sh("nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"),
    "cpu": cpu or platform.processor() or platform.machine(),
    "cores": os.cpu_count(),
    "bpy": bpy_version.splitlines()[-1] if bpy_version else None,
    "python": platform.python_version(),
    "platform": platform.platform(),
    "date": datetime.datetime.now().isoformat(timespec="seconds"),
}
try:
    from latentscape.version import __version__ as ls_version
except Exception:
    ls_version = None
machine["latentscape"] = ls_version

na = lambda v: "n/a" if v is None else v
print(f"device {device}, {n} images at {res}x{res}; " + (", ".join(machine["gpus"]) if machine["gpus"] else f"CPU {machine['cpu']}"))
head = f"{'quality':<9}{'workers':>8}{'images':>8}{'seconds':>10}{'img/s':>9}{'steady':>8}{'GPU util %':>12}{'peak MiB':>10}  verify"
print(head)
print("-" * len(head))
for r in rows:
    print(f"{r['quality']:<9}{r['workers']:>8}{r['images']:>8}{r['seconds']:>10.1f}{r['img_s']:>9.2f}{na(r['cli_img_s_after_startup']):>8}"
          f"{na(r['gpu_util_mean_pct']):>12}{na(r['gpu_mem_peak_mib']):>10}  "
          + ("ok" if r["verify_ok"] else "FAILED"))
print("seconds, img/s: wall time of `latentscape render`, start-up included; steady: img/s after start-up\n"
      "(the render command's own figure); GPU util: mean of nvidia-smi samples every 500 ms over the run;\n"
      "peak MiB: largest memory.used of one GPU, other processes included")

if json_path:
    doc = {"machine": machine, "device": device, "n": n, "resolution": res, "shard_size": int(os.environ["GC_SHARD"]),
           "command": "bash benchmarks/gpu_check.sh " + os.environ["GC_ARGS"], "rows": rows,
           "all_ok": bool(rows) and all(r["render_exit"] == 0 and r["verify_ok"] for r in rows)}
    Path(json_path).write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {json_path}")
PY

exit "$failed"
