#!/usr/bin/env bash
# roads against the PyTorch peer at GPT-2-small shape (d768, 12 layers, 12 heads, vocab 50,257, context 256, batch 8,
# random weights, float32, 2 threads, both pinned to the same cores), in one run: training tokens/s, KV-cache
# sampling tokens/s (32 prompt tokens prefilled, 32 new tokens a row timed) and peak RSS of each process.
#
# usage: bench/gpt2_small.sh [--steps N] [--runs N]      (defaults: 5 timed training steps, 3 sampling runs)
# env: CPUS (default 0,1), PYTHON (default /usr/bin/python3), ROADS (a prebuilt roads binary)
# Needs: apt-get install -y python3-torch libopenblas0-pthread   (the peer runs with OPENBLAS_CORETYPE and
# OPENBLAS_L2_SIZE unset, as bench/compare.sh explains)
set -euo pipefail
steps=5
runs=3
while [[ $# -gt 0 ]]; do
	case "$1" in
	--steps) steps="${2:?}"; shift 2 ;;
	--runs) runs="${2:?}"; shift 2 ;;
	-h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "gpt2_small.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-/usr/bin/python3}"
pin=(taskset -c "${CPUS:-0,1}")
blas="$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)"
if [[ "$blas" != *openblas* ]]; then
	echo "gpt2_small.sh: libblas.so.3 is $blas, not OpenBLAS; apt-get install -y libopenblas0-pthread" >&2
	exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
roads="${ROADS:-}"
if [[ -z "$roads" ]]; then go build -o "$tmp/roads" ./cmd/roads; roads="$tmp/roads"; fi
run() { # NAME CMD...: last JSON line to $tmp/NAME.json, peak RSS (KiB) to $tmp/NAME.rss
	local name="$1"; shift
	echo "== $name: $*" >&2
	/usr/bin/time -f %M -o "$tmp/$name.rss" "$@" >"$tmp/$name.log" 2>&1 || { cat "$tmp/$name.log" >&2; exit 1; }
	grep '^{' "$tmp/$name.log" | tail -n 1 >"$tmp/$name.json"
}
shape=(--d 768 --layers 12 --heads 12 --vocab 50257 --ctx 256 --batch 8 --threads 2 --json)
peer_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
run roads "${pin[@]}" "$roads" bench --gpt2_small --json --batch 8 --steps "$steps" --sample_runs "$runs"
run torch_train "${peer_env[@]}" "${pin[@]}" "$py" bench/torch_gpt.py "${shape[@]}" --mode train --steps "$steps"
run torch_sample "${peer_env[@]}" "${pin[@]}" "$py" bench/torch_gpt.py "${shape[@]}" --mode sample --kv-only --runs "$runs"
"$py" - "$tmp" <<'PY'
import json, os, sys
tmp = sys.argv[1]
load = lambda n: json.load(open(os.path.join(tmp, n + ".json")))
rss = lambda n: int(open(os.path.join(tmp, n + ".rss")).read().split()[-1]) / 1024
r, tt, ts = load("roads"), load("torch_train"), load("torch_sample")
print(f"{'GPT-2 small (tokens/s)':<26} {'stat':<7} {'roads':>9} {'pytorch':>9} {'roads/pytorch':>14}")
for name, rk, p, pk in (("training", "train_tokens_per_s_gpt2_small", tt, "train_tokens_per_s"),
                        ("KV-cache sampling", "sample_kv_tokens_per_s_gpt2_small", ts, "sample_kv_tokens_per_s")):
    for stat, rs, ps in (("best", "", "_best"), ("median", "_median", "_median")):
        a, b = r[rk + rs], p[pk + ps]
        print(f"{name:<26} {stat:<7} {a:>9,.0f} {b:>9,.0f} {a / b:>13.2f}x")
print(f"peak RSS MB: roads {rss('roads'):,.0f} (training and sampling in one process), "
      f"pytorch {rss('torch_train'):,.0f} (training), {rss('torch_sample'):,.0f} (sampling)")
print(f"roads {r['params']:,} parameters; pytorch {tt.get('version')}")
PY
