#!/usr/bin/env bash
# Build the thesis and the slides of torch_ae_sad (latex/thesys, latex/presentation).
#
# Usage: latex/build.sh [RECORDS_DIR]
#   RECORDS_DIR  a folder of run records (*.json): any trainer's --out folder (e.g. the main
#                job's json_metrics/staged) and/or report_trainer's study sub-folders. First
#                regenerate latex/generated/ from it with `python -m
#                torch_ae_sad.model.analysis.report RECORDS_DIR --out latex/generated`, which
#                fills the sections its records fit; without it, build from what
#                latex/generated/ holds (missing figures and tables show a framed "not
#                generated" note). Either way the sections left empty are listed with the
#                command that fills each.
#
# Output: latex/build/thesys.pdf and latex/build/presentation.pdf (logs beside them).
# Needs latexmk and TeX Live: ./install_requirements.sh --latex
# Environment: PYTHON  the interpreter for the report (default: .venv/bin/python of the
#                      repository if present, else python3)
# Works from any directory.
set -euo pipefail

latex_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$latex_dir")"
build_dir="$latex_dir/build"
generated="$latex_dir/generated"
docs=(thesys presentation)

say() { printf '[latex] %s\n' "$*"; }
die() { printf '[latex] ERROR: %s\n' "$1" >&2; exit "${2:-1}"; }

case "${1:-}" in
  -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
esac
[ $# -le 1 ] || die "expected at most one argument (RECORDS_DIR), found $#: $* (see --help)" 2

# 1. the records folder (checked first, before anything is run)
records=""
if [ $# = 1 ]; then
  [ -d "$1" ] || die "records folder '$1' not found (no such directory).
  Make records first, e.g.
    python -m torch_ae_sad.model.report_trainer --out $1
  then run: latex/build.sh $1" 2
  records="$(cd "$1" && pwd)"
fi

# 2. TeX
command -v latexmk >/dev/null 2>&1 \
  || die "latexmk not found: run ./install_requirements.sh --latex (installs latexmk and TeX Live with apt)"

# 3. generated material from the records
pick_python() {  # the interpreter for the report: $PYTHON, the repository's venv, python3
  if [ -n "${PYTHON:-}" ]; then py="$PYTHON"
  elif [ -x "$repo/.venv/bin/python" ]; then py="$repo/.venv/bin/python"
  else py="python3"; fi
  command -v "$py" >/dev/null 2>&1 && (cd "$repo" && "$py" -c 'import importlib.util, sys
sys.exit(importlib.util.find_spec("torch_ae_sad.model.analysis.report") is None)') 2>/dev/null
}
if [ -n "$records" ]; then
  pick_python || die "'$py' cannot import torch_ae_sad.model.analysis.report (set PYTHON or run ./install_requirements.sh)"
  say "generating figures and tables: $py -m torch_ae_sad.model.analysis.report $records --out $generated"
  start=$SECONDS
  rm -rf "$generated"  # nothing stale from an earlier records folder
  (cd "$repo" && "$py" -m torch_ae_sad.model.analysis.report "$records" --out "$generated") \
    || die "the report failed on '$records' (see the messages above)"
  say "generated in $((SECONDS - start)) s"
else
  if [ -d "$generated" ] && [ -n "$(ls -A "$generated" 2>/dev/null)" ]; then
    say "building from the material already in $generated"
  else
    say "no generated material in $generated: the documents show 'not generated' notes (give RECORDS_DIR to fill them)"
  fi
  # which sections stay empty, and what fills each (skipped without a working Python)
  if pick_python; then
    (cd "$repo" && "$py" -m torch_ae_sad.model.analysis.report --status --out "$generated") || true
  fi
fi

# 4. the documents
mkdir -p "$build_dir"
for doc in "${docs[@]}"; do
  say "building $doc"
  start=$SECONDS
  # -g: always rebuild (latexmk cannot see generated files appear or vanish behind \IfFileExists)
  if ! latexmk -g -pdf -interaction=nonstopmode -halt-on-error -file-line-error \
      -cd -outdir="$build_dir" -jobname="$doc" "$latex_dir/$doc/main.tex" >"$build_dir/$doc.latexmk.out" 2>&1; then
    log="$build_dir/$doc.log"
    printf '[latex] ERROR: %s failed; the first errors of %s:\n' "$doc" "$log" >&2
    if [ -f "$log" ]; then grep -n -A 3 -E '^(!|.*:[0-9]+: )' "$log" | head -40 >&2 || true
    else tail -20 "$build_dir/$doc.latexmk.out" >&2; fi
    exit 1
  fi
  say "$doc built in $((SECONDS - start)) s"
done

say "done:"
for doc in "${docs[@]}"; do printf '  %s\n' "$build_dir/$doc.pdf"; done
