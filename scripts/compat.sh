#!/usr/bin/env bash
# What the project's own venv cannot show, each in a throwaway venv that uv makes in seconds:
#  1. the token canary on the other Pythons we support (3.12, 3.13), where it once failed,
#     and the install checks (a closed client leaves no database open: 3.13 warns);
#  2. the declared floors are true: the lowest version of every direct dependency
#     (uv's lowest-direct) runs a sandbox task to a playable MP4.
# A Python this machine lacks is skipped with a line saying so (never silently).
# Usage (from the repository root): UV=.venv/bin/uv PYTHON=python3 bash scripts/compat.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
UV=${UV:-uv}
PYTHON=${PYTHON:-python3}
EXTRA_PYTHONS=${EXTRA_PYTHONS:-"3.12 3.13"}
CANARY_TESTS="tests/reliability/test_token_canary.py tests/reliability/test_secrets_in_text.py
  tests/packaging/test_install_edges.py"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The venvs install the project itself, not whatever the caller's venv has.
unset VIRTUAL_ENV PYTHONPATH

find_python() {  # pyenv's versions folder, else PATH; only one that really runs
  local version=$1 candidate
  for candidate in \
    $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$version".*/bin/"python$version" \
      2>/dev/null | sort -rV) \
    "$(command -v "python$version" 2>/dev/null || true)"; do
    if [ -n "$candidate" ] && "$candidate" -c '' >/dev/null 2>&1; then
      printf '%s' "$candidate"
      return
    fi
  done
}

skipped=()
for version in $EXTRA_PYTHONS; do
  interpreter=$(find_python "$version")
  if [ -z "$interpreter" ]; then
    echo "compat: SKIPPED the token canary on Python $version: no python$version on this machine"
    skipped+=("$version")
    continue
  fi
  echo "compat: the token canary on $("$interpreter" --version)"
  venv="$work/py$version"
  "$UV" venv --quiet --python "$interpreter" "$venv"
  VIRTUAL_ENV="$venv" "$UV" pip install --quiet -e '.[sandbox]' pytest pytest-timeout
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pytest $CANARY_TESTS -q -p no:cacheprovider
done

echo "compat: the lowest direct versions of every dependency run a sandbox task"
low="$work/lowest"
"$UV" venv --quiet --python "$PYTHON" "$low"
VIRTUAL_ENV="$low" "$UV" pip install --quiet --resolution lowest-direct -e '.[sandbox]'
VIRTUAL_ENV="$low" "$UV" pip freeze | grep -iE '^(fastapi|starlette|pydantic|uvicorn|imageio-ffmpeg|httpx|ipython|ipywidgets|anywidget|traitlets)==' | tr '\n' ' '
echo
(cd "$work" && "$low/bin/python" -W error::RuntimeWarning "$root/scripts/sandbox_smoke.py")

if [ "${#skipped[@]}" -gt 0 ]; then
  echo "compat: done, but the token canary did NOT run on Python ${skipped[*]} (not installed)"
fi
