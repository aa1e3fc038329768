"Sphinx configuration of the effseq site; tools/build_docs.py builds it offline from nbdev's processed notebooks."
import sys
from configparser import ConfigParser
from pathlib import Path

_here = Path(__file__).resolve().parent
sys.path.insert(0, str(_here/'_ext'))
_cp = ConfigParser(); _cp.read(_here.parent/'settings.ini'); _cfg = _cp['DEFAULT']  # one source of truth

project, author, copyright = _cfg['title'], _cfg['author'], _cfg['copyright']
version = release = _cfg['version']

extensions = ['myst_nb', 'mathjax_offline']  # mathjax_offline: sphinx-mathjax-offline, see docs/_ext
root_doc = 'index'
exclude_patterns = ['**/.*', '**/.ipynb_checkpoints']  # the source dir (docs/_proc) holds only processed notebooks
suppress_warnings = ['myst.header']  # show_doc entries are always H3, also right under a chapter's H1 title

# Notebooks: never execute, show the outputs saved in them; no widget JS from a CDN (widget outputs are dropped).
nb_execution_mode = 'off'
nb_ipywidgets_js = {}
nb_merge_streams = True
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence', 'attrs_inline']  # Quarto callouts, {.class}
myst_dmath_double_inline = True  # `$$...$$` inside a paragraph is display math, as in Pandoc/Quarto
myst_heading_anchors = 3  # GitHub-style ids (`check_tensor`), the anchors of nbdev's links (core.html#check_tensor)

html_theme = 'pydata_sphinx_theme'
html_title = project
html_static_path = ['_static']
templates_path = ['_templates']
html_sidebars = {'**': ['chapters.html']}  # all chapters on every page (docs/_templates)
html_css_files = ['effseq.css']
html_show_sourcelink = False
html_copy_source = False
html_theme_options = dict(
    navbar_center=[],                     # the chapters are in the left sidebar
    navbar_end=['theme-switcher'],        # no icon links: nothing to fetch, nowhere to go offline
    secondary_sidebar_items=['page-toc'], # no "edit this page"/"show source"
    show_toc_level=2,
    footer_start=['copyright'], footer_end=[],
)
