#!/bin/sh
# The documentation's shape: README.md stays short (at most 200 lines) with
# the quick start (`make run`, `make test`) in its first 40 lines, and every
# relative Markdown link in README.md and docs/*.md, `](path)` or
# `](path#anchor)`, names a file or folder that exists. http(s)://, mailto:
# and pure #anchor links are not checked, nor are anchors themselves.
#   docs_check.sh REPOSITORY_ROOT
# Exit 0 when all holds; 1 with one line per problem otherwise; 2 on bad usage.
root=${1:-}
if [ -z "$root" ] || [ ! -d "$root" ]; then
  echo "usage: docs_check.sh REPOSITORY_ROOT" >&2
  exit 2
fi
readme=$root/README.md
if [ ! -f "$readme" ]; then
  echo "FAIL: $readme is missing"
  exit 1
fi
bad=0
fail() { echo "FAIL: $*"; bad=1; }

lines=$(wc -l < "$readme" | tr -d ' ')
[ "$lines" -le 200 ] || fail "README.md has $lines lines; keep it at most 200 (move detail into docs/)"
head -n 40 "$readme" | grep -q 'make run' || fail "README.md: 'make run' is not within its first 40 lines"
head -n 40 "$readme" | grep -q 'make test' || fail "README.md: 'make test' is not within its first 40 lines"

tmp=$(mktemp) || exit 2
trap 'rm -f "$tmp"' EXIT
for f in "$readme" "$root"/docs/*.md; do
  [ -f "$f" ] || continue
  dir=$(dirname "$f")
  # Every "](target)" on a line, one per output line, with its line number.
  # Links inside code spans or fenced blocks are rare here; they are checked too.
  awk '{
    line = $0
    while ((i = index(line, "](")) > 0) {
      rest = substr(line, i + 2)
      j = index(rest, ")")
      if (j == 0) break
      print NR "\t" substr(rest, 1, j - 1)
      line = substr(rest, j + 1)
    }
  }' "$f" > "$tmp"
  while IFS='	' read -r n target; do
    # A link title ("path "title"") or <path>: keep the path alone.
    target=${target%% *}
    target=${target#<}
    target=${target%>}
    case $target in
      '' | '#'* | http://* | https://* | mailto:*) continue ;;
    esac
    path=${target%%#*}
    [ -n "$path" ] || continue
    case $path in
      /*) resolved=$root$path ;;
      *) resolved=$dir/$path ;;
    esac
    [ -e "$resolved" ] || fail "${f#"$root"/}:$n: link to '$target': $path does not exist"
  done < "$tmp"
done
[ $bad -eq 0 ] || exit 1
echo "ok: README.md $lines lines, quick start in its first 40, every relative link resolves"
