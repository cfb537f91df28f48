#!/usr/bin/env python3
"""Replaces one named section of benches/RESULTS.md (between <!-- NAME:begin --> and
<!-- NAME:end -->) with the contents of a file, keeping the other benchmarks' sections.

    benches/write_section.py RESULTS.md NAME SECTION_FILE
"""
import os
import sys

out, name, section_file = sys.argv[1:4]
section = open(section_file).read()
text = open(out).read() if os.path.exists(out) else "# Benchmark results\n"
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
block = f"{begin}\n{section.rstrip()}\n{end}"
if begin in text and end in text:
    text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
else:
    text = text.rstrip() + "\n\n" + block + "\n"
open(out, "w").write(text)
