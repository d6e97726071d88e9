# Sourced by the scripts in this folder: puts nvcc on PATH and sets defaults.
if [[ -d /usr/local/cuda/bin && ":$PATH:" != *":/usr/local/cuda/bin:"* ]]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi
# Number of parallel build and test jobs (JOBS=2 on a 2-core machine).
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
# Ninja when present, else the default generator.
if command -v ninja >/dev/null; then
  SQFORMAT_GENERATOR=(-G Ninja)
else
  SQFORMAT_GENERATOR=()
fi
# cmake_has_package <name>: whether find_package(<name> CONFIG) succeeds (for optional parts).
cmake_has_package() {
  local probe
  probe="$(mktemp -d)"
  printf 'cmake_minimum_required(VERSION 3.25)\nproject(probe LANGUAGES CXX)\nfind_package(%s CONFIG REQUIRED)\n' \
    "$1" >"$probe/CMakeLists.txt"
  if cmake -S "$probe" -B "$probe/build" >/dev/null 2>&1; then
    rm -rf "$probe"
    return 0
  fi
  rm -rf "$probe"
  return 1
}
