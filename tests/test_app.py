"""`lm_ppo label` in a real browser: the console script serves the labelling app with Voila; headless Chromium labels.

Starts `lm_ppo label --model tiny --queries FILE --folder TMP --port FREE --no-browser` in its own process group, waits
for the HTTP server, opens the page, takes two comparisons (a key press through anywidget's key listener, a click),
then opens a second page on the same folder: it is told who holds the folder and since when, with the label count
read-only. The first page switches to the rate style and rates two cards (a key, a click), skips the rest and trains
one step; then it is closed, and the second page's "Try again" opens the trainer there, which takes one more
comparison; reloaded, that page is the trainer again (its old kernel let go of the folder). `TMP/labels.jsonl` holds every choice and rating of both pages. The server is stopped by its process group.

`test_token_beyond_loopback` serves on this machine's own non-loopback address: a request without the token is
refused, the token printed in the URL lets it in; a second `lm_ppo label` on the same folder exits, naming the first.

Runs with `pytest -m browser tests/test_app.py`. Needs Voila and anywidget (the `app` extra) besides what
tests/test_browser.py needs; skips with a message where one is missing.
"""
import contextlib, os, re, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from browser_util import _free_port, _missing, chromium_page  # noqa: E402

QUERIES = ['the movie was', 'this film is', 'i loved the', 'the plot was', 'a bad film', 'what a', 'the actors were', 'the ending was']
BATCH = 8


@contextlib.contextmanager
def serving(tmp_path, *args, ip='127.0.0.1'):
    "`lm_ppo label` on a free port of `ip`, in its own process group; yields (url printed, folder, proc); stopped after."
    exe = shutil.which('lm_ppo', path=str(Path(sys.executable).parent)) or shutil.which('lm_ppo')
    cmd = [exe] if exe else [sys.executable, '-c', 'import sys; from lm_ppo.app import main; sys.exit(main())']
    (tmp_path/'queries.txt').write_text('\n'.join(QUERIES) + '\n')
    folder, port = tmp_path/'labels', _free_port()
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '1'),
           'JUPYTER_RUNTIME_DIR': str(tmp_path/'runtime')}
    env.pop('JUPYTER_TOKEN', None)
    log = open(tmp_path/'app.log', 'w')
    proc = subprocess.Popen(cmd + ['label', '--model', 'tiny', '--queries', str(tmp_path/'queries.txt'), '--folder', str(folder),
                                   '--port', str(port), '--ip', ip, '--no-browser', '--batch-size', str(BATCH),
                                   '--max-new-tokens', '8', *args],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f'http://{ip}:{port}/'
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(base + 'api/status', timeout=2): break
            except urllib.error.HTTPError: break                    # the server answers
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f'lm_ppo label did not start:\n{(tmp_path/"app.log").read_text()[-3000:]}')
                time.sleep(0.3)
        printed = re.search(r' at (http://\S+) ', (tmp_path/'app.log').read_text()).group(1)
        yield printed, folder, proc
    finally:
        try: os.killpg(proc.pid, signal.SIGINT)                      # Ctrl-C to the whole group: lm_ppo, voila, the kernel
        except ProcessLookupError: pass
        try: proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL); proc.wait(10)
        log.close()


@pytest.fixture
def app(tmp_path):
    "The app served by `lm_ppo label` on a free port of 127.0.0.1; yields (url, folder, proc)."
    why = _missing(extra=(('voila', 'voila'), ('anywidget', 'anywidget')))
    if why: pytest.skip(f'browser test skipped: {why}')
    with serving(tmp_path) as (url, folder, proc): yield url, folder, proc


@pytest.mark.browser
def test_label_app_in_voila(app, tmp_path):
    from playwright.sync_api import expect
    from lm_ppo.checkpoint import hold_folder, read_holder
    from lm_ppo.labels import read_labels
    url, folder, proc = app
    t0 = time.time()
    timings = {}
    with chromium_page(1200, 1800) as page:
        errors = []
        page.on('pageerror', lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector('.lm-ppo-compare')
        timings['page_s'] = round(time.time() - t0, 1)
        counts = page.locator('.lm-ppo-compare-counts')
        expect(counts).to_have_text(f'0 of {BATCH} answered')
        # anywidget's key listener made it into the page: the trainer is focusable and its legend is shown
        listener = page.locator('.lm-ppo-keys-listener')
        expect(listener).to_contain_text('click here for keys')
        page.locator('.lm-ppo-compare-query').click()
        expect(listener).to_contain_text('keys on')
        assert page.evaluate("document.activeElement.classList.contains('lm-ppo-ui')")
        first = page.locator('.lm-ppo-option-1 .lm-ppo-option-text').text_content()
        page.keyboard.press('2')                                              # a key: response 2 is the best
        expect(counts).to_have_text(f'1 of {BATCH} answered')
        expect(page.locator('.lm-ppo-compare-last')).to_contain_text('you picked 2')
        second = page.locator('.lm-ppo-option-0 .lm-ppo-option-text').text_content()
        page.locator('.lm-ppo-option-0 button', has_text='1 · best').click()  # a click: response 1
        expect(counts).to_have_text(f'2 of {BATCH} answered')
        expect(page.locator('.lm-ppo-compare-last')).to_contain_text('you picked 1')
        page.screenshot(path=str(tmp_path/'app-compare.png'))

        # a second page on the same folder (a second tab, a second labeller): told who holds it and since when
        t1 = time.time()
        page2 = page.context.browser.new_page(viewport={'width': 1200, 'height': 1800})   # another labeller's browser
        page2.set_default_timeout(120_000)
        page2.on('pageerror', lambda e: errors.append(str(e)))
        page2.goto(url)
        who = page2.locator('.lm-ppo-busy-holder')
        holder = read_holder(folder)
        expect(who).to_contain_text(f"process {holder['pid']} (lm_ppo label, {url}), since ")
        expect(who).to_contain_text(f"{holder['user']}@{holder['host']}")
        expect(page2.locator('.lm-ppo-busy-log')).to_contain_text('2 choices')       # the log, read-only
        assert page2.locator('.lm-ppo-compare').count() == 0 and page2.locator('.lm-ppo-ui').count() == 0
        timings['second_page_s'] = round(time.time() - t1, 1)
        page2.screenshot(path=str(tmp_path/'app-busy.png'))

        # the rate style: the cards; one rated by a key, one by a click, the rest skipped by keys; one PPO step
        page.bring_to_front()
        page.get_by_role('button', name='rate', exact=True).click()
        expect(page.locator('.lm-ppo-compare')).to_be_hidden()
        status = page.locator('.lm-ppo-status')
        expect(status).to_contain_text(f'0 of {BATCH} labelled by you')
        expect(status).to_contain_text('idle')                               # the batch is on the page
        page.locator('.lm-ppo-status').click()                                 # focus on the trainer again (not on a box)
        page.keyboard.press('3')                                               # card 1: +1
        expect(status).to_contain_text(f'1 of {BATCH} labelled by you')
        page.locator('.lm-ppo-card-1 .lm-ppo-rewards button', has_text='−1').click()
        expect(status).to_contain_text(f'2 of {BATCH} labelled by you')
        page.locator('.lm-ppo-status').click()
        for _ in range(BATCH - 2): page.keyboard.press('s')
        expect(status).to_contain_text(f'{BATCH} of {BATCH} labelled by you ({BATCH - 2} skipped)')
        timings['labels_s'] = round(time.time() - t1 - timings['second_page_s'], 1)
        page.keyboard.press('t')
        expect(page.locator('.lm-ppo-stats')).to_contain_text('step 1')
        page.screenshot(path=str(tmp_path/'app-rate.png'))

        # the second page refreshes its read-only look, then the first labeller leaves: Voila ends that page's kernel,
        # which lets go of the folder; "Try again" opens the trainer in the second page, which answers one more
        page2.bring_to_front()
        page2.locator('.lm-ppo-busy-refresh').click()
        expect(page2.locator('.lm-ppo-busy-log')).to_contain_text('2 ratings')
        t2 = time.time()
        page.goto('about:blank')                               # leaving the page: Voila's beacon shuts its kernel down
        hold_folder(folder, wait=90).release()                 # waits (on the lock) for the first page's kernel to end
        page2.locator('.lm-ppo-busy-retry').click()
        counts2 = page2.locator('.lm-ppo-compare-counts')
        expect(counts2).to_have_text(f'0 of {BATCH} answered')
        timings['take_over_s'] = round(time.time() - t2, 1)
        third = page2.locator('.lm-ppo-option-0 .lm-ppo-option-text').text_content()
        page2.locator('.lm-ppo-option-0 button', has_text='1 · best').click()
        expect(counts2).to_have_text(f'1 of {BATCH} answered')
        assert read_holder(folder)['pid'] != holder['pid']
        page2.screenshot(path=str(tmp_path/'app-second.png'))
        # the labeller reloads the page: its old kernel is shut down by the unload beacon and lets go of the folder,
        # the new one waits for it (labelling_app's `wait`), so the reloaded page is the trainer, not the busy page
        t3 = time.time()
        page2.reload()
        page2.wait_for_selector('.lm-ppo-ui, .lm-ppo-busy')                 # the trainer, or the busy page
        assert page2.locator('.lm-ppo-busy').count() == 0 and page2.locator('.lm-ppo-ui').count() == 1
        timings['reload_s'] = round(time.time() - t3, 1)
        assert not errors, f'errors in the page: {errors}'
    labels = read_labels(folder/'labels.jsonl')
    choices = [l for l in labels if l.kind == 'choice']
    ratings = [l for l in labels if l.kind == 'rating']
    assert [c.label for c in choices] == [[1], [0], [0]], choices            # both pages' answers, none lost
    assert choices[0].responses[1] == first.lstrip('…').replace('⏎ ', '\n') or choices[0].responses[1].strip() in first
    assert choices[1].responses[0] == second.lstrip('…').replace('⏎ ', '\n') or choices[1].responses[0].strip() in second
    assert choices[2].responses[0] == third.lstrip('…').replace('⏎ ', '\n') or choices[2].responses[0].strip() in third
    assert sorted(r.label for r in ratings) == [-1.0, 1.0], ratings
    assert proc.poll() is None, 'the server stopped on its own'
    print(f'\napp test: {timings} · {time.time() - t0:.1f} s in the browser; {len(choices)} choices, {len(ratings)} ratings in {folder/"labels.jsonl"}')


def _own_address():
    "An address of this machine that is not loopback (None if it has none)."
    import ipaddress
    try: out = subprocess.run(['hostname', '-I'], capture_output=True, text=True, timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError): out = []
    for a in out:
        ip = ipaddress.ip_address(a)
        if ip.version == 4 and not ip.is_loopback: return a
    return None


def _status(url):
    "The HTTP status of a GET of `url`, redirects not followed."
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k): return None
    try:
        with urllib.request.build_opener(NoRedirect).open(url, timeout=60) as r: return r.status, r.headers
    except urllib.error.HTTPError as e: return e.code, e.headers


def test_token_beyond_loopback(tmp_path):
    """Served on a non-loopback address: refused without the token (page and API), let in with the token printed in
    the URL; a second `lm_ppo label` on the folder is refused."""
    import importlib.util
    if importlib.util.find_spec('voila') is None: pytest.skip('needs Voila (the app extra)')
    ip = _own_address()
    if ip is None: pytest.skip('this machine has no non-loopback address to serve on')
    with serving(tmp_path, ip=ip) as (printed, folder, proc):
        base, _, token = printed.partition('?token=')
        assert base.startswith(f'http://{ip}:') and len(token) >= 32, printed
        kernel = base + 'api/kernels/' + '0' * 8 + '-0000-0000-0000-' + '0' * 12
        for url in (base, base + '?token=' + 'x' * len(token), kernel):  # the page, a wrong token, the kernel API
            code, headers = _status(url)
            assert code == 403 or (code == 302 and '/login' in headers['Location']), (url, code)
        assert _status(kernel + '?token=' + token)[0] == 404              # with the token: let in (no such kernel)
        assert token not in (folder/'label_app.ipynb').read_text()       # the token is written nowhere in the folder
        # a second `lm_ppo label` on the same folder is refused, told where the folder is served
        exe = shutil.which('lm_ppo', path=str(Path(sys.executable).parent)) or shutil.which('lm_ppo')
        cmd = [exe] if exe else [sys.executable, '-c', 'import sys; from lm_ppo.app import main; sys.exit(main())']
        second = subprocess.run(cmd + ['label', '--model', 'tiny', '--folder', str(folder), '--port', str(_free_port())],
                                capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert second.returncode == 1 and f'is served by' in second.stderr and base in second.stderr, second.stderr[-2000:]
