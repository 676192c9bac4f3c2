#!/bin/sh
# The dependency order of the source tree (docs/architecture.md): a
# subsystem includes only itself and the subsystems before it in ORDER.
# Fails, naming file:line and both subsystems, on an include against it.
#   include_order.sh SOURCE_DIR
#   include_order.sh --self-test    a planted violation must fail, naming it
# Tests (tests/) and example plugins (plugins/) may include anything.
set -eu
if [ "$1" = "--self-test" ]; then
  d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
  mkdir -p "$d/core/base" "$d/core/run"
  printf '#include "core/base/errors.hpp"\n' > "$d/core/run/fine.cpp"
  printf '// a base file that reaches up\n#include "core/run/run.hpp"\n' > "$d/core/base/planted.hpp"
  if out=$(sh "$0" "$d"); then echo "self-test: the planted violation passed:"; echo "$out"; exit 1; fi
  echo "$out" | grep -q '^core/base/planted.hpp:2: includes core/run/run.hpp' ||
    { echo "self-test: the violation was not named:"; echo "$out"; exit 1; }
  echo "$out" | grep -q 'fine.cpp' && { echo "self-test: an allowed include was refused:"; echo "$out"; exit 1; }
  echo "self-test: the planted violation fails, named: $(echo "$out" | head -1)"
  exit 0
fi
src=$1
ORDER="core/base core/config core/records core/data core/nn/kernels core/nn tokenizers backbones core/diffusion core/plugin methods core/train probes core/export core/run analysis experiments bench"
cd "$src"
files=$(for d in core tokenizers backbones methods probes analysis experiments bench; do
  [ -d "$d" ] && find "$d" -name '*.cpp' -o -name '*.hpp'; done | sort)
bad=$(for f in $files; do
  grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" /dev/null | sed 's/:\([0-9]*\):.*"\(.*\)".*/ \1 \2/'
done | awk -v order="$ORDER" '
  function rank(path,   i, best, bestlen) {
    if (path ~ /^core\/[^\/]*\.hpp$/) return -2  # a forwarding header: include its target instead
    best = -1; bestlen = 0
    for (i = 1; i <= n; i++)
      if (index(path, sys[i] "/") == 1 && length(sys[i]) > bestlen) { best = i; bestlen = length(sys[i]) }
    return best
  }
  BEGIN { n = split(order, sys, " ") }
  {
    file = $1; line = $2; inc = $3
    rf = rank(file); ri = rank(inc)
    if (file ~ /^core\/[^\/]*\.hpp$/) next  # forwarding headers of the previous layout (core/plugin.hpp, ...)
    if (rf < 0) { printf "%s: not in any subsystem of the order\n", file; next }
    if (ri == -2) { printf "%s:%s: includes %s, a forwarding header of the previous layout: include the header it names\n", file, line, inc; next }
    if (ri < 0) next   # a generated or system header
    if (ri > rf) printf "%s:%s: includes %s: %s may include only itself and what comes before it (%s comes after)\n", file, line, inc, sys[rf], sys[ri]
  }')
if [ -n "$bad" ]; then
  echo "$bad"
  echo "include order: $(echo "$bad" | wc -l) include(s) against the order: $ORDER"
  exit 1
fi
echo "include order: $(echo $files | wc -w) files follow $ORDER"
