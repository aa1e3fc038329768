"""What a GPU run records about the code it ran (imported by the tools/gpu_*.py scripts, which run from this folder)."""
import glob, hashlib, os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def sources_sha256() -> str:
    "SHA-256 over effseq/*.py (names and bytes, in name order): identifies the code even where the copy's git metadata is stale."
    h = hashlib.sha256()
    for f in sorted(glob.glob(os.path.join(ROOT, 'effseq', '*.py'))):
        h.update(os.path.basename(f).encode()); h.update(open(f, 'rb').read())
    return h.hexdigest()
