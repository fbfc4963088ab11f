#!/usr/bin/env bash
# Submit a radrl_dist training run to a Ray cluster with `ray job submit`.
#
#   cluster/submit.sh [--address URL] [--run-root DIR] [--no-wait] [--dry-run] [--] [train args...]
#   cluster/submit.sh --run-root /mnt/shared/runs -- --config configs/mrg_r1_mimic.yaml --set train.steps=200
#   cluster/submit.sh --run-root /mnt/shared/runs -- --config configs/mrg_r1_mimic.yaml \
#       --set train.steps=200 --set checkpoint.resume=auto      # resume: same run root and output_dir
#
# - Address: --address, else $RAY_ADDRESS, else http://127.0.0.1:8265 (the dashboard/job API is
#   bound to localhost on the head; reach a remote one through `ray dashboard cluster/ray_cluster.yaml`
#   or `kubectl port-forward svc/radrl-head-svc 8265:8265`).
# - Auth: RAY_AUTH_MODE=token is kept on; the token comes from $RAY_AUTH_TOKEN, $RAY_AUTH_TOKEN_PATH
#   or ~/.ray/auth_token (`ray get-auth-token --generate` on a new cluster). No token, no submission.
# - Working dir: the repository, uploaded without data, venvs, runs, caches, checkpoints or .git
#   (runtime_env excludes, gitignore syntax: a leading / anchors at the repository root, so the
#   package radrl_dist/data/ is kept); big inputs belong on shared storage the nodes mount.
# - Run root: --run-root, else $RADRL_RUN_ROOT; an absolute folder on storage every node mounts,
#   passed to the job as RADRL_RUN_ROOT. A relative logging.output_dir resolves under it; without one
#   the job refuses a relative output_dir (it would land in Ray's per-code-version package folder).
#   The job log prints the absolute output dir; resubmit with --set checkpoint.resume=auto to continue.
# - RADRL_PYTHON: the interpreter the entrypoint runs with on the cluster (default: python).
# - --dry-run prints the `ray job submit` command instead of running it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/.." && pwd)"
address="${RAY_ADDRESS:-http://127.0.0.1:8265}"
wait_flag=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --address) address="$2"; shift 2 ;;
    --run-root) RADRL_RUN_ROOT="$2"; shift 2 ;;
    --no-wait) wait_flag=(--no-wait); shift ;;
    --dry-run) dry_run=1; shift ;;
    --) shift; break ;;
    -h|--help) awk 'NR > 1 && /^#/ {print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) break ;;
  esac
done

export RAY_AUTH_MODE="${RAY_AUTH_MODE:-token}"
if [[ "${RAY_AUTH_MODE}" != "token" ]]; then
  echo "submit.sh: RAY_AUTH_MODE=${RAY_AUTH_MODE}; this wrapper only submits with token auth" >&2
  exit 2
fi
token_file="${RAY_AUTH_TOKEN_PATH:-${HOME}/.ray/auth_token}"
if [[ -z "${RAY_AUTH_TOKEN:-}" && ! -s "${token_file}" ]]; then
  echo "submit.sh: no Ray auth token (set RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH, or create ${token_file})" >&2
  exit 2
fi

run_root_env=""
if [[ -n "${RADRL_RUN_ROOT:-}" ]]; then
  if [[ "${RADRL_RUN_ROOT}" != /* ]]; then
    echo "submit.sh: run root ${RADRL_RUN_ROOT} must be an absolute path (storage every node mounts)" >&2
    exit 2
  fi
  run_root_env=", \"RADRL_RUN_ROOT\": \"${RADRL_RUN_ROOT}\""
else
  echo "submit.sh: no --run-root / RADRL_RUN_ROOT: the job needs an absolute logging.output_dir" >&2
fi

runtime_env="$(cat <<JSON
{"excludes": ["/.git/", ".venv/", "venv/", "/runs/", "/cache/", "/data/", "/shared/", "/.notes/",
  "/bench/results/", "**/__pycache__/", "*.egg-info/", ".pytest_cache/", ".hypothesis/",
  "*.safetensors", "*.pth", "*.pt", "*.bin", "*.parquet", "*.tgz", "*.tar", "*.zip"],
 "env_vars": {"PYTHONUNBUFFERED": "1"}}
JSON
)"
runtime_env="${runtime_env/\"PYTHONUNBUFFERED\": \"1\"/\"PYTHONUNBUFFERED\": \"1\"${run_root_env}}"

cmd=(ray job submit --address "${address}" --working-dir "${repo}" --runtime-env-json "${runtime_env}"
     "${wait_flag[@]}" -- "${RADRL_PYTHON:-python}" -m radrl_dist.train "$@")
if [[ -n "${dry_run:-}" ]]; then
  printf '%q ' "${cmd[@]}"; echo
  exit 0
fi
exec "${cmd[@]}"
