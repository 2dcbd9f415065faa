#!/usr/bin/env python3
"""Lists the Rust functions over 60 lines and the files over 800 lines in the
product folders (or the folders given): the house rule of issue 25. Not a CI step
(it exits 0); run it from the repository root: `python3 .ci/lengths.py`.

A function is counted from its `fn` line to the closing brace at its indentation.
"""
import os
import re
import sys
roots = sys.argv[1:] or ["runtime", "sim", "net", "tokio", "macros", "grammar"]
bad=[]
for root in roots:
    for d,_,fs in os.walk(root):
        for f in fs:
            if not f.endswith(".rs"): continue
            p=os.path.join(d,f)
            lines=open(p).read().split("\n")
            if len(lines)>800: bad.append(f"file {p}: {len(lines)} lines")
            # functions: a line matching fn ... { at some indent; count to the matching closing brace at the same indent
            for i,l in enumerate(lines):
                m=re.match(r"^(\s*)(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?(extern\s+\"C\"\s+)?fn\s+(\w+)",l)
                if not m: continue
                ind=m.group(1)
                # find end: first line == ind + "}" after i
                for j in range(i+1,len(lines)):
                    if lines[j]==ind+"}":
                        n=j-i+1
                        if n>60: bad.append(f"fn {p}:{i+1} {m.group(8)}: {n} lines")
                        break
                    if lines[j].startswith(ind) is False and lines[j].strip() and not lines[j].startswith(ind): break
for b in bad: print(b)
print(len(bad),"over the limits")
