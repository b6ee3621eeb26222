"""Execute a notebook in place and stream what its cells print to this terminal as they print it.

    python .ci/execute_notebook.py nbs/04-gpt2-sentiment-training.ipynb [--timeout 3600]

`jupyter nbconvert --execute` prints nothing until the whole notebook has run; this runs the same kernel through
nbclient and echoes each stream message (progress bars included) the moment it arrives, plus one line per cell.
"""
import argparse, sys, time
import nbformat
from nbclient import NotebookClient

class StreamingClient(NotebookClient):
    "A NotebookClient that echoes cell output to the terminal while the cell runs."
    def output(self, outs, msg, display_id, cell_index):
        if msg['msg_type'] == 'stream':
            (sys.stderr if msg['content'].get('name') == 'stderr' else sys.stdout).write(msg['content']['text'])
            sys.stdout.flush()
        elif msg['msg_type'] == 'error':
            print(f"{msg['content']['ename']}: {msg['content']['evalue']}", file=sys.stderr)
        return super().output(outs, msg, display_id, cell_index)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('notebook')
    ap.add_argument('--timeout', type=int, default=3600, help='seconds per cell')
    a = ap.parse_args(argv)
    nb = nbformat.read(a.notebook, as_version=4)
    n, t0 = len(nb.cells), time.time()
    client = StreamingClient(nb, timeout=a.timeout, kernel_name='python3', resources={'metadata': {'path': str(__import__('pathlib').Path(a.notebook).parent)}})
    client.on_cell_start = lambda cell, cell_index: print(f"\n[{time.time() - t0:5.0f}s] cell {cell_index + 1}/{n}: "
                                                          f"{(cell.source.splitlines() or [''])[0][:80]}", flush=True) if cell.cell_type == 'code' else None
    try: client.execute()
    finally: nbformat.write(nb, a.notebook)
    print(f"\n[{time.time() - t0:5.0f}s] executed {a.notebook}", flush=True)

if __name__ == '__main__': main()
