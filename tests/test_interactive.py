"Headless tests of the interactive trainer: the widgets are driven directly (values set, buttons clicked), no browser."
import threading, time

import pytest
import torch

pytest.importorskip('ipywidgets')
from transformers import AutoTokenizer

from lm_ppo.interactive import InteractiveTrainer, LabelSession, read_log
from lm_ppo.models import AutoModelForCausalLMWithValueHead
from lm_ppo.ppo import PPOTrainer

TEXTS = ['the movie was', 'this film is', 'i loved the', 'the plot was', 'a bad film', 'what a', 'the actors were']


def length_reward(queries, responses): return torch.tensor([len(r) / 20 for r in responses])


def make_trainer(path, **cfg):
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLMWithValueHead.from_pretrained(path)
    return PPOTrainer(model, tokenizer=tok, **{'ppo_epochs': 1, 'mini_batch_size': 4, 'forward_batch_size': 4, 'lr': 1e-3, **cfg})


@pytest.fixture
def ui(tiny_gpt2, tmp_path):
    ui = InteractiveTrainer(make_trainer(tiny_gpt2), TEXTS, length_reward, batch_size=4, folder=tmp_path/'run',
                            mode='manual', gen_kwargs=dict(max_new_tokens=6))
    assert ui.wait(60)
    yield ui
    ui.session.stop(); ui.wait(60)


def label_all(ui, value=1.0):
    for c in ui.cards[:len(ui.session.batch)]: c.buttons.value = value


class CountingStep:
    "Wraps trainer.step: counts calls, records batch sizes, can hold the update open until released."
    def __init__(self, trainer, hold=False):
        self.trainer, self.real, self.calls = trainer, trainer.step, []
        self.started, self.release = threading.Event(), threading.Event()
        if not hold: self.release.set()
        trainer.step = self

    def __call__(self, queries, responses, scores):
        self.calls.append(list(scores))
        self.started.set()
        assert self.release.wait(30)
        return self.real(queries, responses, scores)


def test_labelled_batch_gives_exactly_one_step(ui):
    s = ui.session
    counter = CountingStep(s.trainer)
    png = ui.plot.value
    ui.cards[0].buttons.value = 1.0
    ui.cards[1].number.value = '-0.25'
    ui.cards[2].buttons.value = 0.0
    ui.cards[3].skip.value = True
    ui.train_button.click()
    assert ui.wait(60)
    assert counter.calls == [[1.0, -0.25, 0.0]]          # skipped card left out
    assert s.trainer.n_steps == 1 and len(s.history) == 1
    assert ui.plot.value != png and ui.plot.value[:4] == b'\x89PNG'
    assert 'step <b>1</b>' in ui.stats.value
    assert s.batch_id == 1 and all(it.reward is None for it in s.batch)   # the next batch is up, unlabelled


def test_label_log_has_the_rows(ui):
    s = ui.session
    first = list(s.batch)
    label_all(ui, 1.0)
    ui.cards[2].buttons.value = -1.0
    ui.train_button.click(); ui.wait(60)
    sub = read_log(s.log_path, 'submit')
    assert len(sub) == 4
    assert sub['query'].tolist() == [it.query for it in first]
    assert sub['response'].tolist() == [it.response for it in first]
    assert sub['reward'].tolist() == [1.0, 1.0, -1.0, 1.0]
    assert set(sub['source']) == {'human'} and (sub['step'] == 1).all()
    assert {'time', 'suggestion', 'skipped', 'batch'} <= set(sub.columns)
    log = read_log(s.log_path)
    assert log.index[log.event == 'step'][0] > log.index[log.event == 'submit'].max()
    labels = log[log.event == 'label']
    assert len(labels) == 5 and labels['reward'].tolist()[-1] == -1.0     # every click is on disk too


def test_skip_and_undo(ui):
    s = ui.session
    ui.cards[0].buttons.value = 1.0
    ui.cards[1].skip.value = True
    assert s.batch[1].skipped and ui.cards[1].buttons.value is None
    ui.undo_button.click()
    assert not s.batch[1].skipped and not ui.cards[1].skip.value
    ui.undo_button.click()
    assert s.batch[0].reward is None and ui.cards[0].buttons.value is None
    ui.undo_button.click()                                # nothing left to undo: no change, no error
    assert s.n_done == 0
    ui.keys.value = '3'; ui.keys.value = '31'; ui.keys.value = '31s'   # keyboard: +1, -1, skip on successive cards
    assert [(it.reward, it.skipped) for it in s.batch[:3]] == [(1.0, False), (-1.0, False), (None, True)]
    ui.keys.value = '31su'
    assert not s.batch[2].skipped
    ui.accept_button.click()
    assert [it.source for it in s.batch] == ['human', 'human', 'suggested', 'suggested']


def test_train_refuses_unlabelled_batch(ui):
    ui.cards[0].buttons.value = 1.0
    ui.train_button.click()
    assert 'no reward yet' in ui.status.value and ui.session.phase == 'idle'
    assert len(read_log(ui.session.log_path, 'submit')) == 0


def test_second_click_and_edits_during_update_are_ignored(ui):
    s = ui.session
    counter = CountingStep(s.trainer, hold=True)
    label_all(ui, 1.0)
    ui.train_button.click()
    assert counter.started.wait(30)
    assert s.phase == 'training'
    assert ui.train_button.disabled and ui.cards[0].buttons.disabled and ui.undo_button.disabled
    t0 = time.perf_counter()
    ui.train_button.click()                               # refused at once, not queued
    ui.cards[0].buttons.value = -1.0                      # a stale click from the browser: reverted
    s.set_reward(1, -1.0)
    assert time.perf_counter() - t0 < 0.5
    assert ui.cards[0].buttons.value == 1.0 and s.batch[0].reward == 1.0
    assert not ui.pending.disabled and not ui.show_past.disabled     # what does not touch the batch stays usable
    ui.pending.value = 'typed during the update'
    assert '1 query queued' in ui.pending_count.value
    counter.release.set()
    assert ui.wait(60)
    assert counter.calls == [[1.0] * 4] and s.trainer.n_steps == 1
    assert s.ignored >= 2
    assert s.batch[0].query == 'typed during the update'


def test_worker_error_shows_and_recovers(ui):
    s = ui.session
    real = s.trainer.step
    def boom(*a): raise RuntimeError('out of cheese')
    s.trainer.step = boom
    label_all(ui, 0.0)
    ui.train_button.click(); ui.wait(60)
    assert ui.error_box.layout.display == 'flex'
    assert 'out of cheese' in ui.error_html.value and 'Traceback' in ui.error_html.value
    assert s.phase == 'idle' and not ui.train_button.disabled and s.n_done == 4     # labels kept
    assert len(read_log(s.log_path, 'error')) == 1
    s.trainer.step = real
    ui.dismiss_button.click()
    assert ui.error_box.layout.display == 'none'
    ui.train_button.click(); ui.wait(60)
    assert s.error is None and s.trainer.n_steps == 1


def test_save_resume_restores_the_session(ui, tiny_gpt2, tmp_path):
    s = ui.session
    for value in (1.0, -1.0):
        label_all(ui, value); ui.train_button.click(); ui.wait(60)
    ui.cards[0].buttons.value = 1.0                       # a half-labelled batch survives too
    ui.save_button.click()
    assert 'saved to' in ui.status.value
    folder = s.folder/'checkpoint'
    ui2 = InteractiveTrainer(make_trainer(tiny_gpt2), TEXTS, length_reward, batch_size=4, folder=tmp_path/'run2',
                             gen_kwargs=dict(max_new_tokens=6), start=False)
    ui2.session.load(folder)
    s2 = ui2.session
    assert s2.trainer.n_steps == 2 and s2.trainer.kl_ctl.value == s.trainer.kl_ctl.value
    assert s2.history == s.history and s2.table().equals(s.table())
    assert [(it.response, it.reward) for it in s2.batch] == [(it.response, it.reward) for it in s.batch]
    assert ui2.cards[0].buttons.value == 1.0 and ui2.plot.value == ui.plot.value
    sd1, sd2 = s.trainer.optimizer.state_dict()['state'], s2.trainer.optimizer.state_dict()['state']
    assert all(torch.equal(sd1[k]['exp_avg'], sd2[k]['exp_avg']) for k in sd1)
    assert all(torch.equal(a, b) for a, b in zip(s.trainer.model.parameters(), s2.trainer.model.parameters()))
    # both continue identically: same labels, same step
    for u in (ui, ui2):
        label_all(u, 1.0); u.train_button.click(); u.wait(60)
    assert s2.history[-1]['kl'] == pytest.approx(s.history[-1]['kl'], abs=1e-6)


def test_auto_mode_with_pause_and_stop(ui):
    s = ui.session
    ui.auto_steps.value = 2
    ui.cards[0].buttons.value = -1.0                      # mixed: the person's label is kept
    ui.auto_button.click(); ui.wait(120)
    assert s.trainer.n_steps == 2
    t = s.table()
    assert t[t.step == 1].source.tolist() == ['human', 'auto', 'auto', 'auto']
    assert ui.progress.layout.display == 'none' and ui.pause_button.disabled
    s.run_auto(5, paused=True)
    deadline = time.time() + 30
    while s.phase != 'paused' and time.time() < deadline: time.sleep(0.01)
    assert s.phase == 'paused' and not ui.cards[0].buttons.disabled and not ui.stop_button.disabled
    ui.stop_button.click(); ui.wait(60)
    assert s.trainer.n_steps == 2 and 'stopped' in s.message


def test_session_needs_no_widgets(tiny_gpt2, tmp_path):
    "The state object works on its own (another front end could use it)."
    s = LabelSession(make_trainer(tiny_gpt2), TEXTS, None, batch_size=3, folder=tmp_path, gen_kwargs=dict(max_new_tokens=4))
    events = []
    s.subscribe(lambda e, _: events.append(e))
    s.next_batch(); s.wait(60)
    for i in range(3): s.set_reward(i, 1.0)
    s.train(); s.wait(60)
    assert s.trainer.n_steps == 1 and {'phase', 'batch', 'label', 'step'} <= set(events)
    assert not s.listener_errors
