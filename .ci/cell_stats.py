"""How the exported cells of the notebooks measure against the house bars.

    python .ci/cell_stats.py [NOTEBOOK ...] [--check]

For each notebook (default: every nbs/*.ipynb) prints the number of exported cells (`#| export`, `#| exports`,
`#| exporti`, with or without the space after `#|`), the median and largest cell in lines, and the exported lines
over 120 characters; then the totals against the bars: median cell <= 15 lines, no cell over 60 lines, <= 40
exported lines over 120 characters. A cell's lines are its source lines less the `#|` directives.
Always exits 0 (a report); with --check exits 1 when a bar is missed.
"""
import argparse, json, re, statistics, sys
from pathlib import Path

EXPORT = re.compile(r'^#\s*\|\s*export[si]?\b')
DIRECTIVE = re.compile(r'^#\s*\|')
MEDIAN_BAR, MAX_BAR, LONG_BAR, WIDTH = 15, 60, 40, 120

def exported_cells(path):
    "The exported code cells of the notebook at `path`, each as its list of source lines without `#|` directives."
    cells = json.loads(Path(path).read_text())['cells']
    out = []
    for c in cells:
        if c.get('cell_type') != 'code': continue
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        lines = src.splitlines()
        if any(EXPORT.match(l) for l in lines): out.append([l for l in lines if not DIRECTIVE.match(l)])
    return out

def stats(cells):
    "Number of cells, median and max cell length in lines, and the number of lines over `WIDTH` characters."
    sizes = [len(c) for c in cells]
    return dict(cells=len(cells), median=statistics.median(sizes) if sizes else 0, max=max(sizes, default=0),
                long=sum(len(l) > WIDTH for c in cells for l in c))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('notebooks', nargs='*', help='notebooks to measure (default: nbs/*.ipynb)')
    ap.add_argument('--check', action='store_true', help='exit 1 when a bar is missed')
    a = ap.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    paths = [Path(p) for p in a.notebooks] or sorted((root/'nbs').glob('*.ipynb'))
    every, width = [], max((len(p.name) for p in paths), default=8)
    print(f"{'notebook':<{width}} {'cells':>5} {'median':>6} {'max':>4} {'>120ch':>6}  over {MAX_BAR}")
    for p in paths:
        cells = exported_cells(p)
        if not cells: continue
        every += cells
        s = stats(cells)
        big = sum(len(c) > MAX_BAR for c in cells)
        print(f"{p.name:<{width}} {s['cells']:>5} {s['median']:>6g} {s['max']:>4} {s['long']:>6}  {big or ''}")
    t = stats(every)
    big = sum(len(c) > MAX_BAR for c in every)
    bars = [(f"median cell {t['median']:g} lines (bar <= {MEDIAN_BAR})", t['median'] <= MEDIAN_BAR),
            (f"largest cell {t['max']} lines, {big} over {MAX_BAR} (bar: none over {MAX_BAR})", big == 0),
            (f"{t['long']} exported lines over {WIDTH} characters (bar <= {LONG_BAR})", t['long'] <= LONG_BAR)]
    print(f"\ntotal: {t['cells']} exported cells")
    for text, ok in bars: print(f"  {'met   ' if ok else 'MISSED'} {text}")
    return 1 if a.check and not all(ok for _, ok in bars) else 0

if __name__ == '__main__': sys.exit(main())
