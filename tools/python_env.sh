#!/usr/bin/env bash
# make deps (Python part): one virtual environment holding PyPI's torch (whose
# LibTorch the harness builds against), the bench peers' packages and what
# python/ldae uses (safetensors, pandas, h5py, timm, tensorboard), at a
# path outside the clone so every clone on the machine shares it.
#   tools/python_env.sh VENV_DIR PACKAGE==VERSION...
# Idempotent: when every pinned version is installed it returns in well under
# a second (package metadata only; torch is not imported). Exit 2 when the
# environment cannot be made or PyPI cannot deliver a package.
set -euo pipefail
venv=$1; shift
py="$venv/bin/python"
have() {  # every NAME==VERSION of "$@" installed in the environment?
  [ -x "$py" ] && "$py" - "$@" <<'PY' 2>/dev/null
import sys, importlib.metadata as m
for spec in sys.argv[1:]:
    name, version = spec.split("==")
    if m.version(name) != version:
        sys.exit(1)
PY
}
# python/ldae (the package that reads runs and encoders) importable from the
# environment: a .pth file naming this clone's python/ folder (the last
# clone to run `make deps` is the one `import ldae` reads).
link_package() {
  local site
  site=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') || return 0
  echo "$(cd "$(dirname "$0")/.." && pwd)/python" > "$site/ldae_source.pth"
}
if have "$@"; then
  link_package
  echo "make deps: Python environment $venv has $*"
  exit 0
fi
base=${LDAE_BASE_PYTHON:-python3}
if [ ! -x "$py" ]; then
  echo "make deps: creating the Python environment $venv (from $("$base" --version 2>&1))"
  mkdir -p "$(dirname "$venv")"
  # A venv moved after creation still points at its old path: a half-made or
  # moved one is replaced rather than patched.
  rm -rf "$venv"
  if ! "$base" -m venv "$venv"; then
    echo "make deps: '$base -m venv $venv' failed; install Python's venv module (Debian: python3-venv)" \
         "or set LDAE_BASE_PYTHON to an interpreter that has it" >&2
    exit 2
  fi
fi
echo "make deps: pip install $* into $venv (first time: ~2.5 GB from PyPI, ~1-3 min)"
if ! "$py" -m pip install --quiet "$@"; then
  echo "make deps: pip could not install $* from PyPI into $venv; check that PyPI is reachable" \
       "(pip config list) and that the disk has ~4 GB free (df -h $(dirname "$venv"))" >&2
  exit 2
fi
have "$@" || { echo "make deps: $venv still lacks $* after pip install" >&2; exit 2; }
link_package
"$py" -c 'import torch; print("make deps: torch", torch.__version__, "CUDA", torch.version.cuda)'
