#!/usr/bin/env bash
# Set up torch_ae_sad: a virtual environment with the requirements and the package (editable).
#
# Usage: ./install_requirements.sh [--dev] [--latex] [--no-apt] [--force]
#   --dev     also install the test and lint tools (pytest, ruff)
#   --latex   also install the TeX packages that build latex/ (apt)
#   --no-apt  do not try to install Debian packages (Fashion-MNIST data, TeX)
#   --force   reinstall even if nothing changed since the last run
#
# Environment:
#   VENV             the virtual environment folder (default: .venv in the repository)
#   PYTHON           the interpreter that creates it (default: python3)
#   TORCH_INDEX_URL  where the PyTorch build comes from, e.g.
#                      https://download.pytorch.org/whl/cpu     (CPU only, small)
#                      https://download.pytorch.org/whl/cu126   (CUDA 12.6)
#                    default: pip's configured index (PyPI's default build, with CUDA on Linux)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
VENV="${VENV:-$here/.venv}"
PYTHON="${PYTHON:-python3}"
dev=0; latex=0; apt=1; force=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    --latex) latex=1 ;;
    --no-apt) apt=0 ;;
    --force) force=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "install_requirements.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '[install] %s\n' "$*"; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }

# 1. virtual environment
if [ ! -x "$VENV/bin/python" ]; then
  command -v "$PYTHON" >/dev/null || die "'$PYTHON' not found; set PYTHON to a Python >= 3.10"
  say "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create $VENV (on Debian: apt-get install python3-venv)"
fi
py="$VENV/bin/python"
"$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "Python >= 3.10 needed, found $("$py" -V)"

# 2. Python packages; each part is skipped when its inputs did not change since it last
#    succeeded (stamps in the environment), so a second run takes seconds
stamp() { printf '%s' "$*" | sha256sum | cut -d' ' -f1; }
base_hash="$(stamp "$(cat requirements.txt pyproject.toml)" "torch_index=${TORCH_INDEX_URL:-}")"
dev_hash="$(stamp "$(cat requirements-dev.txt)")"
up_to_date() { [ $force = 0 ] && [ -f "$VENV/.torch_ae_sad.$1" ] && [ "$(cat "$VENV/.torch_ae_sad.$1")" = "$2" ]; }
pipi() { "$py" -m pip install --disable-pip-version-check -q "$@"; }
if up_to_date base "$base_hash" && "$py" -c 'import torch, torch_ae_sad' 2>/dev/null; then
  say "Python packages up to date ($VENV)"
else
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    say "installing torch/torchvision from $TORCH_INDEX_URL"
    pipi --index-url "$TORCH_INDEX_URL" $(grep -E '^(torch|torchvision)==' requirements.txt) \
      || die "pip could not install torch from TORCH_INDEX_URL=$TORCH_INDEX_URL"
  fi
  say "installing requirements.txt (the PyTorch wheel is large; the first run takes minutes)"
  pipi -r requirements.txt || die "pip could not install requirements.txt (see the lines above)"
  say "installing torch_ae_sad (editable)"
  pipi --no-deps --no-build-isolation -e . || pipi --no-deps -e . \
    || die "pip could not install the package itself"
  "$py" -c 'import torch, torch_ae_sad' || die "the installed environment cannot import torch_ae_sad"
  printf '%s' "$base_hash" > "$VENV/.torch_ae_sad.base"
fi
if [ $dev = 1 ]; then
  if up_to_date dev "$dev_hash" && "$py" -c 'import pytest' 2>/dev/null; then
    say "test tools up to date"
  else
    say "installing requirements-dev.txt"
    pipi -r requirements-dev.txt || die "pip could not install requirements-dev.txt"
    printf '%s' "$dev_hash" > "$VENV/.torch_ae_sad.dev"
  fi
fi

# 3. Debian packages: Fashion-MNIST data (and TeX with --latex)
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif sudo -n true 2>/dev/null; then sudo -n "$@"; else return 1; fi; }
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} = 0 ] && return 0
  say "apt-get install ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
    || { as_root apt-get update -q >/dev/null 2>&1 \
         && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; }
}
if [ $apt = 1 ] && command -v apt-get >/dev/null && command -v dpkg >/dev/null; then
  apt_install dataset-fashion-mnist \
    || say "warning: could not install dataset-fashion-mnist with apt; Fashion-MNIST is optional: run 'python -m torch_ae_sad.dataset_loaders.download fashion_mnist' to get it"
  if [ $latex = 1 ]; then
    # latexmk + pdfLaTeX, beamer, booktabs, amsmath, hyperref, lmodern, placeins (about 1 min)
    apt_install latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended \
      || die "could not install the TeX packages with apt (needed for --latex; run as root or with sudo)"
    for f in beamer.cls booktabs.sty placeins.sty lmodern.sty; do
      [ -n "$(kpsewhich "$f" 2>/dev/null)" ] || die "TeX installed but $f not found (kpsewhich $f)"
    done
    say "TeX ready: latex/build.sh [RECORDS_DIR] builds the thesis and the slides"
  fi
elif [ ! -d /usr/share/datasets/fashion-mnist ] && [ ! -d datasets/fashion_mnist ]; then
  say "no apt here: for Fashion-MNIST run '$py -m torch_ae_sad.dataset_loaders.download fashion_mnist'"
  [ $latex = 1 ] && die "--latex needs apt-get (or install latexmk and TeX Live yourself)"
fi

say "done: activate with 'source ${VENV#$here/}/bin/activate' or call ${VENV#$here/}/bin/python"
