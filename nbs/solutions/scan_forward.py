"Solutions to the Triton exercises of chapter 04a (nbs/exercises/04a_scan_forward.ipynb), and plausible wrong answers the checkers must reject.\n\nImport this module after setting TRITON_INTERPRET=1 on a machine without a GPU (the kernels are made at import)."
import triton
import triton.language as tl

@triton.jit
def _combine(a1, b1, a2, b2):
    return a1 * a2, a2 * b1 + b2

@triton.jit
def _combine_swapped(a1, b1, a2, b2):   # the right map applied first
    return a1 * a2, a1 * b2 + b1

@triton.jit
def scan_tile(a_ptr, b_ptr, h_ptr, L, stride, BL: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BL)
    mask = offs < L
    a = tl.load(a_ptr + row * stride + offs, mask=mask, other=1.0)   # padding: the identity map (1, 0)
    b = tl.load(b_ptr + row * stride + offs, mask=mask, other=0.0)
    _, h = tl.associative_scan((a, b), 0, _combine)
    tl.store(h_ptr + row * stride + offs, h, mask=mask)

@triton.jit
def scan_tile_wrong(a_ptr, b_ptr, h_ptr, L, stride, BL: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BL)
    mask = offs < L
    a = tl.load(a_ptr + row * stride + offs, mask=mask, other=1.0)
    b = tl.load(b_ptr + row * stride + offs, mask=mask, other=0.0)
    _, h = tl.associative_scan((a, b), 0, _combine_swapped)
    tl.store(h_ptr + row * stride + offs, h, mask=mask)

@triton.jit
def scan_chunks(a_ptr, b_ptr, h_ptr, L, stride, BL: tl.constexpr):
    row = tl.program_id(0)
    first = tl.arange(0, BL) == 0
    carry = 0.0
    for l0 in range(0, L, BL):
        offs = l0 + tl.arange(0, BL)
        mask = offs < L
        a = tl.load(a_ptr + row * stride + offs, mask=mask, other=1.0)
        b = tl.load(b_ptr + row * stride + offs, mask=mask, other=0.0)
        _, h = tl.associative_scan((a, tl.where(first, a * carry + b, b)), 0, _combine)   # the carry enters at step 0
        tl.store(h_ptr + row * stride + offs, h, mask=mask)
        carry = tl.sum(tl.where(offs == tl.minimum(l0 + BL, L) - 1, h, 0.0), 0)           # the chunk's last state

@triton.jit
def scan_chunks_wrong(a_ptr, b_ptr, h_ptr, L, stride, BL: tl.constexpr):   # every chunk starts from 0: no carry
    row = tl.program_id(0)
    for l0 in range(0, L, BL):
        offs = l0 + tl.arange(0, BL)
        mask = offs < L
        a = tl.load(a_ptr + row * stride + offs, mask=mask, other=1.0)
        b = tl.load(b_ptr + row * stride + offs, mask=mask, other=0.0)
        _, h = tl.associative_scan((a, b), 0, _combine)
        tl.store(h_ptr + row * stride + offs, h, mask=mask)
