"Data-parallel PPO under `accelerate launch`: two CPU processes (gloo) against one process over the same global batch."
import json, os, shutil, socket, subprocess, sys
from pathlib import Path
import pytest
from safetensors.torch import load_file

HERE = Path(__file__).resolve().parent
SCRIPT = HERE/'dist_ppo_run.py'

def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def run(out, model, *args, procs=2):
    "Run the script in `procs` processes (accelerate launch) or one plain process; the per-rank results."
    if procs == 1: subprocess_ok([sys.executable, str(SCRIPT), str(out), str(model), *args])
    else: subprocess_ok(launch(procs, str(SCRIPT), str(out), str(model), *args))
    return [json.loads((out/f'rank{r}.json').read_text()) for r in range(procs)]

def launch(procs, *args):
    "`accelerate launch` of `procs` CPU processes (torchrun's launcher, gloo: `--cpu` alone runs one process)."
    accelerate = shutil.which('accelerate', path=str(Path(sys.executable).parent)) or 'accelerate'
    return [accelerate, 'launch', '--multi_gpu', '--num_processes', str(procs), '--num_machines', '1',
            '--mixed_precision', 'no', '--dynamo_backend', 'no', '--main_process_ip', '127.0.0.1',
            '--main_process_port', str(free_port()), *args]

def subprocess_ok(cmd):
    "Run `cmd` offline with one thread per process; its completed process, which must have succeeded."
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'OMP_NUM_THREADS': '1', 'TOKENIZERS_PARALLELISM': 'false'}
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p

@pytest.mark.parametrize('lora', [False, True], ids=['full', 'lora'])
def test_two_processes_equal_one(tiny_gpt2, tmp_path, lora):
    """After every step both processes hold bitwise-identical weights; the weights and global stats equal one process's.
    With plain SGD, so that equal weights mean equal gradients: Adam divides by the root of the squared gradients and so
    turns gradients that are zero in exact arithmetic (an attention key bias: softmax ignores a constant shift) from
    float noise into steps of the learning rate's size — one process chunking its batch differently does the same."""
    pytest.importorskip('accelerate')
    if lora: pytest.importorskip('peft')
    extra = ['--sgd'] + (['--lora'] if lora else [])
    two = run(tmp_path/'two', tiny_gpt2, *extra)
    one = run(tmp_path/'one', tiny_gpt2, *extra, procs=1)
    assert [r['world'] for r in two] == [2, 2] and one[0]['world'] == 1
    for a, b in zip(two[0]['rows'], two[1]['rows']): assert a['checksum'] == b['checksum'], a['step']
    w1, w2 = load_file(tmp_path/'one'/'weights0.safetensors'), load_file(tmp_path/'two'/'weights0.safetensors')
    worst = max((w1[k] - w2[k]).abs().max().item() for k in w1)
    assert worst <= 1e-5, worst
    for r2, r1 in zip(two[0]['rows'], one[0]['rows']):
        for k in ('kl', 'mean_scores', 'std_scores', 'kl_coef'): assert abs(r2[k] - r1[k]) <= 1e-5 * max(1, abs(r1[k])), (k, r2, r1)
        assert r2['minibatches'] == r1['minibatches']
    assert (tmp_path/'two'/'ckpt'/'trainer_state.json').exists()        # written once, by the main process

def test_toy_task_in_two_processes(tiny_gpt2, tmp_path):
    "Each process samples and scores its own share: several steps, the weights identical on both after every one."
    pytest.importorskip('accelerate')
    two = run(tmp_path/'toy', tiny_gpt2, '--toy', '--steps', '4')
    for a, b in zip(two[0]['rows'], two[1]['rows']):
        assert a['checksum'] == b['checksum'] and a['kl'] == b['kl'] and a['mean_scores'] == b['mean_scores']
        assert abs(a['mean_scores'] - (a['local_reward'] + b['local_reward']) / 2) < 1e-6   # the global mean of both shares

def test_shell_command_data_parallel(tiny_gpt2, tmp_path):
    "`accelerate launch -m lm_ppo.train`: two processes, one set of files written by the main process."
    pytest.importorskip('accelerate')
    p = subprocess_ok(launch(2, '-m', 'lm_ppo.train', '--quick', '--model', str(tiny_gpt2), '--reward', 'count:the',
                             '--queries', 'bundled', '--out-dir', str(tmp_path/'run')))
    assert p.stdout.count('mean reward, first') == 1 and '2 processes' in p.stdout
    import pandas as pd
    h = pd.read_csv(tmp_path/'run'/'history.csv')
    assert len(h) == 3 and (tmp_path/'run'/'model'/'value_head.safetensors').exists()
