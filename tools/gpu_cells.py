"""Run chapters' `#| gpu` cells on the GPU machine and bring their outputs back into the notebooks.

    python3 tools/gpu_cells.py run nbs/04b_conv.ipynb nbs/05_mamba.ipynb --out $OUT/nbs   # there (execnb carried as wheels)
    python3 tools/gpu_cells.py merge $FILES/nbs/04b_conv.ipynb nbs/04b_conv.ipynb        # here, then nbdev_clean

`run` executes every code cell of each notebook top to bottom in its own folder (as nbdev_test does, but with the
`gpu` cells too and with outputs kept), skipping `#| eval: false` cells, the `nbdev_export()` cell and cells named with --skip (notebook:index). The
executed copy is written after every `gpu` cell, so a later cell that hangs does not lose the earlier outputs. A failing cell
is recorded (cell number, error) and the run goes on, so one failure does not cost the other cells their outputs; the
exit status is 1 if any cell failed. `merge` copies the outputs of the `#| gpu` cells of an executed copy into the
source notebook, matching cells by their source text (a cell edited since the run keeps its old outputs, and is
named). The CPU cells' outputs stay those of a CPU run."""
import argparse, json, os, sys, time

def _directive(src, name):
    return any(l.strip().replace(' ', '').startswith(f'#|{name}') for l in src.splitlines())

def _skip(src):
    return 'nbdev_export' + '(' in src or any(l.strip().replace(' ', '') in ('#|eval:false', "#|eval:False") for l in src.splitlines())

def run(paths, out, skip=()):
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    os.makedirs(out, exist_ok=True)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path: sys.path.insert(0, root)                           # the checkout's effseq, as nbdev_test does
    failed = 0
    for p in paths:
        p = os.path.abspath(p)
        nb = read_nb(p)
        shell, cwd, log = CaptureShell(p), os.getcwd(), []
        os.chdir(os.path.dirname(p))
        t_nb = time.perf_counter()
        try:
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != 'code' or _skip(cell.source) or f'{os.path.basename(p)}:{i}' in skip: continue
                t0 = time.perf_counter()
                shell.cell(cell)
                dt = time.perf_counter() - t0
                if shell.exc is not None:
                    err = f'{type(shell.exc).__name__}: {shell.exc}'[:2000]
                    log.append(dict(cell=i, gpu=_directive(cell.source, 'gpu'), seconds=dt, error=err)); failed += 1
                    print(f'{os.path.basename(p)} cell {i}: {err}', flush=True)
                    shell.exc = None
                elif dt > 5 or _directive(cell.source, 'gpu'):
                    log.append(dict(cell=i, gpu=_directive(cell.source, 'gpu'), seconds=dt))
                if _directive(cell.source, 'gpu'): write_nb(nb, os.path.join(out, os.path.basename(p)))   # kept if a later cell hangs
        finally: os.chdir(cwd)
        name = os.path.basename(p)
        write_nb(nb, os.path.join(out, name))
        summary = dict(notebook=name, seconds=time.perf_counter() - t_nb, cells=log)
        with open(os.path.join(out, name.replace('.ipynb', '.log.json')), 'w') as f: json.dump(summary, f, indent=1)
        print(f"{name}: {summary['seconds']:.0f} s, {sum('error' in c for c in log)} failed cells", flush=True)
    return 1 if failed else 0

def merge(executed, target):
    ex, nb = json.load(open(executed)), json.load(open(target))
    by_src = {}
    for c in ex['cells']:
        if c['cell_type'] == 'code': by_src.setdefault(''.join(c['source']), c)
    done, missing = 0, []
    for i, c in enumerate(nb['cells']):
        src = ''.join(c['source'])
        if c['cell_type'] != 'code' or not _directive(src, 'gpu'): continue
        e = by_src.get(src)
        if e is None: missing.append(i); continue
        c['outputs'] = e.get('outputs', []); done += 1
    with open(target, 'w') as f: json.dump(nb, f, indent=1, ensure_ascii=False); f.write('\n')
    print(f'{target}: outputs of {done} gpu cells merged' + (f'; cells {missing} changed since the run (kept as they were)' if missing else ''))
    return 0

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run'); r.add_argument('notebooks', nargs='+'); r.add_argument('--out', required=True)
    r.add_argument('--skip', nargs='*', default=(), metavar='NB:CELL', help='cells not to run, e.g. 04b_conv.ipynb:54')
    m = sub.add_parser('merge'); m.add_argument('executed'); m.add_argument('target')
    a = p.parse_args()
    sys.exit(run(a.notebooks, a.out, set(a.skip)) if a.cmd == 'run' else merge(a.executed, a.target))
