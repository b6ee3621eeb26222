"""Helpers shared by the real-browser tests: JupyterLab on 127.0.0.1 with a token, headless Chromium, timing in the page.

Needs `jupyterlab` and `playwright` (pip) and Chromium at /usr/bin/chromium (Debian's `chromium` package) or $CHROMIUM;
`missing()` says what is missing so that a test can skip with a message.
"""
import contextlib, importlib.util, json, os, secrets, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path

CHROMIUM = os.environ.get('CHROMIUM') or shutil.which('chromium') or '/usr/bin/chromium'
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                 '--no-first-run', '--disable-sync', '--disable-dev-shm-usage']
def _missing(extra=()):
    if not (Path(CHROMIUM).exists() and os.access(CHROMIUM, os.X_OK)):
        return f'no Chromium at {CHROMIUM} (apt-get install -y chromium, or set $CHROMIUM)'
    for mod, pkg in (('playwright', 'playwright'), ('jupyterlab', 'jupyterlab'), ('ipywidgets', 'ipywidgets'),
                     ('jupyterlab_widgets', 'jupyterlab_widgets'), ('nbformat', 'nbformat'), *extra):
        if importlib.util.find_spec(mod) is None: return f'the Python package {pkg} is not installed (pip install {pkg})'
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_lab(root, work):
    "A JupyterLab server on a free port of 127.0.0.1 with a token, serving `root`; its settings and log in `work`."
    work = Path(work)
    notes = work/'settings'/'@jupyterlab'/'apputils-extension'
    notes.mkdir(parents=True, exist_ok=True)
    (notes/'notification.jupyterlab-settings').write_text(json.dumps({'fetchNews': 'false', 'checkForUpdates': False}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, 'JUPYTERLAB_SETTINGS_DIR': str(work/'settings'), 'JUPYTERLAB_WORKSPACES_DIR': str(work/'ws'),
           'JUPYTER_RUNTIME_DIR': str(work/'runtime'), 'HF_HUB_OFFLINE': '1', 'PYTHONUNBUFFERED': '1'}
    log = open(work/'lab.log', 'w')
    proc = subprocess.Popen([sys.executable, '-m', 'jupyterlab', '--no-browser', '--ServerApp.ip=127.0.0.1',
                             f'--ServerApp.port={port}', '--ServerApp.port_retries=0', f'--IdentityProvider.token={token}',
                             f'--ServerApp.root_dir={root}', '--allow-root', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
                             '--LabApp.news_url=None', '--LabApp.extension_manager=readonly'],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f'{url}/api/status?token={token}', timeout=2): break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f'JupyterLab did not start:\n{(work/"lab.log").read_text()[-3000:]}')
                time.sleep(0.3)
        yield dict(url=url, token=token, root=Path(root))
    finally:
        proc.terminate()
        try: proc.wait(15)
        except subprocess.TimeoutExpired: proc.kill()
        log.close()


def open_and_run(page, lab, name):
    "Open notebook `name`, wait for its kernel, and run all its cells."
    page.goto(f"{lab['url']}/lab/tree/{name}?token={lab['token']}")
    page.wait_for_selector('.jp-Notebook .jp-Cell', timeout=90_000)
    page.wait_for_selector('.jp-StatusBar-Widget:has-text("| Idle")', timeout=90_000)   # the kernel is connected
    page.wait_for_timeout(500)
    cells = page.locator('.jp-Notebook .jp-Cell')
    cells.first.locator('.jp-InputPrompt').click()           # select the first cell
    for _ in range(cells.count()):                           # Shift+Enter runs a cell and selects the next
        page.keyboard.press('Shift+Enter')
        page.wait_for_timeout(100)


def launch(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


@contextlib.contextmanager
def chromium_page(width, height, timeout_ms=120_000):
    "A page of headless Chromium, `width` × `height`, whose waits (and playwright's `expect`) give up after `timeout_ms`."
    from playwright.sync_api import sync_playwright, expect
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={'width': width, 'height': height})
            page.set_default_timeout(timeout_ms)
            expect.set_options(timeout=timeout_ms)
            yield page
        finally:
            browser.close()


@contextlib.contextmanager
def lab_with_notebook(tmp_path, name, source):
    "JupyterLab (`running_lab`) serving a folder that holds the notebook `name`: one code cell, `source`."
    import nbformat
    root = Path(tmp_path)/'lab'; root.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source.strip())])
    nb.metadata['kernelspec'] = dict(name='python3', display_name='Python 3 (ipykernel)', language='python')
    nbformat.write(nb, root/name)
    with running_lab(root, tmp_path) as lab: yield lab


# JavaScript run in the page: do one action, then time until a condition on the page holds (checked every frame).
def _timed(args, action):
    return f"""async ([{args}, cond]) => {{
  const t0 = performance.now();
  {action}
  const check = new Function(cond);
  while (!check()) {{
    if (performance.now() - t0 > 5000) return -1;
    await new Promise(r => requestAnimationFrame(r));
  }}
  return performance.now() - t0;
}}"""

# click an element
TIME_UNTIL = _timed('clickSel', "document.querySelector(clickSel).click();")


def _shot(page, path):
    "Screenshot of the whole widget (the notebook scrolls inside JupyterLab, so the viewport is made tall enough)."
    ui = page.locator('.lm-ppo-ui')
    ui.scroll_into_view_if_needed()
    box = ui.bounding_box()
    page.screenshot(path=str(path), clip=dict(x=box['x'], y=box['y'], width=box['width'], height=min(box['height'], 2800)))



missing, free_port, shot = _missing, _free_port, _shot
