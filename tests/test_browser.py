"""The interactive trainer in a real browser: JupyterLab on 127.0.0.1, a demo notebook on a tiny GPT-2, headless Chromium.

Runs with `pytest -m browser tests/test_browser.py`. Needs `jupyterlab` and `playwright` (pip) and Chromium at
/usr/bin/chromium (Debian's `chromium` package) or $CHROMIUM; skips with a message where one is missing.
Screenshots go to $LM_PPO_SCREENSHOT_DIR (default: the test's tmp folder); measured latencies are printed.
"""
import json, os, statistics, sys, time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from browser_util import _missing, _shot, _timed, chromium_page, lab_with_notebook, open_and_run, TIME_UNTIL  # noqa: E402

pytestmark = pytest.mark.browser

BATCH = 16

DEMO_CELL = f"""
import torch
from pathlib import Path
from transformers import AutoTokenizer
from transformers.utils import logging; logging.disable_progress_bar()
from lm_ppo.models import build_tiny_gpt2, AutoModelForCausalLMWithValueHead
from lm_ppo.ppo import PPOTrainer
from lm_ppo.interactive import InteractiveTrainer

path = build_tiny_gpt2(Path('tiny-gpt2'), n_layer=4, n_embd=256, n_head=4)
tok = AutoTokenizer.from_pretrained(path)
torch.manual_seed(0)
trainer = PPOTrainer(AutoModelForCausalLMWithValueHead.from_pretrained(path), tokenizer=tok,
                     ppo_epochs=8, mini_batch_size=4, forward_batch_size=16, lr=1e-4)
texts = ['the movie was', 'this film is', 'i loved the', 'the plot was', 'a bad film', 'what a', 'the actors were',
         'the music', 'a great cast', 'the ending was']
# the third step holds at its start until Cancel is pressed, so the test's Cancel cannot lose a race with a fast step
_step, _steps = trainer.step, []
def held_step(queries, responses, scores, progress=None, cancel=None):
    _steps.append(1)
    if len(_steps) == 3 and progress is not None and cancel is not None:
        shown = progress
        def progress(done, total):
            shown(done, total)
            if done == 0: cancel.wait(120)
    return _step(queries, responses, scores, progress=progress, cancel=cancel)
trainer.step = held_step
ui = InteractiveTrainer(trainer, texts, lambda q, r: torch.tensor([len(x) / 40 for x in r]), batch_size={BATCH},
                        folder='run', mode='manual', gen_kwargs=dict(max_new_tokens=12))
ui
"""


@pytest.fixture
def lab(tmp_path):
    "JupyterLab serving a folder with demo.ipynb, a one-cell notebook that shows the trainer on a tiny GPT-2."
    why = _missing()
    if why: pytest.skip(f'browser test skipped: {why}')
    with lab_with_notebook(tmp_path, 'demo.ipynb', DEMO_CELL) as lab: yield lab


# type into a text box as the browser does on a keystroke (append `text`, fire an `input` event)
TYPE_UNTIL = _timed('sel, text', "const el = document.querySelector(sel); el.value += text; "
                                 "el.dispatchEvent(new Event('input', {bubbles: true}));")


def _status(page): return page.inner_text('.lm-ppo-status')


def _in_view(page, sel):
    "True when the element's top edge is inside the browser window."
    return page.evaluate(f"(() => {{ const r = document.querySelector('{sel}').getBoundingClientRect(); "
                         f"return r.top >= 0 && r.top < window.innerHeight; }})()")


def test_browser_label_train_and_responsiveness(lab, tmp_path):
    from playwright.sync_api import expect
    shots = Path(os.environ.get('LM_PPO_SCREENSHOT_DIR') or tmp_path/'screenshots'); shots.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    report = {}
    with chromium_page(1300, 3000, 60_000) as page:
        open_and_run(page, lab, 'demo.ipynb')
        page.wait_for_selector('.lm-ppo-ui', timeout=90_000)
        status = page.locator('.lm-ppo-status')
        expect(status).to_contain_text(f'0 of {BATCH} labelled by you', timeout=90_000)
        assert page.locator('.lm-ppo-card:visible').count() == BATCH
        _shot(page, shots/'interactive-batch.png')

        # label the batch as a person would: a button, a typed value, keys, then accept the rest
        t0 = time.perf_counter()
        page.locator('.lm-ppo-card-0 .lm-ppo-rewards button', has_text='+1').click()
        expect(status).to_contain_text(f'1 of {BATCH} labelled by you')
        number = page.locator('.lm-ppo-card-1 input[type="text"]')
        number.fill('99'); number.press('Enter')                           # off the scale: a red note, no change
        expect(page.locator('.lm-ppo-note')).to_contain_text('card 2 should be between -1 and +1')
        number.fill('-0.5'); number.press('Enter')
        expect(status).to_contain_text(f'2 of {BATCH} labelled by you')
        expect(page.locator('.lm-ppo-note')).to_have_text('')                  # the stale note is gone
        keys = page.locator('.lm-ppo-keys input')
        keys.click()
        keys.press_sequentially('3' * 6 + '1' * 3 + 's', delay=60)     # +1 six times, -1 three times, one skip
        expect(status).to_contain_text(f'12 of {BATCH} labelled by you (1 skipped)')
        page.get_by_role('button', name='Accept all').click()
        expect(status).to_contain_text(f'12 of {BATCH} labelled by you (1 skipped), 4 suggested')
        report['label_16_s'] = round(time.perf_counter() - t0, 2)
        expect(page.locator('.lm-ppo-card-0 .lm-ppo-rewards button.mod-active')).to_have_text('+1')
        png_before = page.get_attribute('.lm-ppo-plot', 'src')

        # train: the next batch comes first (label ahead), then the step runs while it can be labelled
        t0 = time.perf_counter()
        page.click('.lm-ppo-train')
        expect(status).to_contain_text('training', timeout=60_000)
        report['next_batch_ready_s'] = round(time.perf_counter() - t0, 2)
        expect(status).to_contain_text(f'0 of {BATCH} labelled by you')
        expect(status).to_contain_text('from the policy before step 1')
        expect(page.locator('.lm-ppo-progress-text')).to_contain_text('training step 1')
        page.locator('.lm-ppo-card-0 .lm-ppo-rewards button', has_text='+1').click()   # labelled during the update
        expect(status).to_contain_text(f'1 of {BATCH} labelled by you')
        toggle_ms, pending_ms = [], []
        past = '.lm-ppo-show-past'
        visible = "return getComputedStyle(document.querySelector('.lm-ppo-table').parentElement).display !== 'none'"
        hidden = "return getComputedStyle(document.querySelector('.lm-ppo-table').parentElement).display === 'none'"
        n = 0
        while 'training' in _status(page) and (len(toggle_ms) < 8 or len(pending_ms) < 4) and n < 40:
            ms = page.evaluate(TIME_UNTIL, [past, visible if n % 2 == 0 else hidden])
            if ms >= 0 and 'training' in _status(page): toggle_ms.append(ms)
            count = f"return document.querySelector('.lm-ppo-pending-count').innerText.startsWith('{n + 1} quer')"
            ms = page.evaluate(TYPE_UNTIL, ['.lm-ppo-pending textarea', 'x' if n == 0 else '\nx', count])
            if ms >= 0 and 'training' in _status(page): pending_ms.append(ms)
            n += 1
        report['toggle_roundtrip_ms'] = [round(x, 1) for x in toggle_ms]
        if toggle_ms: report['toggle_median_ms'] = round(statistics.median(toggle_ms), 1)
        report['typed_query_roundtrip_ms'] = [round(x, 1) for x in pending_ms]
        _shot(page, shots/'interactive-training.png')

        # the update ends: stats and plot; the labels given during it are kept
        expect(page.locator('.lm-ppo-stats')).to_contain_text('step 1', timeout=120_000)
        report['train_click_to_step_done_s'] = round(time.perf_counter() - t0, 2)
        expect(status).to_contain_text('idle')
        expect(status).to_contain_text(f'1 of {BATCH} labelled by you')
        assert page.get_attribute('.lm-ppo-plot', 'src') != png_before
        if page.locator('.lm-ppo-table').is_hidden(): page.click(past)
        expect(page.locator('.lm-ppo-table')).to_contain_text('Batch 1')
        # a second round with the keyboard only: accept every suggestion (the focus moves on by itself), train
        keys.click(); keys.press_sequentially('a' * (BATCH - 1) + 't', delay=30)
        expect(page.locator('.lm-ppo-stats')).to_contain_text('step 2', timeout=120_000)
        expect(page.locator('.lm-ppo-card-0')).to_contain_text('x')            # the typed queries came first
        # the keys box kept the focus across the step: typing goes on without a click
        assert page.evaluate("document.activeElement.closest('.lm-ppo-keys') !== null")
        page.keyboard.type('3')
        expect(status).to_contain_text(f'1 of {BATCH} labelled by you')
        _shot(page, shots/'interactive.png')
        # cancel a step: the weights stay, the batch comes back with its labels
        page.keyboard.type('a' * (BATCH - 1))
        expect(status).to_contain_text(f'{BATCH} of {BATCH} labelled by you')
        page.click('.lm-ppo-train')
        expect(page.locator('.lm-ppo-progress-text')).to_contain_text('training step 3', timeout=60_000)
        t0 = time.perf_counter()
        page.click('.lm-ppo-cancel')
        expect(status).to_contain_text('cancelled', timeout=30_000)
        report['cancel_s'] = round(time.perf_counter() - t0, 2)
        expect(status).to_contain_text(f'{BATCH} of {BATCH} labelled by you')
        expect(status).to_contain_text('idle')
        expect(page.locator('.lm-ppo-train')).to_be_enabled()
        expect(page.locator('.lm-ppo-stats')).to_contain_text('step 2')
        # compact: on an ordinary screen the toolbar and the curve are in view with all 16 cards
        page.set_viewport_size({'width': 1300, 'height': 1000})
        page.locator('.lm-ppo-ui').evaluate('e => e.scrollIntoView()')
        assert _in_view(page, '.lm-ppo-train') and _in_view(page, '.lm-ppo-plot'), 'toolbar or curve off screen'
        page.screenshot(path=str(shots/'interactive-screen.png'))
    log = [json.loads(l) for l in (lab['root']/'run'/'labels.jsonl').read_text().splitlines()]
    sub = [r for r in log if r['event'] == 'submit']
    assert len(sub) == 3 * BATCH and [r['reward'] for r in sub[:2]] == [1.0, -0.5]
    assert sum(r['skipped'] for r in sub) == 1 and [r['event'] for r in log].count('step') == 2
    assert [r['source'] for r in sub[BATCH:2 * BATCH]] == ['human'] + ['accepted'] * (BATCH - 1)
    assert [r['event'] for r in log].count('cancel') == 1
    report['total_s'] = round(time.time() - t_start, 1)
    print('\nbrowser test report:', json.dumps(report))
    (shots/'report.json').write_text(json.dumps(report, indent=1))
    # the widgets answered while the update ran (how fast is measured and reported above, not asserted: a busy
    # machine is slow without anything being wrong)
    assert len(toggle_ms) >= 3, f'the update ended before enough measurements: {report}'
