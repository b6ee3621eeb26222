"""Build the documentation site into `_site/` offline, from the notebooks and the markdown pages in `nbs/`.

    python docs/build_site.py              # build (processed notebooks are cached in _proc/site/), then check
    python docs/build_site.py --no-check   # build only
    python -m http.server -d _site         # browse it

Each notebook goes through nbdev's own processing (`docs/nbproc.py`: `show_doc` for exported names, `#| hide`,
`#| export`, `#| echo: false`, ...) with its saved outputs (nothing heavy is executed: only imports, exported cells and
`show_doc`, as `nbdev_docs` does), then nbconvert's HTML exporter; this script adds the sidebar, the page contents,
MathML for the TeX (no network needed to read the site) and links between pages. It then checks, and exits 1 on:
a page that does not render, an exported public name (a module's `__all__`) without a docstring or without its
entry on its module's page, and a broken internal link. Names with no example on their page are listed as warnings.
"""
import sys, os, re, json, hashlib, shutil, html, warnings, argparse, importlib, inspect, traceback
from pathlib import Path
from concurrent.futures import ProcessPoolExecutor
from urllib.parse import urlsplit, unquote

ROOT = Path(__file__).resolve().parents[1]
NBS, SITE, CACHE, DOCS = ROOT / 'nbs', ROOT / '_site', ROOT / '_proc' / 'site', ROOT / 'docs'
sys.path.insert(0, str(DOCS))
SECTIONS = ('Guides', 'Library', 'Examples')

# ---------------------------------------------------------------- pages
def read_frontmatter(text):
    "YAML frontmatter of a markdown page as a dict, and the rest of the text"
    m = re.match(r'^---\s*\n(.*?)\n---\s*\n', text, re.S)
    if not m: return {}, text
    import yaml
    return (yaml.safe_load(m.group(1)) or {}), text[m.end():]

def page_list():
    "Every page: `index.ipynb`, markdown guides, library notebooks (with `default_exp`), example notebooks"
    pages = []
    for p in sorted(NBS.glob('*.ipynb')) + sorted(NBS.glob('*.md')):
        if p.name.startswith(('_', '.')): continue
        if p.suffix == '.md':
            fm, _ = read_frontmatter(p.read_text(encoding='utf-8'))
            sec, order = 'Guides', fm.get('order', 99)
        else:
            src = p.read_text(encoding='utf-8')
            sec = 'Home' if p.stem == 'index' else 'Library' if re.search(r'#\|\s*default_exp\s', src) else 'Examples'
            order = 0
        pages.append(dict(src=p, out=p.stem + '.html', section=sec, order=order))
    return sorted(pages, key=lambda d: (['Home', *SECTIONS].index(d['section']), d['order'], d['src'].name))

def write_sidebar(pages):
    "nbs/sidebar.yml for Quarto (`nbdev_docs`), the same sections and order as this site's sidebar; True if it changed"
    contents = []
    for sec in ['Home', *SECTIONS]:
        names = [p['src'].name for p in pages if p['section'] == sec]
        if not names: continue
        contents += names if sec == 'Home' else [{'section': sec, 'contents': names}]
    import yaml
    text = ('# Written by docs/build_site.py from the pages in nbs/ (settings.ini: custom_sidebar = True).\n'
            + yaml.safe_dump({'website': {'sidebar': {'contents': contents}}}, sort_keys=False))
    f = NBS / 'sidebar.yml'
    if f.exists() and f.read_text() == text: return False
    f.write_text(text); return True

# ---------------------------------------------------------------- processing (in worker processes)
def _key(path):
    "Cache key of a notebook's rendering: the notebook itself (whose exported cells `show_doc` runs), the processing, nbdev"
    h = hashlib.sha256(Path(path).read_bytes())
    for f in [DOCS / 'nbproc.py', ROOT / 'settings.ini']: h.update(f.read_bytes())
    import nbdev; h.update(nbdev.__version__.encode())
    return h.hexdigest()

def _cached(path):
    "The cached rendering of notebook `path` if it is up to date, else None"
    f = CACHE / (Path(path).stem + '.json')
    if not f.exists(): return None
    d = json.loads(f.read_text())
    return d['page'] if d.get('key') == _key(path) else None

def _process_one(path):
    "`(path, page, error)`: page = {'fm', 'body', 'mixed'} of one notebook or .md page, cached for notebooks"
    path = Path(path)
    import nbformat
    from nbproc import process, to_html
    if path.suffix == '.md':
        fm, body = read_frontmatter(path.read_text(encoding='utf-8'))
        from nbdev.doclinks import NbdevLookup
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(NbdevLookup().linkify(body))])
        return str(path), dict(fm=fm, body=to_html(nb)[1], mixed=[]), None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            nb = process(path)
            fm, body = to_html(nb)
    except Exception as e:
        return str(path), None, f'{type(e).__name__}: {e}\n' + ''.join(traceback.format_exception(e)[-3:])
    page = dict(fm=fm, body=body, mixed=nb.metadata.get('mixed_import_cells', []))
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / (path.stem + '.json')).write_text(json.dumps(dict(key=_key(path), page=page)))
    return str(path), page, None

def _process_many(paths):
    os.chdir(ROOT); os.environ.setdefault('HF_HUB_OFFLINE', '1'); os.environ.setdefault('MPLBACKEND', 'Agg')
    return [_process_one(p) for p in paths]

def process_all(paths, workers):
    "Every page: notebooks from the cache when unchanged; the rest in `workers` processes (one import of torch & co each)"
    res = {}
    for p in paths:
        if p.endswith('.ipynb') and (page := _cached(p)) is not None: res[p] = (page, None)
    for p in paths:
        if p.endswith('.md'): res[p] = _process_one(p)[1:]
    todo = sorted((p for p in paths if p not in res), key=lambda p: -Path(p).stat().st_size)
    workers = max(1, min(workers, len(todo)))
    if workers == 1: out = _process_many(todo)
    else:
        with ProcessPoolExecutor(workers) as ex: out = [r for rs in ex.map(_process_many, [todo[i::workers] for i in range(workers)]) for r in rs]
    res.update({p: (page, err) for p, page, err in out})
    return res

# ---------------------------------------------------------------- rendering
def quarto_id(text):
    "Heading id as Quarto (and nbdev's doc links) make it: lower case, spaces to dashes, punctuation dropped"
    return re.sub(r'\s+', '-', re.sub(r'[^\w\s.-]', '', text.strip().lower()))

_re_math = re.compile(r'\$\$(.+?)\$\$|(?<![\\$\w])\$(?!\s)([^$\n]+?)(?<![\s\\])\$(?![\w$])', re.S)

def _mathml(m):
    from latex2mathml.converter import convert
    tex, display = (m.group(1), 'block') if m.group(1) is not None else (m.group(2), 'inline')
    try: return convert(html.unescape(tex).strip(), display=display)
    except Exception: return html.escape(m.group(0))

def name_links():
    """{name: 'page.html#anchor'} for the library's names as they are written in code spans: `PPOTrainer`,
    `PPOTrainer.step`, `lm_ppo.ppo.PPOTrainer`, `lm_ppo.ppo` (short names only when unambiguous and public)"""
    import importlib, lm_ppo_nb._modidx as mi
    mi = importlib.reload(mi)
    full, short = {}, {}
    for mod, syms in mi.d['syms'].items():
        m = mod.split('.', 1)[1]
        for k, (url, _) in syms.items():
            nm = k[len(mod) + 1:]
            full[f'lm_ppo.{m}.{nm}'] = url
            full.setdefault(f'lm_ppo.{m}', url.partition('#')[0])
            if not any(part.startswith('_') for part in nm.split('.')): short.setdefault(nm, set()).add(url)
    return {**{k: v.pop() for k, v in short.items() if len(v) == 1}, **full}

def _link_code(soup, links, here):
    for c in soup.find_all('code'):
        if c.find_parent(['pre', 'a', 'h1', 'h2', 'h3', 'h4']): continue
        t = re.sub(r'\(\)$', '', c.get_text().strip())
        url = links.get(t)
        if not url or url.partition('#')[0] == here and '#' not in url: continue
        if url.startswith(here + '#'): url = url[len(here):]
        a = soup.new_tag('a', href=url); c.wrap(a)

def fix_page(body, doc_prefix, links=None, here=''):
    "Heading ids as Quarto's, MathML for TeX, links from the docs host and to notebooks made relative"
    from bs4 import BeautifulSoup, NavigableString
    soup = BeautifulSoup(body, 'html.parser')
    for a in soup.select('a.anchor-link'): a.decompose()
    for e in soup.find_all(id=re.compile('^cell-id=')): del e['id']
    seen = set()
    for h in soup.find_all(re.compile('^h[1-6]$')):
        i = base = quarto_id(h.get_text())
        n = 1
        while i in seen: i = f'{base}-{n}'; n += 1
        seen.add(i); h['id'] = i
        a = soup.new_tag('a', href='#' + i, **{'class': 'anchor'}); a.string = '#'; h.append(a)
    for t in list(soup.find_all(string=re.compile(r'\$'))):
        if t.find_parent(['code', 'pre', 'script', 'style']) or not isinstance(t, NavigableString): continue
        new = _re_math.sub(_mathml, html.escape(str(t), quote=False))
        if new != html.escape(str(t), quote=False): t.replace_with(BeautifulSoup(new, 'html.parser'))
    for tag, attr in (('a', 'href'), ('img', 'src')):
        for e in soup.find_all(tag):
            u = e.get(attr)
            if not u: continue
            if doc_prefix and u.startswith(doc_prefix): u = u[len(doc_prefix):].lstrip('/')
            if not urlsplit(u).scheme and not u.startswith('#'):
                u = re.sub(r'^(\.\./)?docs/', 'docs/', u)
                u = re.sub(r'^(?:\./)?(?:nbs/)?([^/#?]+)\.(?:ipynb|md)(?=$|#)', r'\1.html', u)
            e[attr] = u
    for t in soup.find_all('table'): t['class'] = t.get('class', []) + ['table']
    if links: _link_code(soup, links, here)
    return soup

def page_html(page, fm, soup, pages):
    title = fm.get('title') or page['src'].stem
    nav = []
    for sec in ['Home', *SECTIONS]:
        items = [p for p in pages if p['section'] == sec]
        if not items: continue
        if sec != 'Home': nav.append(f'<div class="nav-section">{sec}</div>')
        for p in items:
            cur = ' class="current"' if p is page else ''
            nav.append(f'<a href="{p["out"]}"{cur}>{html.escape(p.get("title") or p["src"].stem)}</a>')
    toc = ''.join(f'<a class="toc-{h.name}" href="#{h["id"]}">{html.escape(h.get_text().rstrip("#").strip())}</a>'
                  for h in soup.find_all(['h2', 'h3']) if h.get('id'))
    desc = f'<p class="description">{html.escape(fm["description"])}</p>' if fm.get('description') else ''
    return f'''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} – lm_ppo</title>
<link rel="stylesheet" href="assets/pygments.css"><link rel="stylesheet" href="assets/site.css"></head>
<body><header><a class="brand" href="index.html">lm_ppo</a><span class="tagline">PPO for causal language models</span></header>
<nav class="sidebar" aria-label="pages">{''.join(nav)}</nav>
<main><h1 class="title">{html.escape(title)}</h1>{desc}
{soup}
</main>
<nav class="toc" aria-label="on this page"><div class="nav-section">On this page</div>{toc}</nav>
</body></html>
'''

CSS = '''
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --accent:#0b62c4; --code:#f6f8fa; }
* { box-sizing: border-box; }
body { margin:0; font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg);
  display:grid; grid-template-columns: 250px minmax(0,1fr) 230px; grid-template-rows: auto 1fr; }
header { grid-column: 1 / -1; padding: .7rem 1.2rem; border-bottom:1px solid var(--line); display:flex; gap:1rem; align-items:baseline; }
header .brand { font-weight:700; font-size:1.25rem; color:var(--fg); text-decoration:none; }
header .tagline { color:var(--muted); font-size:.9rem; }
nav.sidebar, nav.toc { padding: 1rem; font-size:.9rem; position:sticky; top:0; align-self:start; max-height:100vh; overflow-y:auto; }
nav.sidebar { border-right:1px solid var(--line); min-height: calc(100vh - 3.2rem); }
nav a { display:block; padding:.2rem .4rem; color:var(--fg); text-decoration:none; border-radius:4px; }
nav a:hover { background:var(--code); } nav a.current { background:#e7f0fb; color:var(--accent); font-weight:600; }
nav .nav-section { margin:1rem 0 .3rem; font-weight:700; color:var(--muted); text-transform:uppercase; font-size:.75rem; letter-spacing:.04em; }
nav.toc a.toc-h3 { padding-left:1.2rem; color:var(--muted); }
main { padding: 1rem 2.2rem 4rem; min-width:0; }
main h1.title { margin-bottom:.2rem; } p.description { color:var(--muted); font-size:1.1rem; margin-top:0; }
h2 { border-bottom:1px solid var(--line); padding-bottom:.2rem; margin-top:2rem; }
h1 a.anchor, h2 a.anchor, h3 a.anchor, h4 a.anchor { margin-left:.4rem; color:var(--line); text-decoration:none; visibility:hidden; }
h1:hover a.anchor, h2:hover a.anchor, h3:hover a.anchor, h4:hover a.anchor { visibility:visible; }
a { color:var(--accent); }
code { background:var(--code); padding:.1em .2em; border-radius:4px; font-size:.88em; }
pre { background:var(--code); padding:.7rem .9rem; border-radius:6px; overflow-x:auto; font-size:.85rem; line-height:1.4; }
pre code { background:none; padding:0; }
.input_area pre, .highlight pre { border-left:3px solid #c6d4e3; }
.output_area pre { background:#fff; border:1px solid var(--line); }
.output_area img { max-width:100%; }
.output_stderr pre { background:#fff5f5; }
.prompt { display:none; }
.text_cell_render hr { border:0; border-top:2px solid var(--line); margin:2rem 0 .5rem; }
table.table { border-collapse:collapse; margin:1rem 0; font-size:.9rem; display:block; overflow-x:auto; }
table.table th, table.table td { border:1px solid var(--line); padding:.3rem .6rem; text-align:left; vertical-align:top; }
table.table th { background:var(--code); }
img { max-width:100%; }
math[display="block"] { margin: .8rem 0; font-size:1.1em; }
blockquote { border-left:4px solid var(--line); margin-left:0; padding-left:1rem; color:var(--muted); }
@media (max-width: 1100px) { body { grid-template-columns: 220px minmax(0,1fr); } nav.toc { display:none; } }
'''

# ---------------------------------------------------------------- checks
def check_api(site_pages):
    "Failures and warnings for each module's public names: docstring, doc entry on its page, an example there"
    sys.path.insert(0, str(ROOT))
    from lm_ppo_nb._modidx import d as modidx
    fails, warns = [], []
    ids = {pg: {e['id'] for e in soup.find_all(id=True)} for pg, soup in site_pages.items()}
    texts = {pg: soup.get_text() for pg, soup in site_pages.items()}
    codes = {pg: ' '.join(c.get_text() for c in soup.select('.input_area')) for pg, soup in site_pages.items()}
    syms = {k: v for mod in modidx['syms'].values() for k, v in mod.items()}
    mod_pages = {m.group(1): p.stem + '.html' for p in NBS.glob('*.ipynb')
                 for m in [re.search(r'#\|\s*default_exp\s+([\w.]+)', p.read_text(encoding='utf-8'))] if m}
    for f in sorted((ROOT / 'lm_ppo_nb').glob('*.py')):
        if f.stem.startswith('_'): continue
        try: mod = importlib.import_module(f'lm_ppo.{f.stem}')
        except Exception as e: fails.append(f'lm_ppo.{f.stem}: does not import ({type(e).__name__}: {e})'); continue
        for nm in getattr(mod, '__all__', []):
            qual = f'lm_ppo.{f.stem}.{nm}'
            obj = getattr(mod, nm, None)
            home = getattr(obj, '__module__', None) or ''
            home = home.replace('lm_ppo.', 'lm_ppo_nb.', 1) if home.startswith('lm_ppo.') else home
            if not home.startswith('lm_ppo_nb.') or not (inspect.isclass(obj) or callable(obj)): home = f'lm_ppo_nb.{f.stem}'
            entry = syms.get(f'{home}.{nm}')
            if entry: page, _, anchor = entry[0].partition('#')
            else: page, anchor = mod_pages.get(home.split('.')[-1], f'(no notebook with default_exp {f.stem})'), quarto_id(nm)
            soup = site_pages.get(page)
            if soup is None: fails.append(f'{qual}: its page {page} was not built'); continue
            if inspect.isclass(obj) or inspect.isroutine(obj) or callable(obj):
                doc = obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)
                if inspect.isclass(obj) and doc and re.match(rf'{re.escape(obj.__name__)}\(', doc): doc = None  # dataclass default
                if not (doc or '').strip(): fails.append(f'{qual}: no docstring')
                if anchor not in ids[page]: fails.append(f'{qual}: no doc entry (show_doc) on {page}')
            elif not re.search(rf'\b{re.escape(nm)}\b', texts[page]):
                fails.append(f'{qual}: a constant not mentioned on {page}')
            if not re.search(rf'\b{re.escape(nm)}\b', codes[page]): warns.append(f'{qual}: no example on {page}')
    return fails, warns

def check_links(site_pages):
    "Broken relative links and anchors between the site's pages"
    fails = []
    ids = {pg: {e['id'] for e in soup.find_all(id=True)} for pg, soup in site_pages.items()}
    for page, soup in site_pages.items():
        for tag, attr in (('a', 'href'), ('img', 'src'), ('link', 'href')):
            for e in soup.find_all(tag):
                u = e.get(attr)
                if not u or urlsplit(u).scheme or u.startswith(('//', 'mailto:')): continue
                path, _, frag = u.partition('#')
                path = unquote(path) or page
                target = (SITE / path)
                if not target.exists(): fails.append(f'{page}: broken link {u}'); continue
                if frag and path.endswith('.html'):
                    if path in ids and unquote(frag) not in ids[path]: fails.append(f'{page}: missing anchor {u}')
    return fails

# ---------------------------------------------------------------- main
def build(workers=2, check=True):
    from bs4 import BeautifulSoup
    os.chdir(ROOT)
    from nbdev.config import get_config
    cfg = get_config()
    doc_prefix = cfg.get('doc_host', '').rstrip('/') + cfg.get('doc_baseurl', '').rstrip('/') + '/'
    pages = page_list()
    if write_sidebar(pages): print('wrote nbs/sidebar.yml (commit it)')
    results = process_all([str(p['src']) for p in pages], workers)
    if SITE.exists(): shutil.rmtree(SITE)
    (SITE / 'assets').mkdir(parents=True)
    (SITE / 'assets' / 'site.css').write_text(CSS)
    from pygments.formatters import HtmlFormatter
    (SITE / 'assets' / 'pygments.css').write_text(HtmlFormatter(style='default').get_style_defs('.highlight'))
    if (DOCS).exists(): shutil.copytree(DOCS, SITE / 'docs', ignore=shutil.ignore_patterns('*.py', '__pycache__'))
    fails, rendered, nb_warns = [], [], []
    sys.path.insert(0, str(ROOT)); links = name_links()
    for p in pages:
        page, err = results[str(p['src'])]
        if err: fails.append(f'{p["src"].relative_to(ROOT)}: does not render: {err}'); continue
        try:
            fm = page['fm']
            p['title'] = fm.get('title') or p['src'].stem
            if page['mixed']: nb_warns.append(f'{p["src"].relative_to(ROOT)}: the cells starting {page["mixed"]} mix imports with other code; '
                                              'only their imports ran for show_doc (nbdev_docs runs the whole cell and may fail: see the nbdev FAQ)')
            rendered.append((p, fm, fix_page(page['body'], doc_prefix)))
        except Exception as e:
            fails.append(f'{p["src"].relative_to(ROOT)}: does not render: {type(e).__name__}: {e}')
    ok = [r[0] for r in rendered]
    ids = {p['out']: {e['id'] for e in soup.find_all(id=True)} for p, _, soup in rendered}
    def exists(url): page, _, frag = url.partition('#'); return page in ids and (not frag or frag in ids[page])
    links = {k: v for k, v in links.items() if exists(v)}    # doc links only to entries that are on the site
    for p in ok:                                               # `02-ppo`, `nbs/02-ppo.ipynb`: the page of that notebook
        if p['src'].stem != 'index': links.update({p['src'].stem: p['out'], f"nbs/{p['src'].name}": p['out']})
    for p, _, soup in rendered: _link_code(soup, links, p['out'])
    for p, fm, soup in rendered: (SITE / p['out']).write_text(page_html(p, fm, soup, ok), encoding='utf-8')
    (SITE / '.nojekyll').write_text('')
    print(f'built {len(rendered)} pages into {SITE.relative_to(ROOT)}/')
    if not check: return fails
    site_pages = {f.name: BeautifulSoup(f.read_text(encoding='utf-8'), 'html.parser') for f in SITE.glob('*.html')}
    api_fails, warns = check_api(site_pages)
    fails += api_fails + check_links(site_pages)
    warns = nb_warns + warns
    for w in warns: print('warning:', w)
    for f in fails: print('FAIL:', f)
    print(f'{len(fails)} failures, {len(warns)} warnings')
    return fails

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--workers', type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument('--no-check', action='store_true')
    a = ap.parse_args()
    sys.exit(1 if build(a.workers, not a.no_check) else 0)
