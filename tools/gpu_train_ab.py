#!/usr/bin/env python3
"""A/B of effseq's Mamba LM training step against an earlier effseq and mamba_ssm, one process, interleaved (issue 14).

    PYTHONPATH=/tmp/official:$PYTHONPATH python3 tools/gpu_train_ab.py --old .gpu/old --out ab.json

Variants: `effseq` (this checkout), `effseq_nocheck` (the same with the ids' range check removed: what the check costs),
`effseq_old` (a copy of an earlier effseq package renamed `effseq_old`, in the folder --old; skipped if absent) and
`mamba_ssm`. Each shape's steps are timed as gpu_mamba_e2e.py times the train rows (all models resident, rounds in
alternation, train_block steps back to back per round)."""
import argparse, json, os, sys
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_mamba_e2e as e2e   # noqa: E402

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--out', required=True); p.add_argument('--old'); p.add_argument('--rounds', type=int, default=10)
    p.add_argument('--shapes', default='8x2048,1x16384')
    a = p.parse_args()
    device = torch.device('cuda'); s = dict(e2e.SIZES['full'])
    libs = dict(effseq=e2e.effseq_lib())
    class NoCheck(libs['effseq']['LM']):
        def _check_first(self, input_ids, inference_params): return True
        def _check_ids(self, input_ids, lo_hi=None): return None
    libs['effseq_nocheck'] = dict(libs['effseq'], LM=NoCheck)
    if a.old and os.path.isdir(os.path.join(a.old, 'effseq_old')):
        sys.path.insert(0, a.old)
        import effseq_old.mamba as om
        libs['effseq_old'] = dict(LM=om.MambaLMHeadModel, Config=om.MambaConfig)
    off, why = e2e.import_official()
    if off: libs['mamba_ssm'] = off
    else: print('mamba_ssm not importable:', why)
    sd = e2e.reference_state_dict(s, libs, device)
    res = dict(gpu=torch.cuda.get_device_name(), effseq=e2e.git_state(), baseline=off['version'] if off else None,
               variants=list(libs), rounds=a.rounds, train_block=s['train_block'], rows=[])
    for shp in a.shapes.split(','):
        b, L = map(int, shp.split('x'))
        k = s['train_block']
        def block(lib):
            step = e2e.make_trainer(lib, s, sd, device, b, L)[0]
            def run():
                for _ in range(k): step()
            return run
        makers = {n: (lambda lib=lib: block(lib)) for n, lib in libs.items()}
        r = e2e.interleaved(makers, device, 1, a.rounds)
        row = dict(b=b, L=L, **{f'{n}_ms': v['ms'] / k for n, v in r.items()})
        if 'mamba_ssm' in r: row.update({f'{n}_speedup': r['mamba_ssm']['ms'] / v['ms'] for n, v in r.items()})
        res['rows'].append(row); e2e.free(device)
        print(json.dumps(row), flush=True)
    json.dump(res, open(a.out, 'w'), indent=1)

if __name__ == '__main__': main()
