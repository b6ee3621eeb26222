"""One live session per folder, across real processes, and what disks do to a session folder.

- two processes race for one folder: exactly one wins, the other is told who holds it; only the winner's labels are
  in the log, all of them;
- the holder is killed (SIGKILL) half-way through writing a label: the next opener takes the folder over and says from
  whom, the log keeps every whole label, reports the torn line, and the next label starts on a line of its own;
- a real full disk (a small tmpfs; skipped where mounting one is not allowed) during a session's checkpoint: the
  previous checkpoint is whole and loads, the session says so, no label is lost.
"""
import errno, os, signal, subprocess, sys, tempfile, textwrap, warnings
from pathlib import Path

import pytest

from lm_ppo.checkpoint import hold_folder, read_holder, FolderBusy, HOLDER_FILE
from lm_ppo.labels import read_labels, read_log

HOLDER = textwrap.dedent('''
    import os, sys
    from lm_ppo.checkpoint import hold_folder, FolderBusy
    from lm_ppo.labels import Label, log_labels
    folder, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.stdin.readline()                                   # "go": every racer starts at once
    try: hold = hold_folder(folder, what=name)
    except FolderBusy as e:
        print('busy', e, flush=True); sys.exit(0)
    for i in range(n): log_labels(os.path.join(folder, 'labels.jsonl'), [Label.choice(f'{name} {i}', ['a', 'b'], 0, labeller=name)])
    if sys.argv[4:] == ['torn']:                            # killed half-way through the next label
        with open(os.path.join(folder, 'labels.jsonl'), 'ab') as f: f.write(b'{"event": "choice", "query": "half'); f.flush()
    print('won', os.getpid(), flush=True)
    sys.stdin.readline()                                   # "end"
    hold.release()
''')


def _racer(folder, name, n, *extra):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    return subprocess.Popen([sys.executable, '-c', HOLDER, str(folder), name, str(n), *extra], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_two_processes_race_for_a_folder(tmp_path):
    folder = tmp_path/'session'
    racers = [_racer(folder, f'racer{i}', 20) for i in range(2)]
    for p in racers: p.stdin.write('go\n'); p.stdin.flush()
    first = [p.stdout.readline().strip() for p in racers]
    won = [p for p, line in zip(racers, first) if line.startswith('won')]
    lost = [line for line in first if line.startswith('busy')]
    assert len(won) == 1 and len(lost) == 1, (first, [p.stderr.read() for p in racers if p.poll() is not None])
    winner = won[0]
    assert f'process {winner.pid}' in lost[0] and 'since' in lost[0], lost[0]      # the loser is told who holds it
    holder = read_holder(folder)
    assert holder['pid'] == winner.pid
    winner.stdin.write('end\n'); winner.stdin.flush()
    for p in racers: assert p.wait(60) == 0, p.stderr.read()
    labels = read_labels(folder/'labels.jsonl')
    assert len(labels) == 20 and {l.labeller for l in labels} == {holder['what']}     # 0 lost, none from the loser
    assert not (folder/HOLDER_FILE).exists()                                            # let go cleanly


def test_killed_holder_is_taken_over(tmp_path):
    folder = tmp_path/'session'
    victim = _racer(folder, 'victim', 5, 'torn')
    victim.stdin.write('go\n'); victim.stdin.flush()
    line = victim.stdout.readline()
    assert line.startswith('won'), victim.stderr.read()
    with pytest.raises(FolderBusy, match=f'process {victim.pid}'): hold_folder(folder)   # alive: refused
    victim.send_signal(signal.SIGKILL); victim.wait(30)
    hold = hold_folder(folder, what='next opener')                                        # the kernel freed its lock
    try:
        assert hold.took_over['pid'] == victim.pid and hold.took_over['what'] == 'victim'
        assert read_holder(folder)['pid'] == os.getpid()                                  # the note is the new holder's
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            labels = read_labels(folder/'labels.jsonl')
        assert [l.query for l in labels] == [f'victim {i}' for i in range(5)]            # every whole label kept
        assert any('line 6' in str(w.message) and 'cut short' in str(w.message) for w in caught), [str(w.message) for w in caught]
        from lm_ppo.labels import Label, log_labels
        log_labels(folder/'labels.jsonl', [Label.choice('after', ['a', 'b'], 1)])
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            assert [l.query for l in read_labels(folder/'labels.jsonl')][-2:] == ['victim 4', 'after']
            assert read_log(folder/'labels.jsonl').attrs['skipped'] == [6]
    finally: hold.release()


@pytest.fixture
def small_disk(tmp_path):
    "A 3 MiB tmpfs at tmp_path/'disk' (skips where mounting is not allowed)."
    disk = tmp_path/'disk'; disk.mkdir()
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', str(disk)], capture_output=True, text=True)
    if r.returncode: pytest.skip(f'no tmpfs to fill: mount failed ({r.stderr.strip() or r.returncode})')
    try: yield disk
    finally: subprocess.run(['umount', '-l', str(disk)], capture_output=True)


def test_full_disk_during_checkpoint(small_disk, tmp_path):
    import torch
    from transformers import AutoTokenizer
    from lm_ppo.models import build_tiny_gpt2, AutoModelForCausalLMWithValueHead
    from lm_ppo.ppo import PPOTrainer
    from lm_ppo.session import LabelSession
    tiny = build_tiny_gpt2(Path(tempfile.gettempdir())/'lm_ppo_tiny_gpt2')
    tok = AutoTokenizer.from_pretrained(tiny)
    def session(folder):
        torch.manual_seed(0)
        trainer = PPOTrainer(AutoModelForCausalLMWithValueHead.from_pretrained(tiny), tokenizer=tok, mini_batch_size=2,
                             forward_batch_size=2, lr=1e-3)
        return LabelSession(trainer, ['the movie was', 'this film is'], batch_size=2, folder=folder, gen_kwargs=dict(max_new_tokens=4))
    s = session(small_disk/'session')
    s.next_batch(); s.wait(60)
    s.set_reward(0, 1.0); s.set_reward(1, -1.0); s.train(); s.wait(60)
    s.save()                                                   # the first checkpoint fits
    size = sum(p.stat().st_size for p in (small_disk/'session'/'checkpoint').rglob('*') if p.is_file())
    filler = small_disk/'filler'                               # leave less room than one more checkpoint needs
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler.write_bytes(b'\0' * max(free - size // 2, 0))
    s.set_reward(0, -1.0)
    with pytest.raises(RuntimeError, match='No space left on device') as e: s.save()
    assert 'the previous checkpoint (step 1) is unchanged and loads' in str(e.value)
    assert 'unchanged and loads' in s.message and s.error                       # what the page shows
    assert not any(p.name.startswith('.') for p in (small_disk/'session'/'checkpoint').iterdir())
    s.close(); filler.unlink()
    back = session(tmp_path/'elsewhere').load(small_disk/'session'/'checkpoint')
    assert back.trainer.n_steps == 1 and back.batch[0].reward == -1.0            # the label given after the save is back
    back.close()
