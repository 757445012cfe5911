#!/usr/bin/env bash
# Compare roads' engine with the PyTorch peer (the same small GPT, float32, CPU, 2 threads) in one run:
#   train d128/L2 and d256/L4 (batch 32 x ctx 64), KV-cache sampling at d128/L2; prints roads/pytorch ratios.
#
# usage: bench/compare.sh [--steps N] [--torch-only]
#   --steps N     timed training steps per configuration (default 10, at least 10)
#   --torch-only  skip roads (e.g. to record the peer's numbers before `roads bench` exists)
# env: TORCH_GPT  path of torch_gpt.py (default: bench/torch_gpt.py)
#      CPUS       cores to pin both engines to (default 0,1)
#      PYTHON     interpreter with torch (default /usr/bin/python3, Debian's)
#      ROADS      a prebuilt roads binary to use instead of building ./cmd/roads
#
# Needs Debian's PyTorch with OpenBLAS behind it:
#   apt-get update && apt-get install -y python3-torch libopenblas0-pthread
# Without an OpenBLAS package Debian's libblas.so.3 is the reference BLAS and the peer runs ~10x slower, which
# would flatter roads; the script refuses to run then. The peer runs with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
# unset (this workplace sets them for old OpenBLAS builds; unset, Debian's 0.3.21 picks its own AVX-512 kernels
# and measured 24k -> 30k tok/s best at d128 here).
# (it is /usr/bin/python3's module; a pyenv python3 on PATH does not see it).
set -euo pipefail

steps=10
torch_only=0
while [[ $# -gt 0 ]]; do
	case "$1" in
	--steps) steps="${2:?--steps needs a number}"; shift 2 ;;
	--torch-only) torch_only=1; shift ;;
	-h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "compare.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
	esac
done
if ! [[ "$steps" =~ ^[0-9]+$ ]] || ((steps < 10)); then
	echo "compare.sh: --steps must be an integer >= 10, got $steps" >&2
	exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-/usr/bin/python3}"
cpus="${CPUS:-0,1}"

if [[ ! -x "$py" ]] || ! "$py" -c 'import torch' 2>/dev/null; then
	echo "compare.sh: PyTorch is not installed for $py. Install Debian's package (as root):" >&2
	echo "    apt-get update && apt-get install -y python3-torch libopenblas0-pthread" >&2
	exit 1
fi

peer="${TORCH_GPT:-}"
if [[ -z "$peer" ]]; then
	for candidate in "$root/bench/torch_gpt.py"; do
		if [[ -f "$candidate" ]]; then peer="$candidate"; break; fi
	done
fi
if [[ -z "$peer" || ! -f "$peer" ]]; then
	echo "compare.sh: torch_gpt.py not found; set TORCH_GPT=/path/to/torch_gpt.py" >&2
	exit 1
fi

pin=()
if command -v taskset >/dev/null; then
	pin=(taskset -c "$cpus")
else
	echo "compare.sh: taskset not found; running unpinned" >&2
fi
# Peak RSS of the peer via GNU time when present (KiB in a file), to set beside roads' peak_rss_mb.
timer=()
if [[ -x /usr/bin/time ]]; then timer=(/usr/bin/time -f %M -o); fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# run NAME CMD...: runs CMD, keeps its last JSON line in $tmp/NAME.json and its full output in $tmp/NAME.log.
run() {
	local name="$1"; shift
	echo "== $name: $*" >&2
	local measure=()
	if ((${#timer[@]})); then measure=("${timer[@]}" "$tmp/$name.rss"); fi
	if ! "${measure[@]}" "$@" >"$tmp/$name.log" 2>&1; then
		echo "compare.sh: $name failed; its output:" >&2
		cat "$tmp/$name.log" >&2
		exit 1
	fi
	grep '^{' "$tmp/$name.log" | tail -n 1 >"$tmp/$name.json" || true
	if [[ ! -s "$tmp/$name.json" ]]; then
		echo "compare.sh: $name printed no JSON line; its output:" >&2
		cat "$tmp/$name.log" >&2
		exit 1
	fi
}

if ((torch_only == 0)); then
	roads="${ROADS:-}"
	if [[ -z "$roads" ]]; then
		echo "== building roads" >&2
		go build -o "$tmp/roads" ./cmd/roads
		roads="$tmp/roads"
	fi
	run roads "${pin[@]}" "$roads" bench --json --steps "$steps"
fi
peer_args=(--threads 2 --json --heads 4 --batch 32 --ctx 64 --vocab 256)
blas="$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)"
if [[ "$blas" != *openblas* ]]; then
	echo "compare.sh: libblas.so.3 is $blas, not OpenBLAS: PyTorch would run on the reference BLAS. Install:" >&2
	echo "    apt-get install -y libopenblas0-pthread" >&2
	exit 1
fi
peer_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
run torch_train_d128 "${peer_env[@]}" "${pin[@]}" "$py" "$peer" "${peer_args[@]}" --mode train --d 128 --layers 2 --steps "$steps"
run torch_train_d256 "${peer_env[@]}" "${pin[@]}" "$py" "$peer" "${peer_args[@]}" --mode train --d 256 --layers 4 --steps "$steps"
run torch_sample_d128 "${peer_env[@]}" "${pin[@]}" "$py" "$peer" "${peer_args[@]}" --mode sample --d 128 --layers 2

"$py" - "$tmp" "$torch_only" <<'EOF'
import json, os, statistics, sys
tmp, torch_only = sys.argv[1], sys.argv[2] == "1"
def load(name):
    with open(os.path.join(tmp, name + ".json")) as f:
        return json.load(f)
def rss_mb(name):
    try:
        with open(os.path.join(tmp, name + ".rss")) as f:
            return int(f.read().split()[-1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
roads = {} if torch_only else load("roads")
peer = {
    "train_tokens_per_s_d128": load("torch_train_d128"),
    "train_tokens_per_s_d256": load("torch_train_d256"),
    "sample_kv_tokens_per_s_d128": load("torch_sample_d128"),
}
peer_key = {"train_tokens_per_s_d128": "train_tokens_per_s", "train_tokens_per_s_d256": "train_tokens_per_s",
            "sample_kv_tokens_per_s_d128": "sample_kv_tokens_per_s"}
fmt = lambda v: "n/a" if v is None else f"{v:,.0f}"
print(f"{'metric (tokens/s)':<30} {'stat':<7} {'roads':>10} {'pytorch':>10} {'roads/pytorch':>14}")
for metric, p in peer.items():
    for stat, suffix_roads, suffix_peer in (("best", "", "_best"), ("median", "_median", "_median")):
        r = roads.get(metric + suffix_roads)
        t = p.get(peer_key[metric] + suffix_peer)
        ratio = f"{r / t:.2f}x" if r is not None and t else "n/a"
        print(f"{metric:<30} {stat:<7} {fmt(r):>10} {fmt(t):>10} {ratio:>14}")
peer_rss = [x for x in (rss_mb(n) for n in ("torch_train_d128", "torch_train_d256", "torch_sample_d128")) if x]
print(f"peak RSS MB: roads {fmt(roads.get('peak_rss_mb'))} (whole bench), "
      f"pytorch {fmt(max(peer_rss)) if peer_rss else 'n/a'} (largest of its three runs)")
print(f"pytorch {peer['train_tokens_per_s_d128'].get('version', '?')}, 2 threads; ratios > 1 mean roads is faster")
EOF
