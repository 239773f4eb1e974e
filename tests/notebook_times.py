"""Print the per-notebook run times that conftest.py recorded (`make test` ends with this).

Budgets (issue 2): 60 s per chapter, 180 s for training chapters. Reported, not asserted.
"""
import json
import sys
from pathlib import Path

path = Path(sys.argv[1] if len(sys.argv) > 1 else "build/notebook-times.json")
if not path.exists():
    sys.exit(f"no timings recorded ({path} is missing)")
times = json.loads(path.read_text())
print(f"\nNotebook run times ({len(times)} notebooks, kernel start included):")
for name, seconds in sorted(times.items(), key=lambda kv: (kv[0].split("/")[-1], kv[0])):
    print(f"  {seconds:7.1f} s  {name}")
print(f"  {sum(times.values()):7.1f} s  total")
