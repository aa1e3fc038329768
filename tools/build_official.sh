#!/usr/bin/env bash
# Build the official baseline's two CUDA extensions on the GPU machine, from their PyPI sdists:
# mamba_ssm's `selective_scan_cuda` and causal-conv1d's `causal_conv1d_cuda`, for sm_90 only, with ninja,
# both at once. Nothing is pip-installed: the result is one folder to put on PYTHONPATH.
#
#   bash tools/build_official.sh SDIST_DIR OFFICIAL_DIR                # build (SDIST_DIR holds the two .tar.gz)
#   bash tools/build_official.sh --pack OFFICIAL_DIR OUTDIR            # the two .so, stripped, as tar.xz pieces <= 15 MiB
#   bash tools/build_official.sh --unpack PARTS_DIR SDIST_DIR OFFICIAL_DIR   # pieces + python sources -> OFFICIAL_DIR
#
# e.g. bash tools/build_official.sh .gpu/sdist /tmp/official
#      PYTHONPATH=/tmp/official python3 tools/gpu_mamba_e2e.py --out nbs/data/mamba_e2e_gpu.json
#
# OFFICIAL_DIR then holds selective_scan_cuda*.so, causal_conv1d_cuda*.so, mamba_ssm/ and causal_conv1d/.
# The nvcc flags are those of the packages' setup.py (mamba-ssm 2.3.2.post1, causal-conv1d 1.6.1) with the
# -gencode list cut to sm_90 (override: OFFICIAL_GENCODE="arch=compute_90a,code=sm_90a" say); the build checks
# that each flag still appears in the sdist's setup.py and warns if one does not.
# causal-conv1d's _fwd.cu and _bwd.cu end in lists of explicit template instantiations (18 each) after a prefix
# made only of templates; when the file is the byte-exact 1.6.1 one that was read for this (sha256 below), each is
# compiled as several translation units (the same prefix, the instantiation lines dealt out round-robin, each
# exactly once; asserted), so ninja compiles them in parallel. Any other version is compiled whole. (Checked with
# nvcc 13.0: the 9 parts of _bwd.cu hold the same 1080 kernels as the whole file, each once, with the same registers
# and shared memory per kernel (cuobjdump --dump-resource-usage); one part compiles in ~1/10 of the whole's time.)
# One flag is added: --compress-mode=none (where nvcc has it), so the fatbinaries stay uncompressed: the machine code
# is the same (cuobjdump -sass), and --pack's xz then shrinks the .so about 10x (nvcc's own compression: 1.15x).
# Environment: MAX_JOBS (ninja jobs per build, default nproc), SPLIT_BWD (default 9), SPLIT_FWD (default 1: the
# forward file compiles in seconds), OFFICIAL_FATBIN_COMPRESS=default (nvcc's compression), BUILD_WORK (scratch,
# default /tmp/official_build), PYTHON (default python3), SKIP_IMPORT_CHECK=1.
set -euo pipefail
PY=${PYTHON:-python3}
die() { echo "build_official.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

sdist_of() {   # SDIST_DIR PREFIX -> the newest PREFIX-*.tar.gz in it
  local f
  f=$(ls "$1"/"$2"-*.tar.gz 2>/dev/null | sort -V | tail -1 || true)
  [ -n "$f" ] || die "no $2-*.tar.gz in $1"
  echo "$f"
}

python_sources() {   # SDIST_DIR DEST: copy the mamba_ssm/ and causal_conv1d/ package folders out of the sdists
  local sd=$1 dest=$2 tmp m c
  m=$(sdist_of "$sd" mamba_ssm); c=$(sdist_of "$sd" causal_conv1d)
  tmp=$(mktemp -d)
  tar xzf "$m" -C "$tmp"; tar xzf "$c" -C "$tmp"
  mkdir -p "$dest"; rm -rf "$dest/mamba_ssm" "$dest/causal_conv1d"
  cp -r "$tmp"/mamba_ssm-*/mamba_ssm "$dest/"
  cp -r "$tmp"/causal_conv1d-*/causal_conv1d "$dest/"
  printf 'mamba_ssm %s\ncausal_conv1d %s\n' "$(basename "$m" .tar.gz | sed 's/^mamba_ssm-//')" \
    "$(basename "$c" .tar.gz | sed 's/^causal_conv1d-//')" > "$dest/OFFICIAL_VERSIONS"
  rm -rf "$tmp"
  echo "python sources: $dest/mamba_ssm, $dest/causal_conv1d ($(tr '\n' ' ' < "$dest/OFFICIAL_VERSIONS"))"
}

import_check() {   # DIR
  [ "${SKIP_IMPORT_CHECK:-0}" = 1 ] && { echo "import check skipped (SKIP_IMPORT_CHECK=1)"; return 0; }
  PYTHONPATH="$1${PYTHONPATH:+:$PYTHONPATH}" "$PY" - <<'EOF'
import torch  # first: the extensions link against its libc10
import selective_scan_cuda, causal_conv1d_cuda, mamba_ssm
from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel
from causal_conv1d import causal_conv1d_fn
import mamba_ssm.modules.mamba_simple as ms
missing = [n for n in ('causal_conv1d_fn', 'causal_conv1d_update', 'selective_state_update', 'RMSNorm') if getattr(ms, n, None) is None]
print('import check: mamba_ssm', mamba_ssm.__version__, 'from', mamba_ssm.__file__)
print('  selective_scan_cuda:', selective_scan_cuda.__file__)
print('  causal_conv1d_cuda:', causal_conv1d_cuda.__file__)
if missing: raise SystemExit(f'mamba_simple fell back for {missing}: the fast path is not complete')
print('  mamba_simple fast path complete (causal_conv1d_fn, causal_conv1d_update, selective_state_update, Triton RMSNorm)')
EOF
}

xz_compress() {   # stdin -> stdout
  if command -v xz >/dev/null; then xz -9 -T0 --block-size=16MiB -c   # blocks, so that -T0 runs them in parallel
  else "$PY" -c "import lzma, sys, shutil; w = lzma.open(sys.stdout.buffer, 'wb', preset=9); shutil.copyfileobj(sys.stdin.buffer, w, 1 << 20); w.close()"; fi
}
xz_decompress() {
  if command -v xz >/dev/null; then xz -dc
  else "$PY" -c "import lzma, sys, shutil; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer, 1 << 20)"; fi
}

pack() {   # OFFICIAL_DIR OUTDIR
  local src=$1 out=$2 tmp f
  tmp=$(mktemp -d)
  for f in "$src"/selective_scan_cuda*.so "$src"/causal_conv1d_cuda*.so; do
    [ -f "$f" ] || die "no $(basename "$f") in $src"
    cp "$f" "$tmp/"
  done
  if command -v strip >/dev/null; then
    echo "before strip:"; ls -l "$tmp"/*.so
    for f in "$tmp"/*.so; do strip --strip-debug "$f" || echo "strip failed on $(basename "$f"): packed as built"; done
    echo "after strip --strip-debug:"
  else echo "no strip: packing the .so as built"; fi
  (cd "$tmp" && sha256sum *.so > SHA256SUMS && ls -l *.so)
  mkdir -p "$out"; rm -f "$out"/official.tar.xz.part-*
  local t0; t0=$(now)
  (cd "$tmp" && tar cf - *.so SHA256SUMS) | xz_compress | split -b 15M - "$out/official.tar.xz.part-"
  echo "packed in $(elapsed "$t0") s:"; ls -l "$out"/official.tar.xz.part-*
  rm -rf "$tmp"
}

unpack() {   # PARTS_DIR SDIST_DIR OFFICIAL_DIR
  local parts=$1 sd=$2 dest=$3
  ls "$parts"/official.tar.xz.part-* >/dev/null 2>&1 || die "no official.tar.xz.part-* in $parts"
  mkdir -p "$dest"
  cat "$parts"/official.tar.xz.part-* | xz_decompress | tar xf - -C "$dest"
  (cd "$dest" && sha256sum -c SHA256SUMS) || die "the unpacked .so do not match their checksums"
  python_sources "$sd" "$dest"
  import_check "$dest"
}

find_cuda() {   # -> writes $WORK/cuda.json (CUDA_HOME and extra flags), prints what it found
  "$PY" - "$WORK" <<'EOF'
import glob, os, re, shutil, site, subprocess, sys, json
work = sys.argv[1]
try:
    import torch; tcuda = torch.version.cuda
except ImportError: tcuda = None
cands = []
for v in ('CUDA_HOME', 'CUDA_PATH'):
    if os.environ.get(v): cands.append(os.path.join(os.environ[v], 'bin', 'nvcc'))
cands.append(shutil.which('nvcc'))
cands += ['/usr/local/cuda/bin/nvcc'] + sorted(glob.glob('/usr/local/cuda-*/bin/nvcc'), reverse=True)
sps = [p for p in dict.fromkeys(site.getsitepackages() + [site.getusersitepackages()] + sys.path) if p and os.path.isdir(p)]
for sp in sps:
    cands += sorted(glob.glob(os.path.join(sp, 'nvidia', '*', 'bin', 'nvcc'))) + sorted(glob.glob(os.path.join(sp, 'nvidia', '*', '*', 'bin', 'nvcc')))
cands += ['/opt/conda/bin/nvcc', '/usr/bin/nvcc']
found = []
for c in dict.fromkeys(c for c in cands if c):
    if not (os.path.isfile(c) and os.access(c, os.X_OK)): continue
    try: out = subprocess.run([c, '--version'], capture_output=True, text=True, timeout=60).stdout
    except Exception as e: print(f'  nvcc {c}: does not run ({e})'); continue
    m = re.search(r'release (\d+)\.(\d+)', out)
    ver = f'{m[1]}.{m[2]}' if m else '?'
    home = os.path.dirname(os.path.dirname(os.path.realpath(c)))     # /usr/local/bin/nvcc may link into a toolkit
    hdr = any(os.path.isfile(os.path.join(home, *p, 'cuda_runtime_api.h')) for p in (('include',), ('targets', 'x86_64-linux', 'include')))
    print(f'  nvcc candidate: {c} (release {ver}; toolkit {home}{"" if hdr else ", without cuda_runtime_api.h"})')
    found.append((c, ver, home, hdr))
if not found: sys.exit('no nvcc found (looked at $CUDA_HOME, $CUDA_PATH, PATH, /usr/local/cuda*, site-packages/nvidia/*/bin)')
major = lambda v: v.split('.')[0]
rank = lambda f: (not (tcuda and major(f[1]) == major(tcuda)), not f[3])       # same major as torch's CUDA, then with headers
nvcc, ver, home, _ = sorted(found, key=rank)[0]                                  # stable: PATH order among equals
print(f'using nvcc {nvcc} (release {ver}); torch {torch.__version__ if tcuda else "?"} built with CUDA {tcuda}; CUDA_HOME={home}')
if tcuda and ver.split('.')[0] != tcuda.split('.')[0]: print(f'WARNING: nvcc {ver} and torch CUDA {tcuda} differ in major version')
# headers the sources and torch's CUDA headers need, and libcudart.so for torch's -lcudart
roots = [home] + [os.path.dirname(p) for sp in sps for p in glob.glob(os.path.join(sp, 'nvidia', '*', 'include'))]
roots = list(dict.fromkeys(roots))
# torch adds -isystem CUDA_HOME/include and nvcc its own include/cccl; a header found only elsewhere (the CUDA wheels'
# include folders) is added AFTER those: -idirafter for the C++ files (torch's ATen/cuda headers want the cuBLAS,
# cuSPARSE and cuSOLVER headers), -isystem for nvcc (cub), so it never shadows the toolkit's own headers
cxx_after, nvcc_sys = [], []
own = [os.path.join(home, *p) for p in (('include',), ('include', 'cccl'), ('targets', 'x86_64-linux', 'include'), ('targets', 'x86_64-linux', 'include', 'cccl'))]
for h, cu in (('cuda_runtime_api.h', 0), ('cublas_v2.h', 0), ('cublasLt.h', 0), ('cusparse.h', 0), ('cusolverDn.h', 0), ('cub/block/block_load.cuh', 1)):
    hit = next((d for d in own if os.path.isfile(os.path.join(d, h))), None)
    where = 'toolkit'
    if hit is None:
        hit = next((d for r in roots[1:] for d in (os.path.join(r, 'include'), os.path.join(r, 'include', 'cccl'))
                    if os.path.isfile(os.path.join(d, h))), None)
        where = 'added after the toolkit'
        extra = nvcc_sys if cu else cxx_after
        if hit and hit not in extra: extra.append(hit)
    print(f'  {h}: {hit or "NOT FOUND"}{f" ({where})" if hit else ""}')
ld = []
libdirs = [os.path.join(home, 'lib64'), os.path.join(home, 'lib'), os.path.join(home, 'targets', 'x86_64-linux', 'lib')]
if not any(os.path.exists(os.path.join(d, 'libcudart.so')) for d in libdirs):
    vers = [f for d in libdirs + [os.path.join(r, 'lib') for r in roots] for f in sorted(glob.glob(os.path.join(d, 'libcudart.so.*')))]
    if tcuda: vers.sort(key=lambda f: not f.endswith('.so.' + tcuda.split('.')[0]))
    if vers:
        shim = os.path.join(work, 'cudart_shim'); os.makedirs(shim, exist_ok=True)
        link = os.path.join(shim, 'libcudart.so')
        if os.path.lexists(link): os.remove(link)
        os.symlink(vers[0], link); ld.append(f'-L{shim}')
        print(f'  libcudart.so: none unversioned; linking through {link} -> {vers[0]}')
    else: print('  libcudart.so: NOT FOUND (the link step may fail)')
else: print('  libcudart.so: found under CUDA_HOME')
cm = '--compress-mode' in subprocess.run([nvcc, '--help'], capture_output=True, text=True, timeout=60).stdout
json.dump(dict(CUDA_HOME=home, nvcc=nvcc, nvcc_version=ver, cxx_after=cxx_after, nvcc_isystem=nvcc_sys, ldflags=ld, compress_mode=cm),
          open(os.path.join(work, 'cuda.json'), 'w'))
EOF
}

write_driver() {   # the Python build driver, one process per extension
  cat > "$WORK/build_ext.py" <<'EOF'
"""Build one extension with torch.utils.cpp_extension.load (ninja): python build_ext.py NAME SRC_ROOT OUT_DIR."""
import hashlib, json, os, re, shutil, sys, time
name, root, out = sys.argv[1:4]
work = os.path.dirname(os.path.abspath(__file__))
cuda = json.load(open(os.path.join(work, 'cuda.json')))
os.environ['CUDA_HOME'] = cuda['CUDA_HOME']
import torch
from torch.utils import cpp_extension
cpp_extension.CUDA_HOME = cuda['CUDA_HOME']          # in case the module guessed another one at import
gencode = os.environ.get('OFFICIAL_GENCODE', 'arch=compute_90,code=sm_90')
HALF = ['-U__CUDA_NO_HALF_OPERATORS__', '-U__CUDA_NO_HALF_CONVERSIONS__', '-U__CUDA_NO_BFLOAT16_OPERATORS__',
        '-U__CUDA_NO_BFLOAT16_CONVERSIONS__', '-U__CUDA_NO_BFLOAT162_OPERATORS__', '-U__CUDA_NO_BFLOAT162_CONVERSIONS__']
COMMON = ['--expt-relaxed-constexpr', '--expt-extended-lambda', '--use_fast_math', '--ptxas-options=-v', '-lineinfo']
# what each setup.py passes (its extra_compile_args), the -gencode list cut to one target; `--threads 4` is its append_nvcc_threads
if name == 'selective_scan_cuda':
    d = os.path.join(root, 'csrc', 'selective_scan')
    sources = [os.path.join(d, f) for f in ['selective_scan.cpp'] + [f'selective_scan_fwd_{t}.cu' for t in ('fp32', 'fp16', 'bf16')] +
               [f'selective_scan_bwd_{t}_{k}.cu' for t in ('fp32', 'fp16', 'bf16') for k in ('real', 'complex')]]
    cxx, nvcc = ['-O3', '-std=c++17'], ['-O3', '-std=c++17'] + HALF + COMMON
elif name == 'causal_conv1d_cuda':
    d = os.path.join(root, 'csrc')
    sources = [os.path.join(d, f) for f in ('causal_conv1d.cpp', 'causal_conv1d_fwd.cu', 'causal_conv1d_bwd.cu', 'causal_conv1d_update.cu')]
    cxx, nvcc = ['-O3'], ['-O3'] + HALF + COMMON
else: sys.exit(f'unknown extension {name}')
nvcc += ['-gencode', gencode, '--threads', '4']
extra = []
# nvcc >= 12.8 compresses a translation unit's fatbinary once it is large (the container only: the SASS is the same,
# checked with cuobjdump -sass); left uncompressed, xz packs the .so about 10x instead of 1.15x (--pack)
if os.environ.get('OFFICIAL_FATBIN_COMPRESS', 'none') == 'none' and cuda.get('compress_mode'): extra = ['--compress-mode=none']
nvcc += extra
setup_py = open(os.path.join(root, 'setup.py')).read()
for f in set(cxx + nvcc) - {'-gencode', gencode, '--threads', '4', *extra}:
    if f'"{f}"' not in setup_py and f"'{f}'" not in setup_py: print(f'WARNING: flag {f} is not in {root}/setup.py', flush=True)
for s in sources:
    if not os.path.isfile(s): sys.exit(f'missing source {s}')

# causal-conv1d 1.6.1's fwd/bwd files, read for this: every definition before the instantiation list is a template
VERIFIED = {'causal_conv1d_fwd.cu': '77620ece27f0a557a834c847bae1d58fc58d47e81ddd8a06a2d949ddc48f0e5e',
            'causal_conv1d_bwd.cu': '2cba4471828b1077a1f82ea5ac0cfc3921341257894826836c340ec06899dc9e'}
INST = re.compile(r'^template\s+void\s+\w+\s*<[^;<>]*>\s*\([^;]*\)\s*;\s*$')

def split(path, parts):
    "PATH as PARTS translation units: the prefix, then a share of the explicit instantiations; [path] if not verified."
    raw = open(path, 'rb').read()
    base = os.path.basename(path)
    if VERIFIED.get(base) != hashlib.sha256(raw).hexdigest() or parts <= 1:
        print(f'{base}: compiled whole ({"parts <= 1" if parts <= 1 else "not the verified 1.6.1 file"})', flush=True)
        return [path]
    lines = raw.decode().splitlines()
    first = next(i for i, l in enumerate(lines) if l.startswith('template void'))
    prefix, insts = lines[:first], [l.strip() for l in lines[first:] if l.strip()]
    assert all(INST.match(l) for l in insts), 'unexpected line after the first explicit instantiation'
    assert len(set(insts)) == len(insts) == 18, f'{base}: expected 18 distinct instantiations, got {len(insts)}'
    assert not any('template void' in l for l in prefix)
    chunks = [c for c in (insts[k::parts] for k in range(parts)) if c]
    assert sorted(sum(chunks, [])) == sorted(insts)       # each instantiation exactly once
    files = []
    for k, chunk in enumerate(chunks):
        f = os.path.join(os.path.dirname(path), f'{base[:-3]}_part{k}.cu')
        open(f, 'w').write('\n'.join(prefix) + f'\n\n// part {k} of {len(chunks)} of {base}, generated by tools/build_official.sh\n'
                           + '\n'.join(chunk) + '\n')
        files.append(f)
    print(f'{base}: {len(insts)} instantiations split into {len(files)} translation units', flush=True)
    return files

if name == 'causal_conv1d_cuda':
    sources = (sources[:1] + split(sources[1], int(os.environ.get("SPLIT_FWD", 1)))
               + split(sources[2], int(os.environ.get('SPLIT_BWD', 9))) + sources[3:])
include = [d]
for i in cuda['cxx_after']: cxx += ['-idirafter', i]
for i in cuda['nvcc_isystem']: nvcc += ['-isystem', i]
bdir = os.path.join(work, f'build_{name}'); os.makedirs(bdir, exist_ok=True)
print(f'{name}: {len(sources)} sources, MAX_JOBS={os.environ.get("MAX_JOBS")}, nvcc flags {" ".join(nvcc)}', flush=True)
t0 = time.time()
cpp_extension.load(name=name, sources=sources, extra_cflags=cxx, extra_cuda_cflags=nvcc, extra_include_paths=include,
                   extra_ldflags=cuda['ldflags'], build_directory=bdir, verbose=True, with_cuda=True)
so = os.path.join(bdir, f'{name}.so')
os.makedirs(out, exist_ok=True); shutil.copy2(so, out)
print(f'BUILT {name} in {time.time() - t0:.1f} s: {os.path.join(out, os.path.basename(so))} ({os.path.getsize(so) / 2**20:.1f} MiB)', flush=True)
EOF
}

build() {   # SDIST_DIR OFFICIAL_DIR
  local sd=$1 dest=$2 m c t0
  m=$(sdist_of "$sd" mamba_ssm); c=$(sdist_of "$sd" causal_conv1d)
  WORK=${BUILD_WORK:-/tmp/official_build}
  rm -rf "$WORK"; mkdir -p "$WORK" "$dest"
  tar xzf "$m" -C "$WORK"; tar xzf "$c" -C "$WORK"
  echo "sdists: $(basename "$m"), $(basename "$c"); scratch $WORK"
  command -v ninja >/dev/null || "$PY" -c "import ninja" 2>/dev/null || echo "WARNING: ninja not found (torch needs it)"
  echo "host compiler: $(c++ --version 2>/dev/null | head -1 || echo none)"
  find_cuda
  write_driver
  local jobs=${MAX_JOBS:-$(nproc)}
  echo "building both at once, MAX_JOBS=$jobs each (causal_conv1d at nice 5: selective_scan's backward files are the long pole)"
  t0=$(now)
  ( MAX_JOBS=$jobs "$PY" "$WORK/build_ext.py" selective_scan_cuda "$WORK"/mamba_ssm-*/ "$dest" > "$WORK/selective_scan_cuda.log" 2>&1 ) &
  local p1=$!
  ( MAX_JOBS=$jobs nice -n 5 "$PY" "$WORK/build_ext.py" causal_conv1d_cuda "$WORK"/causal_conv1d-*/ "$dest" > "$WORK/causal_conv1d_cuda.log" 2>&1 ) &
  local p2=$!
  local rc1=0 rc2=0
  wait $p1 || rc1=$?
  echo "selective_scan_cuda: exit $rc1 after $(elapsed "$t0") s"
  wait $p2 || rc2=$?
  echo "causal_conv1d_cuda: exit $rc2 after $(elapsed "$t0") s"
  for n in selective_scan_cuda causal_conv1d_cuda; do
    grep -E "^(BUILT|WARNING|causal_conv1d_(fwd|bwd)\.cu:|$n: )" "$WORK/$n.log" || true
  done
  if [ $rc1 != 0 ] || [ $rc2 != 0 ]; then
    for n in selective_scan_cuda causal_conv1d_cuda; do
      echo "---- end of $WORK/$n.log"; grep -v "ptxas info\|bytes stack frame\|Compiling entry\|Function properties\|Used [0-9]* registers" "$WORK/$n.log" | tail -40
    done
    die "build failed"
  fi
  echo "both built in $(elapsed "$t0") s (wall)"
  python_sources "$sd" "$dest"
  ls -l "$dest"
  import_check "$dest"
}

case "${1:-}" in
  --pack) [ $# = 3 ] || die "usage: --pack OFFICIAL_DIR OUTDIR"; pack "$2" "$3" ;;
  --unpack) [ $# = 4 ] || die "usage: --unpack PARTS_DIR SDIST_DIR OFFICIAL_DIR"; unpack "$2" "$3" "$4" ;;
  -h|--help|"") sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) [ $# = 2 ] || die "usage: SDIST_DIR OFFICIAL_DIR (or --pack / --unpack)"; build "$1" "$2" ;;
esac
