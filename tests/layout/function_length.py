"""No function over 80 lines in library or program code (tests excepted).

A literal table (a registry's map, the frozen key order) may be longer: its
function carries the comment `// literal table` on the line above it.
Usage: function_length.py SOURCE_DIR [MAX_LINES]. Exit 1 naming each
function over the limit (file:line, length), 0 otherwise.
"""
import re
import sys
from pathlib import Path

ROOTS = ["core", "tokenizers", "backbones", "methods", "probes", "analysis", "experiments", "bench"]
# A definition starts at column 0: a signature line (not a declaration) whose
# body opens with '{' at the end of it or of a continuation line.
START = re.compile(r"^[A-Za-z_][^;#]*\(")


def long_functions(path: Path, limit: int):
    lines = path.read_text(errors="replace").split("\n")
    i = 0
    while i < len(lines):
        if not START.match(lines[i]) or lines[i].rstrip().endswith(";"):
            i += 1
            continue
        j = i
        while j < len(lines) and not lines[j].rstrip().endswith("{") and not lines[j].rstrip().endswith(";"):
            j += 1
        if j >= len(lines) or not lines[j].rstrip().endswith("{"):
            i = j + 1
            continue
        k = j + 1
        while k < len(lines) and not lines[k].startswith("}"):
            k += 1
        n = k - i + 1
        table = i > 0 and "literal table" in lines[i - 1]
        if n > limit and not table:
            yield i + 1, n, lines[i].strip()[:70]
        i = k + 1


def main() -> int:
    root = Path(sys.argv[1])
    limit = int(sys.argv[2]) if len(sys.argv) > 2 else 80
    bad = []
    count = 0
    for sub in ROOTS:
        for f in sorted((root / sub).rglob("*")):
            if f.suffix not in (".cpp", ".hpp"):
                continue
            count += 1
            for line, n, sig in long_functions(f, limit):
                bad.append(f"{f.relative_to(root)}:{line}: {n} lines: {sig}")
    for b in bad:
        print(b)
    if bad:
        print(f"function length: {len(bad)} function(s) over {limit} lines; split them into named steps")
        return 1
    print(f"function length: every function of {count} files is at most {limit} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
