#!/usr/bin/env python3
"""Run mamba_ssm's own kernel tests against effseq, with mamba_ssm's reference functions as the judges.

    python3 tools/upstream_tests.py --tests DIR --impl effseq   --out effseq.json
    python3 tools/upstream_tests.py --tests DIR --impl official --out official.json

DIR holds upstream test files (e.g. tests/ops/test_selective_scan.py and
tests/ops/triton/test_selective_state_update.py from state-spaces/mamba). They are copied, unchanged, into a
scratch folder outside the project, beside a conftest.py written here. With `--impl effseq` that conftest puts
effseq's `selective_scan_fn`, `mamba_inner_fn` and `selective_state_update` in the place of mamba_ssm's before
the test modules import them; mamba_ssm's `*_ref` functions stay upstream's. `mamba_ssm` must be importable
(tools/build_official.sh gives a folder for PYTHONPATH). Writes per-file pass/fail counts and the failures.
"""
import argparse, json, shutil, subprocess, sys, tempfile, time, xml.etree.ElementTree as ET
from pathlib import Path

CONFTEST = '''
import mamba_ssm.ops.selective_scan_interface as ssi
import mamba_ssm.ops.triton.selective_state_update as ssu
import effseq.triton_scan as ts, effseq.mamba as em
ssi.selective_scan_fn = ts.selective_scan_fn
ssi.mamba_inner_fn = em.mamba_inner_fn
ssu.selective_state_update = ts.selective_state_update
'''

def run(tests: Path, impl: str, timeout: int) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix=f'upstream_{impl}_'))
    files = sorted(tests.glob('test_*.py'))
    if not files: sys.exit(f"no test_*.py in {tests}")
    for f in files: shutil.copy(f, scratch / f.name)
    (scratch / 'conftest.py').write_text(CONFTEST if impl == 'effseq' else '')
    res = {'impl': impl, 'files': {}}
    for f in files:
        xml = scratch / f'{f.stem}.xml'
        t0 = time.time()
        p = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', f'--junitxml={xml}', f.name],
                           cwd=scratch, capture_output=True, text=True, timeout=timeout)
        cases = ET.parse(xml).getroot().iter('testcase') if xml.exists() else []
        passed, failed = 0, []
        for c in cases:
            bad = [e for e in c if e.tag in ('failure', 'error')]
            skipped = any(e.tag == 'skipped' for e in c)
            if bad: failed.append({'test': c.get('name'), 'message': (bad[0].get('message') or '')[:300]})
            elif not skipped: passed += 1
        res['files'][f.name] = {'passed': passed, 'failed': len(failed), 'failures': failed[:50], 'rc': p.returncode,
                                'seconds': round(time.time() - t0, 1), 'tail': p.stdout[-1500:] + p.stderr[-1500:]}
        print(f"{impl}: {f.name}: {passed} passed, {len(failed)} failed ({res['files'][f.name]['seconds']} s)", flush=True)
    return res

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--tests', type=Path, required=True)
    ap.add_argument('--impl', choices=('effseq', 'official'), required=True)
    ap.add_argument('--out', type=Path, required=True)
    ap.add_argument('--timeout', type=int, default=400)
    a = ap.parse_args()
    r = run(a.tests, a.impl, a.timeout)
    a.out.write_text(json.dumps(r, indent=1))
