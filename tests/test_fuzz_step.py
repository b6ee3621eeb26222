"""`PPOTrainer.step` fuzzed with malformed inputs: every call is refused by lm_ppo's own checks, with a TypeError or
ValueError whose message starts with the argument's name in backticks, before anything in the trainer changes.

Each call starts from a random valid batch and breaks one thing in it. `python tests/test_fuzz_step.py` prints one
example of every kind of bad input with the message it gets."""
import math, random, re, sys, traceback
from pathlib import Path
import numpy as np
import pytest
import torch

import lm_ppo
from lm_ppo.models import AutoModelForCausalLMWithValueHead
from lm_ppo.ppo import PPOTrainer

N_CALLS = 1200
VOCAB, MAX_LEN = 320, 256                                              # the tiny GPT-2's vocabulary and positions
ARGS = ('queries', 'responses', 'scores')
LM_PPO_DIR = Path(lm_ppo.__file__).resolve().parent
NAMED = re.compile(r"`(\w+)(\[\d+\])?`")                         # `scores`, `queries[2]`, ...


# --- the trainer and everything in it a rejected call must leave alone ------------------------------------------------
def make_trainer(model_path):
    torch.manual_seed(0)
    fresh = lambda: AutoModelForCausalLMWithValueHead.from_pretrained(model_path)
    t = PPOTrainer(fresh(), fresh(), None, forward_batch_size=2, mini_batch_size=2, ppo_epochs=1, lr=1e-3, seed=1)
    t.step([torch.tensor([1, 2, 3]), torch.tensor([4])], [torch.tensor([5, 6]), torch.tensor([7, 8, 9])], [1., -1.])
    return t                                                           # one step taken: Adam has state to protect


@pytest.fixture(scope='module')
def trainer(tiny_gpt2): return make_trainer(tiny_gpt2)


def _tensors(obj, prefix=''):
    "Every tensor (and plain value) inside nested dicts/lists, by path."
    if isinstance(obj, torch.Tensor): yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items(): yield from _tensors(v, f'{prefix}.{k}')
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj): yield from _tensors(v, f'{prefix}[{i}]')
    else: yield prefix, obj


def trainer_state(t):
    """The trainer's state: weights (master, compute copy, reference), gradients, optimizer, generator, KL coefficient,
    step count, torch's global generator; as (layout, all tensor bytes in one buffer, the other values)."""
    models = dict(model=t.model, compute=t.compute_model, ref=t.ref_model)
    items = [(f'{n}.{k}', v) for n, m in models.items() if m is not None for k, v in m.state_dict().items()]
    items += [(f'{n}.grad.{k}', p.grad) for n, m in models.items() if m is not None for k, p in m.named_parameters()]
    items += [(f'optimizer{k}', v) for k, v in _tensors(t.optimizer.state_dict())]
    items += [('generator', t.generator.get_state()), ('kl_coef', t.kl_ctl.value), ('n_steps', t.n_steps),
              ('torch_rng', torch.random.get_rng_state()), ('training', (t.model.training, t.compute_model.training))]
    tensors = [(k, v.detach()) for k, v in items if isinstance(v, torch.Tensor)]
    layout = tuple((k, v.dtype, tuple(v.shape)) for k, v in tensors)
    flat = torch.cat([v.reshape(-1).contiguous().view(torch.uint8) for _, v in tensors])   # [total bytes]
    return layout, flat, {k: v for k, v in items if not isinstance(v, torch.Tensor)}


def changed(before, after):
    "Names of the entries that differ bit for bit."
    (lb, fb, ob), (la, fa, oa) = before, after
    if lb != la: return sorted({x[0] for x in set(lb) ^ set(la)})
    names = [k for k in ob.keys() | oa.keys() if type(ob.get(k)) is not type(oa.get(k)) or ob.get(k) != oa.get(k)]
    if not torch.equal(fb, fa):
        ends = np.cumsum([v.itemsize * math.prod(shape) for _, v, shape in lb])
        names += sorted({lb[i][0] for i in np.searchsorted(ends, (fb != fa).nonzero()[:, 0].numpy(), side='right')})
    return sorted(names)


def check_refusal(exc, names):
    "The bars for one refused call: lm_ppo raised it, as a TypeError/ValueError naming one of `names` first."
    last = traceback.extract_tb(exc.__traceback__)[-1]
    where = f'{type(exc).__name__} from {last.filename}:{last.lineno}: {exc}'
    assert type(exc) in (TypeError, ValueError), where
    assert Path(last.filename).resolve().is_relative_to(LM_PPO_DIR), f'raised outside lm_ppo: {where}'
    m = NAMED.match(str(exc))
    assert m and m.group(1) in names, f'message does not start with `{"`/`".join(names)}`: {where}'


def refuse(t, q, r, s, names=ARGS, before=None, **kw):
    "Call `t.step`, which must refuse; checks the bars and returns the trainer's state after it (`before`: its state now)."
    before = trainer_state(t) if before is None else before
    try: t.step(q, r, s, **kw)
    except Exception as e: exc = e                                    # anything else (KeyboardInterrupt) propagates
    else: raise AssertionError('accepted silently')
    after = trainer_state(t)
    diff = changed(before, after)
    assert not diff, f'state changed by a refused call ({type(exc).__name__}: {exc}): {diff[:8]}'
    check_refusal(exc, names)
    return after


# --- valid batches and the ways to break them ------------------------------------------------------------------------
def valid_batch(rng):
    "A random valid batch in the plain form: lists of 1-D LongTensors and a list of floats."
    B = rng.randint(1, 4)
    ids = lambda: torch.tensor([rng.randrange(VOCAB) for _ in range(rng.randint(1, 6))])   # [len]
    return [ids() for _ in range(B)], [ids() for _ in range(B)], [rng.uniform(-2, 2) for _ in range(B)]


def _put(seqs, rng, x):
    "`seqs` with one entry (random) replaced by `x`."
    seqs = list(seqs); seqs[rng.randrange(len(seqs))] = x
    return seqs


def _whole_ids(rng, n=3): return [rng.randrange(VOCAB) for _ in range(n)]

# Each mutation: (rng, queries, responses, scores, target) -> (queries, responses, scores, names the message may start with).
# `target` is 'queries' or 'responses' for the token mutations.
def _tok(f, names=None):
    def mutate(rng, q, r, s, target):
        seqs = f(rng, q if target == 'queries' else r)
        q, r = (seqs, r) if target == 'queries' else (q, seqs)
        return q, r, s, names or (target,)
    return mutate

def _sc(f):
    def mutate(rng, q, r, s, target): return q, r, f(rng, s, len(q)), ('scores',)
    return mutate

def _odd_np_ids(rng):
    return rng.choice([np.array([1, 2], dtype=np.bool_), np.array([3, 4], dtype=object), np.array(['1', '2']),
                       np.array(['2020-01-01'], dtype='datetime64[D]'), np.array([1, 2], dtype='timedelta64[s]')])

TOKEN_MUTATIONS = {
    'one sequence fewer': _tok(lambda rng, x: x[:-1], ARGS[:2]),
    'one sequence more': _tok(lambda rng, x: x + [torch.tensor([1])], ARGS[:2]),
    'empty batch (list)': _tok(lambda rng, x: [], ARGS[:2]),
    'empty batch ([0, T] tensor)': _tok(lambda rng, x: torch.zeros(0, 3, dtype=torch.long), ARGS[:2]),
    'empty sequence (tensor)': _tok(lambda rng, x: _put(x, rng, torch.zeros(0, dtype=torch.long))),
    'empty sequence (list)': _tok(lambda rng, x: _put(x, rng, [])),
    'empty sequences ([B, 0] tensor)': _tok(lambda rng, x: torch.zeros(len(x), 0, dtype=torch.long)),
    'float token tensor': _tok(lambda rng, x: _put(x, rng, torch.tensor(_whole_ids(rng), dtype=rng.choice(
        [torch.float16, torch.bfloat16, torch.float32, torch.float64])))),
    'float [B, T] batch tensor': _tok(lambda rng, x: torch.ones(len(x), 3)),
    'bool token tensor': _tok(lambda rng, x: _put(x, rng, torch.tensor([True, False]))),
    'complex token tensor': _tok(lambda rng, x: _put(x, rng, torch.tensor(_whole_ids(rng), dtype=torch.complex64))),
    'float tensor requiring grad': _tok(lambda rng, x: _put(x, rng, torch.tensor([1., 2.], requires_grad=True))),
    'fractional ids (list)': _tok(lambda rng, x: _put(x, rng, [1, rng.choice([0.5, 2.25, -1e-3])])),
    'NaN id (list)': _tok(lambda rng, x: _put(x, rng, [1., float('nan')])),
    'bools (list)': _tok(lambda rng, x: _put(x, rng, [True, False, True])),
    '2-D sequence [2, T]': _tok(lambda rng, x: _put(x, rng, torch.ones(2, rng.randint(1, 4), dtype=torch.long))),
    '3-D batch tensor': _tok(lambda rng, x: torch.ones(*rng.choice([(len(x), 3, 1), (1, len(x), 3), (len(x), 1, 1)]),
                                                       dtype=torch.long)),
    '0-d tensor (whole argument)': _tok(lambda rng, x: torch.tensor(5)),
    '0-d tensor (one sequence)': _tok(lambda rng, x: _put(x, rng, torch.tensor(5))),
    'flat list of ints (no batch level)': _tok(lambda rng, x: _whole_ids(rng, len(x))),
    'nested list [[[ids], [ids]]]': _tok(lambda rng, x: _put(x, rng, [_whole_ids(rng), _whole_ids(rng)])),
    'ragged nested list': _tok(lambda rng, x: _put(x, rng, [[1, 2], [3]])),
    'token id < 0': _tok(lambda rng, x: _put(x, rng, torch.tensor([1, rng.choice([-1, -2, -VOCAB, -2**31, -2**62])]))),
    'token id >= vocab': _tok(lambda rng, x: _put(x, rng, torch.tensor([rng.choice([VOCAB, VOCAB + 1, 50257, 2**31, 2**62]), 1]))),
    'token id >= vocab (int16/int32 tensor)': _tok(lambda rng, x: _put(x, rng, torch.tensor([VOCAB, 3], dtype=rng.choice([torch.int16, torch.int32])))),
    'token id beyond int64 (list)': _tok(lambda rng, x: _put(x, rng, [1, 10**30])),
    'string (whole argument)': _tok(lambda rng, x: rng.choice(['the movie was', ''])),
    'string (one sequence)': _tok(lambda rng, x: _put(x, rng, 'the movie')),
    'bytes (one sequence)': _tok(lambda rng, x: _put(x, rng, b'\x01\x02')),
    'None (whole argument)': _tok(lambda rng, x: None),
    'None (one sequence)': _tok(lambda rng, x: _put(x, rng, None)),
    'None inside a sequence': _tok(lambda rng, x: _put(x, rng, [1, None, 2])),
    'dict/set/generator/int (whole argument)': _tok(lambda rng, x: rng.choice([dict(enumerate(x)), {1, 2}, (y for y in x), 7, 3.5])),
    'dict (one sequence)': _tok(lambda rng, x: _put(x, rng, {'input_ids': [1, 2]})),
    'numpy array of odd dtype (one sequence)': _tok(lambda rng, x: _put(x, rng, _odd_np_ids(rng))),
    'numpy float/complex array (one sequence)': _tok(lambda rng, x: _put(x, rng, np.array(_whole_ids(rng), dtype=rng.choice(
        [np.float16, np.float32, np.float64, np.complex64])))),
    'numpy [B, T] array (whole argument)': _tok(lambda rng, x: np.ones((len(x), 3), dtype=np.int64)),
}

def _too_long(rng, q, r, s, target):
    "One pair longer than the model's positions (by 1 to 50 tokens)."
    i, extra = rng.randrange(len(q)), rng.choice([1, 1, 2, 50])
    q, r = list(q), list(r)
    n = MAX_LEN + extra - len(q[i])
    if n < 1: q[i] = q[i][:1]; n = MAX_LEN + extra - 1
    r[i] = torch.tensor([rng.randrange(VOCAB) for _ in range(n)])     # [n]; not torch's generator: the test watches it
    return q, r, s, ARGS[:2]

def _as_tensor(s): return torch.tensor(s, dtype=torch.float32)

def _bad_shape(rng, s, B):
    return rng.choice([torch.zeros(B, 2), torch.zeros(2, B + 1), torch.zeros(B, 1, 1), torch.zeros(()), torch.zeros(0),
                       torch.zeros(B + 1), np.zeros((B, 3)), np.zeros(B + 2)])

def _non_finite(rng, s, B):
    s = list(s); s[rng.randrange(B)] = rng.choice([float('nan'), float('inf'), -float('inf')])
    return rng.choice([s, _as_tensor(s), np.array(s), torch.tensor(s, dtype=torch.float64), torch.tensor(s, dtype=torch.bfloat16)])

SCORE_MUTATIONS = {
    'scores: one fewer': _sc(lambda rng, s, B: s[:-1]),
    'scores: one more': _sc(lambda rng, s, B: s + [0.]),
    'scores: empty': _sc(lambda rng, s, B: rng.choice([[], torch.zeros(0), np.zeros(0)])),
    'scores: wrong shape': _sc(_bad_shape),
    'scores: NaN/inf': _sc(_non_finite),
    'scores: string': _sc(lambda rng, s, B: rng.choice(['1.0', ' '.join(map(str, s)), _put(s, rng, '1.0'), _put(s, rng, np.str_('2'))])),
    'scores: None': _sc(lambda rng, s, B: rng.choice([None, _put(s, rng, None)])),
    'scores: nested list': _sc(lambda rng, s, B: rng.choice([[[x, x] for x in s], _put(s, rng, [1., 2.]), _put(s, rng, [[]])])),
    'scores: non-scalar entry': _sc(lambda rng, s, B: _put(s, rng, rng.choice([torch.zeros(2), np.zeros(3), torch.zeros(0)]))),
    'scores: tensor requiring grad': _sc(lambda rng, s, B: rng.choice([torch.tensor(s, requires_grad=True),
                                                                       _put(s, rng, torch.tensor(1., requires_grad=True))])),
    'scores: bools': _sc(lambda rng, s, B: rng.choice([[True] * B, _put(s, rng, False), torch.ones(B, dtype=torch.bool),
                                                       np.ones(B, dtype=np.bool_), _put(s, rng, np.True_)])),
    'scores: complex': _sc(lambda rng, s, B: rng.choice([_put(s, rng, 1 + 2j), torch.tensor(s, dtype=torch.complex64),
                                                         np.array(s, dtype=np.complex128), _put(s, rng, np.complex64(1))])),
    'scores: dict/set/generator/number': _sc(lambda rng, s, B: rng.choice([dict(enumerate(s)), set(s) | {9.}, (x for x in s), 1.0, 3])),
    'scores: Fraction/Decimal/object entry': _sc(lambda rng, s, B: _put(s, rng, rng.choice(
        [__import__('fractions').Fraction(1, 2), __import__('decimal').Decimal('0.5'), object()]))),
    'scores: numpy datetime64 entry': _sc(lambda rng, s, B: _put(s, rng, np.datetime64('2020-01-01'))),
    'scores: numpy array of a non-number dtype': _sc(lambda rng, s, B: rng.choice([
        np.array(s, dtype=object), np.array([str(x) for x in s]), np.array(['2020-01-01'] * B, dtype='datetime64[D]')])),
    'scores: numpy timedelta64 / 0-d object array entry': _sc(lambda rng, s, B: _put(s, rng, rng.choice(
        [np.timedelta64(1, 's'), np.array(1.0, dtype=object)]))),
    'scores: int beyond float32': _sc(lambda rng, s, B: _put(s, rng, rng.choice([10**40, -10**39, 2**200]))),
    'scores: bool tensor entry among float tensors': _sc(lambda rng, s, B: _put([torch.tensor(x) for x in s], rng, torch.tensor(True))),
}

def _callback(f):
    def mutate(rng, q, r, s, target): return q, r, s, ('progress', 'cancel'), f(rng)
    return mutate

class _NotAnEvent:
    is_set = True                                                      # an attribute, not a method

CALLBACK_MUTATIONS = {
    'progress not callable': _callback(lambda rng: dict(progress=rng.choice(['every step', 1, True, [print]]))),
    'cancel without is_set()': _callback(lambda rng: dict(cancel=rng.choice([object(), True, 'stop', _NotAnEvent()]))),
}

MUTATIONS = {**TOKEN_MUTATIONS, 'too long for the positions': _too_long, **SCORE_MUTATIONS, **CALLBACK_MUTATIONS}


def fuzz_calls(n, seed=0):
    "`n` (kind, queries, responses, scores, names, step's other arguments): a random valid batch with one thing broken, every kind used."
    rng = random.Random(seed)
    kinds = list(MUTATIONS)
    for i in range(n):
        kind = kinds[i] if i < len(kinds) else rng.choice(kinds)
        q, r, s = valid_batch(rng)
        if kind not in SCORE_MUTATIONS and rng.random() < 0.3: s = _as_tensor(s)   # the valid part in another form
        q, r, s, names, *kw = MUTATIONS[kind](rng, q, r, s, rng.choice(ARGS[:2]))
        yield kind, q, r, s, names, (kw[0] if kw else {})


# --- the tests ---------------------------------------------------------------------------------------------------------
def test_valid_base_batches_pass_the_checks(trainer):
    "The unbroken batches the fuzzer starts from are accepted by the checks (so a refusal is the mutation's doing)."
    rng = random.Random(1)
    for _ in range(200): trainer._check_inputs(*valid_batch(rng))


def test_fuzz_malformed_step_calls(trainer):
    "N_CALLS random malformed calls: none accepted, none failing inside torch, none changing the trainer."
    failures, seen, state = [], set(), trainer_state(trainer)
    for kind, q, r, s, names, kw in fuzz_calls(N_CALLS):
        seen.add(kind)
        try: state = refuse(trainer, q, r, s, names, before=state, **kw)
        except AssertionError as e: failures.append(f'{kind}: {e}'); state = trainer_state(trainer)
    assert seen == set(MUTATIONS)
    assert not failures, f'{len(failures)} of {N_CALLS} calls broke a bar:\n' + '\n'.join(failures[:20])


# Inputs lm_ppo once did not refuse properly (what happened then is beside each): unusual tensor layouts and numpy
# masked arrays. Each is refused now.
def _two(x): return [x, x.clone() if isinstance(x, torch.Tensor) else x]

GAPS = {   # kind: (queries, scores, the argument to name, what happened before)
    'sparse token tensor': (lambda: _two(torch.tensor([1, 2]).to_sparse()), None, 'queries',
                            "NotImplementedError from torch: Could not run 'aten::min' with arguments from the 'SparseCPU' backend"),
    'sparse [B, T] token tensor': (lambda: torch.tensor([[1, 2], [3, 4]]).to_sparse(), None, 'queries',
                                   "NotImplementedError from torch (aten::min on SparseCPU)"),
    'nested token tensor': (lambda: torch.nested.nested_tensor([torch.tensor([1, 2]), torch.tensor([3])]), None, 'queries',
                            "RuntimeError from torch: NestedTensorImpl doesn't support sizes"),
    'meta-device token tensor': (lambda: _two(torch.tensor([1, 2], device='meta')), None, 'queries',
                                 'RuntimeError from torch: Tensor.item() cannot be called on meta tensors'),
    'sparse scores': (None, lambda: torch.tensor([1., 0.]).to_sparse(), 'scores',
                      "NotImplementedError from torch (aten::ne.Scalar on SparseCPU)"),
    'nested scores': (None, lambda: torch.nested.nested_tensor([torch.tensor([1.]), torch.tensor([0.])]), 'scores',
                      "RuntimeError from torch: NestedTensorImpl doesn't support sizes"),
    'meta-device scores': (None, lambda: torch.tensor([1., 0.], device='meta'), 'scores',
                           'NotImplementedError from torch: Cannot copy out of meta tensor; no data!'),
    'quantized scores': (None, lambda: torch.quantize_per_tensor(torch.tensor([1., 0.]), 1.0, 0, torch.quint8), 'scores',
                         'RuntimeError from torch: Creation of quantized tensor requires quantized dtype'),
    'numpy masked array scores with a masked entry': (None, lambda: np.ma.array([1., 99.], mask=[False, True]), 'scores',
                                                      'accepted: the mask is dropped and the masked 99.0 is used as a score'),
}

def _gap_args(kind):
    q, s = GAPS[kind][:2]
    return (q() if q else [torch.tensor([1, 2]), torch.tensor([3])]), [torch.tensor([4]), torch.tensor([5, 6])], (s() if s else [1., 0.])

@pytest.mark.parametrize('kind', list(GAPS))
def test_gaps(trainer, kind):
    refuse(trainer, *_gap_args(kind), names=(GAPS[kind][2],))


# --- valid edge cases: accepted, and a step is taken --------------------------------------------------------------------
def _long(*xs): return torch.tensor(xs)

VALID = {
    'batch of 1, 1-token query and response': ([_long(7)], [_long(8)], [0.5]),
    '1-D tensors as a batch of 1': (_long(1, 2, 3), _long(4), [1.]),
    'a response of 1 token among longer ones': ([_long(1, 2), _long(3), _long(4, 5, 6)], [_long(9), _long(1, 2, 3, 4), _long(5, 6)], [1., 0., -1.]),
    'int scores': ([_long(1, 2), _long(3)], [_long(4), _long(5, 6)], [1, -2]),
    'numpy float64 scores': ([_long(1, 2), _long(3)], [_long(4), _long(5, 6)], np.array([0.25, -1.])),
    'numpy float32 scores': ([_long(1, 2), _long(3)], [_long(4), _long(5, 6)], np.array([0.25, -1.], dtype=np.float32)),
    'numpy int64 scores': ([_long(1, 2), _long(3)], [_long(4), _long(5, 6)], np.array([3, -1])),
    'numpy longdouble scores (real numbers)': ([_long(1, 2), _long(3)], [_long(4), _long(5, 6)], np.array([1.5, 0.], dtype=np.longdouble)),
    'numpy longdouble scalar in a list': ([_long(1, 2), _long(3)], [_long(4), _long(5, 6)], [np.longdouble(1), 0.]),
    'numpy scalars in a list': ([_long(1, 2), _long(3)], [_long(4), _long(5, 6)], [np.float32(0.5), np.int64(2)]),
    '0-d tensors in a list': ([_long(1, 2), _long(3)], [_long(4), _long(5, 6)], [torch.tensor(0.5), torch.tensor(2)]),
    '[B, 1] tensor scores': ([_long(1, 2), _long(3)], [_long(4), _long(5, 6)], torch.tensor([[0.5], [-0.5]])),
    '[B, 1] numpy scores': ([_long(1, 2), _long(3)], [_long(4), _long(5, 6)], np.array([[0.5], [-0.5]])),
    '[1, 1] scores for a batch of 1': ([_long(1, 2)], [_long(4)], torch.tensor([[0.5]])),
    'bf16 scores tensor': ([_long(1, 2), _long(3)], [_long(4), _long(5, 6)], torch.tensor([0.5, -0.5], dtype=torch.bfloat16)),
    '[B, T] LongTensors': (torch.tensor([[1, 2], [3, 4]]), torch.tensor([[5, 6, 7], [8, 9, 10]]), torch.tensor([1., 0.])),
    'int32 / uint8 / int16 tensors': ([_long(1, 2).int(), _long(3).to(torch.uint8)], [_long(4).short(), _long(5, 6)], [1., 0.]),
    'lists of ints and a tuple batch': (([1, 2], [3]), ([4], [5, 6]), (1., 0.)),
    'numpy int arrays and [1, T] tensors': ([np.array([1, 2], dtype=np.int32), _long(3)[None]], [np.array([4]), _long(5, 6)[None]], [1., 0.]),
    'non-contiguous tensors': ([torch.arange(20)[::3], _long(3)], [torch.arange(10, 40)[::5], _long(5)], [1., 0.]),
    'ids 0 and vocab-1': ([_long(0, VOCAB - 1)], [_long(VOCAB - 1, 0)], [1.]),
    "exactly the model's 256 positions": ([torch.ones(200, dtype=torch.long), _long(1)], [torch.ones(56, dtype=torch.long), torch.ones(255, dtype=torch.long)], [1., 0.]),
}

@pytest.mark.parametrize('case', list(VALID))
def test_valid_edge_cases_accepted(trainer, case):
    q, r, s = VALID[case]
    n = trainer.n_steps
    stats = trainer.step(q, r, s)
    assert trainer.n_steps == n + 1
    assert np.isfinite(stats['objective/kl']) and np.isfinite(stats['ppo/loss/total'])


# --- `python tests/test_fuzz_step.py`: one example of each kind and the message it gets now -----------------------------
if __name__ == '__main__':
    import os, tempfile, warnings
    warnings.simplefilter('ignore')
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    from lm_ppo.models import build_tiny_gpt2
    t = make_trainer(build_tiny_gpt2(Path(tempfile.mkdtemp())/'tiny-gpt2'))
    def row(kind, f):
        try: f(); out = 'ACCEPTED'
        except Exception as e: out = f'{type(e).__name__}: {e}'
        print(f'| {kind} | {out[:160]} |')
    print('| bad input | error now |\n|---|---|')
    examples = {}
    for kind, q, r, s, names, kw in fuzz_calls(len(MUTATIONS), seed=int(sys.argv[1]) if len(sys.argv) > 1 else 0):
        examples.setdefault(kind, (q, r, s, kw))
    for kind, (q, r, s, kw) in examples.items(): row(kind, lambda: t.step(q, r, s, **kw))
    for kind in GAPS: row(kind + ' (gap)', lambda: t.step(*_gap_args(kind)))
