#!/usr/bin/env python
"""Write README.md from nbs/index.ipynb offline (what `nbdev_readme` does with Quarto), with nbconvert's markdown exporter.

    python tools/readme.py [--nb nbs/index.ipynb] [--out README.md]

Cells nbdev hides (`#| hide`, `#| export`/`exporti`, `#| default_exp`, `#| include: false`) are left out, `#| ...`
directive lines are stripped from the code shown, `#| echo: false` hides a cell's code and `#| output: false` its
outputs; image and widget outputs are dropped (a README cannot show them), text outputs kept. Relative links are
rebased to README.md's folder (`00_core.ipynb` -> `nbs/00_core.ipynb`), Quarto callouts become GitHub alerts.
The result depends only on the notebook, so re-running it on an unchanged notebook changes nothing.
"""
import argparse, os, re
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parent.parent
HIDE = {'hide', 'export', 'exporti', 'default_exp'}  # directives of cells nbdev leaves out of the docs

def directives(src: str) -> dict:
    "The `#| key: value` (or `#| key value`) directives of a code cell as {key: value}."
    d = {}
    for m in re.finditer(r'^[ \t]*#\|[ \t]*([\w-]+)[ \t]*:?[ \t]*(.*?)[ \t]*$', src, flags=re.M): d[m[1]] = m[2].lower()
    return d

def keep_output(o) -> bool:
    "Text outputs stay; images and widgets (and the '<Figure ...>' text that comes with them) go."
    return not any(k.startswith('image/') or 'widget' in k for k in o.get('data', {}))

def quarto_to_gfm(md: str) -> str:
    "Drop `{target=...}` link attributes; Quarto callouts (`::: {.callout-note}` ... `:::`) as GitHub alerts."
    md = re.sub(r'(\]\([^)\s]*\))\{[^}]*\}', r'\1', md)
    alert = lambda m: f'> [!{m[1].upper()}]\n' + re.sub(r'^', '> ', m[2], flags=re.M)
    return re.sub(r'^:::+\s*\{\.callout-(\w+)[^}]*\}[ \t]*\n(.*?)\n:::+[ \t]*$', alert, md, flags=re.M | re.S)

def rebase_links(md: str, src_dir: Path, out_dir: Path) -> str:
    "Relative link and image targets in `md` (written from `src_dir`) made relative to `out_dir`."
    fix = lambda m: '](' + Path(os.path.relpath(src_dir/m[1], out_dir)).as_posix()
    return re.sub(r'\]\((?![a-zA-Z][\w+.-]*:|#|/)([^)\s]+)', fix, md)

def readme_nb(nb, src_dir: Path, out_dir: Path):
    "The notebook as the README shows it (see the module docstring)."
    cells = []
    nb.metadata['language_info'] = {'name': nb.metadata.get('kernelspec', {}).get('language', 'python')}  # ```python
    for c in nb.cells:
        if c.cell_type == 'markdown': c.source = rebase_links(quarto_to_gfm(c.source), src_dir, out_dir)
        if c.cell_type != 'code': cells.append(c); continue
        d = directives(c.source)
        if HIDE & d.keys() or d.get('include') == 'false': continue
        c.source = re.sub(r'^[ \t]*#\|.*\n?', '', c.source, flags=re.M).strip()
        c.outputs = [] if d.get('output') == 'false' else [o for o in c.outputs if keep_output(o)]
        if d.get('echo') == 'false' or not c.source: c.metadata['transient'] = {'remove_source': True}
        if c.source or c.outputs: cells.append(c)
    nb.cells = cells
    return nb

def main():
    "Convert `--nb` to markdown and write `--out`."
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--nb', type=Path, default=ROOT/'nbs'/'index.ipynb')
    p.add_argument('--out', type=Path, default=ROOT/'README.md')
    a = p.parse_args()
    nb = readme_nb(nbformat.read(a.nb, as_version=4), a.nb.resolve().parent, a.out.resolve().parent)
    md, _ = MarkdownExporter().from_notebook_node(nb)
    md = re.sub(r'\n{3,}', '\n\n', re.sub(r'[ \t]+\n', '\n', md)).strip() + '\n'  # tidy, stable whitespace
    a.out.write_text(md)
    print(f'readme: wrote {a.out} from {a.nb}')

if __name__ == '__main__': main()
