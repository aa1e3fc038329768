"sphinx-mathjax-offline (MathJax 3 bundled, copied into _static/mathjax), declared safe for `sphinx-build -j`."
import importlib

_ext = importlib.import_module('sphinx-mathjax-offline')  # the package's import name has dashes

def setup(app):
    "Set `mathjax_path` to the bundled copy and copy it after the build; the upstream setup declares no safety."
    _ext.setup(app)
    return dict(parallel_read_safe=True, parallel_write_safe=True)
