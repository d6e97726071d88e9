#!/usr/bin/env bash
# Checks that every C++/CUDA file under include/ test/ examples/ bench/ is clang-formatted
# (.clang-format at the root). Prints each offending file and exits 1 if there is any.
# Checks the files git tracks when run in a git checkout, else every file found.
#   CLANG_FORMAT=clang-format-14 scripts/check_format.sh
set -euo pipefail
cd "$(dirname "$0")/.."

clang_format="${CLANG_FORMAT:-clang-format}"
if ! command -v "$clang_format" >/dev/null; then
  echo "check_format: '$clang_format' not found (apt-get install clang-format)" >&2
  exit 2
fi

dirs=(include test examples bench)
pattern='\.(h|hpp|cuh|c|cc|cpp|cu)$'
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- "${dirs[@]}" | grep -E "$pattern" || true)
else
  mapfile -t files < <(find "${dirs[@]}" -type f 2>/dev/null | grep -E "$pattern" | sort || true)
fi

bad=()
for f in "${files[@]}"; do
  [[ -f "$f" ]] || continue
  if ! "$clang_format" --dry-run -Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done

echo "check_format: $("$clang_format" --version | head -n1); ${#files[@]} files checked"
if ((${#bad[@]})); then
  echo "check_format: ${#bad[@]} file(s) are not clang-formatted:"
  printf '  %s\n' "${bad[@]}"
  echo "check_format: see the differences with: $clang_format --dry-run <file>; fix with: $clang_format -i <file>"
  exit 1
fi
echo "check_format: all files are formatted"
