"""MkDocs hooks (see `hooks:` in mkdocs.yml): what the docs engine is told about an nbdev project.

- the navigation, from the pages in nbs/: the home page (index.ipynb), the guides (*.md, by their `order`), the
  library notebooks (those with a `default_exp`), the examples (the other notebooks), and an API page per module;
- each notebook as nbdev shows it (`docs_notebook`): `#| hide`, `#| default_exp`, `#| exporti` and
  `#| include: false` cells dropped, directive lines removed, `#| echo: false` inputs and `#| output: false` outputs
  hidden; exported cells are shown as written; the saved outputs are shown as they are (nothing is executed);
- an API page per module (`api/<module>.md`): mkdocstrings renders its public names (`__all__`) and their docstrings,
  and an exported name without an entry there is a warning;
- code spans that name an exported name (`PPOTrainer`, `lm_ppo.core.compute_gae`) linked to its entry (autorefs);
- links in notebook pages (which mkdocs-jupyter renders to HTML, past MkDocs' own link checks) made relative to the
  page they point to, and checked: a missing page or anchor is a warning, which `mkdocs build --strict` makes fatal;
- the pictures in docs/ and bench/ served at docs/ and bench/ (pages link to them as `../docs/...`, as in Jupyter).
"""
import ast, json, logging, posixpath, re, sys
from pathlib import Path
from urllib.parse import urlsplit, unquote

import nbformat, yaml
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

log = logging.getLogger('mkdocs.hooks.lm_ppo')
ROOT = Path(__file__).resolve().parents[1]
_pictures = ('.png', '.jpg', '.jpeg', '.gif', '.svg')
SERVED = {'docs': _pictures + ('.yaml', '.js', '.css'), 'bench': _pictures}   # repository folders the site serves
_re_exp = re.compile(r'^\s*#\|\s*default_exp\s+([\w.]+)', re.M)

# ---------------------------------------------------------------- the pages
def frontmatter(text):
    "The YAML frontmatter of a markdown page, as a dict"
    m = re.match(r'^---\s*\n(.*?)\n---\s*\n', text, re.S)
    return (yaml.safe_load(m.group(1)) or {}) if m else {}

def default_exp(nb_path):
    "The module a notebook exports to (its `#| default_exp`), or None"
    for c in json.loads(Path(nb_path).read_text(encoding='utf-8'))['cells']:
        if c['cell_type'] == 'code' and (m := _re_exp.search(''.join(c['source']))): return m.group(1)
    return None

def modules(nbs):
    "{module: notebook name} of the library notebooks in folder `nbs`, in notebook order"
    return {m: p.name for p in sorted(Path(nbs).glob('[!_]*.ipynb')) if (m := default_exp(p))}

def navigation(nbs):
    "MkDocs `nav` of the pages in folder `nbs`: Home, Guides, Library, Examples, API"
    nbs = Path(nbs)
    order = lambda p: (frontmatter(p.read_text(encoding='utf-8')).get('order', 99), p.name)
    guides = sorted(nbs.glob('[!_]*.md'), key=order)                 # nbdev skips names that start with _
    pages = [p for p in sorted(nbs.glob('[!_]*.ipynb')) if p.stem != 'index']
    lib = [p.name for p in pages if default_exp(p)]
    nav = [{'Home': 'index.ipynb'}, {'Guides': [p.name for p in guides]}, {'Library': lib},
           {'Examples': [p.name for p in pages if p.name not in lib]},
           {'API': [{f'lm_ppo.{m}': f'api/{m}.md'} for m in modules(nbs)]}]
    return [d for d in nav if list(d.values())[0]]

def exports(module):
    "The names in `lm_ppo.<module>`'s `__all__`, and those of them that are constants (module-level assignments)"
    tree = ast.parse((ROOT / 'lm_ppo_nb' / f'{module.replace(".", "/")}.py').read_text(encoding='utf-8'))
    names, consts = [], set()
    for n in tree.body:
        targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, ast.AnnAssign) else []
        elts = [e for t in targets for e in ([t] if isinstance(t, ast.Name) else getattr(t, 'elts', []))]   # A, B = ...
        ids = {e.id for e in elts if isinstance(e, ast.Name)}
        if '__all__' in ids: names = list(ast.literal_eval(n.value))
        consts |= ids
    return names, [nm for nm in names if nm in consts]

def api_page(module, notebook):
    "The markdown of a module's API page: its public names (`__all__`) rendered by mkdocstrings, constants last"
    names, consts = exports(module)
    md = (f'# `lm_ppo.{module}`\n\nThe public names of `lm_ppo.{module}` and their docstrings. The notebook '
          f'[{Path(notebook).stem}](../{notebook}) explains them, with examples and tests.\n\n'
          f'::: lm_ppo.{module}\n    options:\n      members: {json.dumps([n for n in names if n not in consts])}\n')
    if consts: md += '\n## Constants\n'
    opts = ['show_if_no_docstring: true', 'show_root_heading: true', 'heading_level: 3']
    for c in consts: md += f'\n::: lm_ppo.{module}.{c}\n    options:\n' + ''.join(f'      {o}\n' for o in opts)
    return md

def api_names():
    """{name as written in code spans: autorefs identifier}: `lm_ppo.ppo.PPOTrainer.step`, and
    `PPOTrainer.step` or `PPOTrainer` where one module only has the name; from nbdev's index (`_modidx.py`)"""
    text = (ROOT / 'lm_ppo_nb' / '_modidx.py').read_text(encoding='utf-8')
    syms = ast.literal_eval(text[text.index('{'):])['syms']
    full, short = {}, {}
    for mod, names in syms.items():
        for k in names:
            ident = 'lm_ppo.' + k.split('.', 1)[1]
            if any(part.startswith('_') for part in ident.split('.')): continue
            full[ident] = ident
            short.setdefault(k[len(mod) + 1:], set()).add(ident)
    return {**{k: v.pop() for k, v in short.items() if len(v) == 1}, **full}

def link_code(html, names, pages=None):
    """`html` with each code span that names an API entry (`PPOTrainer`, `lm_ppo.core.whiten()`) linked to it by
    autorefs, and each that names a page (`lm_ppo.core`, `00-core`, `nbs/00-core.ipynb`) linked to that page:
    `pages` maps those names to their URLs relative to this page"""
    def link(m):
        name = m.group('name') or ''                                     # none: a link, a code block, a heading
        if ident := names.get(name): return f'<autoref optional identifier="{ident}">{m.group(0)}</autoref>'
        if url := (pages or {}).get(name): return f'<a href="{url}">{m.group(0)}</a>'
        return m.group(0)
    spans = r'<a\b.*?</a>|<pre\b.*?</pre>|<h\d\b.*?</h\d>|<code>(?P<name>[\w./-]+?)(?:\(\))?</code>'
    return re.sub(spans, link, html, flags=re.S)

# ---------------------------------------------------------------- notebooks as nbdev shows them
def docs_paths(md):
    "Markdown `md` of a page in nbs/, links to docs/ and bench/ (`../docs/x.png`) as the site and README.md have them"
    return re.sub(r'(\]\(|src=")\.\./(docs|bench)/', r'\1\2/', md)

def _quarto_directives(cell):
    "Cell options as Quarto applies them: `include: false`, `echo: false`, `output: false`"
    d = {k.rstrip(':'): ' '.join(v).strip().lower() for k, v in getattr(cell, 'directives_', {}).items()}
    if d.keys() & {'hide', 'default_exp', 'exporti'} or d.get('include') == 'false': del cell['source']; return
    if d.get('output') == 'false' and cell.cell_type == 'code': cell.outputs = []
    if d.get('echo') == 'false' and cell.cell_type == 'code':
        cell.metadata.setdefault('tags', []).append('remove_input')
        if not cell.get('outputs'): del cell['source']

def docs_notebook(path):
    "Notebook `path` as its docs page shows it (nbdev's processors and Quarto's cell options; nothing is executed)"
    from nbdev.process import NBProcessor
    from nbdev.processors import populate_language, strip_ansi, hide_line, filter_stream_, rm_header_dash, clean_magics
    procs = [populate_language, strip_ansi, hide_line, filter_stream_, rm_header_dash, clean_magics, _quarto_directives]
    proc = NBProcessor(path, procs)
    proc.process()
    cells = []
    for c in proc.nb.cells:
        if c.cell_type == 'markdown':
            cells.append(nbformat.v4.new_markdown_cell(docs_paths(c.source), id=c.get('id') or f'c{len(cells)}'))
        elif c.cell_type == 'code':
            outs = [nbformat.from_dict(o) for o in json.loads(json.dumps(c.get('outputs', [])))]
            src = re.sub(r'^(\s*#\|.*\n?)+', '', c.source)      # Quarto's options (nbdev removed its own)
            cells.append(nbformat.v4.new_code_cell(src, outputs=outs, metadata=dict(c.get('metadata', {})),
                                                   id=c.get('id') or f'c{len(cells)}'))
    meta = {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'},
            **dict(proc.nb.get('metadata', {})), 'language_info': {'name': 'python'}}
    nb = nbformat.v4.new_notebook(cells=cells, metadata=meta)
    return nbformat.reads(nbformat.writes(nb), as_version=4)      # outputs' text as strings, as nbformat reads them

# ---------------------------------------------------------------- MkDocs events
@event_priority(100)    # before mkdocstrings sets up griffe's search path
def on_config(config):
    # the folder of console scripts (sys.path[0] under `mkdocs build`) holds the `lm_ppo` script, which griffe would
    # take for the package
    sys.path[:] = [p for p in sys.path if not (Path(p or '.') / 'lm_ppo').is_file()]
    config.nav = navigation(config.docs_dir)
    return config

@event_priority(-100)   # after mkdocs-jupyter wrapped the notebooks (its NotebookFile keeps abs_src_path apart)
def on_files(files, config):
    proc = Path(config.docs_dir).parent / '_proc' / 'site'      # the notebooks as processed (git ignores _proc/)
    proc.mkdir(parents=True, exist_ok=True)
    mods = modules(config.docs_dir)
    for f in list(files):
        if '/' in f.src_uri and f.src_dir == config.docs_dir:   # runs and saved models in folders under nbs/
            files.remove(f)
        elif f.src_uri.endswith('.ipynb') and '/' not in f.src_uri:
            nb = docs_notebook(f.abs_src_path)
            if (m := default_exp(f.abs_src_path)):
                link = f'API reference: [`lm_ppo.{m}`](api/{m}.md)'
                nb.cells.insert(1, nbformat.v4.new_markdown_cell(link, id='api-link'))
            out = proc / f.src_uri
            text = nbformat.writes(nb)
            if not out.exists() or out.read_text(encoding='utf-8') != text: out.write_text(text, encoding='utf-8')
            f.abs_src_path = str(out)
    _pages.clear()
    _pages.update({k: f for f in files if f.src_uri.endswith('.ipynb') and f.src_uri != 'index.ipynb'
                   for k in (f.src_uri[:-len('.ipynb')], 'nbs/' + f.src_uri)})
    for m, nb_name in mods.items():
        files.append(api := File.generated(config, f'api/{m}.md', content=api_page(m, nb_name)))
        _pages[f'lm_ppo.{m}'] = api
    for folder, suffixes in SERVED.items():
        for p in sorted((ROOT / folder).rglob('*')):
            if p.suffix.lower() in suffixes:
                files.append(File.generated(config, p.relative_to(ROOT).as_posix(), abs_src_path=str(p)))
    return files

def on_page_markdown(markdown, page, config, files):
    "Guides: pictures in docs/ and bench/ as the site serves them; the description under the title"
    markdown = docs_paths(markdown)
    if d := page.meta.get('description'): markdown = f'> {d}\n\n' + markdown
    return markdown

_links, _names, _pages = [], {}, {}     # this build's links to check, API names, pages by the names code spans give
def on_pre_build(config):
    _links.clear(); _names.clear(); _names.update(api_names())

def on_page_content(html, page, config, files):
    """Code spans that name an API entry linked to it. API pages: every exported name has its entry. Notebook pages:
    links made relative to their targets and checked"""
    html = link_code(html, _names, {k: f.url_relative_to(page.file) for k, f in _pages.items() if f is not page.file})
    if m := re.fullmatch(r'api/(.+)\.md', page.file.src_uri):
        ids = set(re.findall(r'\sid="([^"]+)"', html))
        for nm in exports(m.group(1))[0]:
            if f'lm_ppo.{m.group(1)}.{nm}' not in ids:
                log.warning(f"lm_ppo.{m.group(1)}.{nm} is exported (in __all__) but has no entry on "
                            f"{page.file.src_uri}: give it a docstring")
    if not page.file.src_uri.endswith('.ipynb'): return html
    # nbconvert's MathJax 2 goes: every page has MathJax 3 (mkdocs.yml, docs/mathjax.js)
    html = re.sub(r'<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->', '', html, flags=re.S)
    page.present_anchor_ids = set(re.findall(r'\sid="([^"]+)"', html))
    def fix(m):
        attr, url = m.group(1), m.group(2)
        u = urlsplit(url)
        if u.scheme or url.startswith(('//', 'data:', 'mailto:')): return m.group(0)
        if not u.path:
            if u.fragment: _links.append((page, page.file, unquote(u.fragment), url))
            return m.group(0)
        path = posixpath.normpath(posixpath.join(posixpath.dirname(page.file.src_uri), unquote(u.path)))
        if (target := files.get_file_from_path(path)) is None:
            log.warning(f"Doc file '{page.file.src_uri}' contains a link '{url}', but the target is not found among "
                        "documentation files.")
            return m.group(0)
        if u.fragment: _links.append((page, target, unquote(u.fragment), url))
        return f'{attr}="{target.url_relative_to(page.file)}{"#" + u.fragment if u.fragment else ""}"'
    return re.sub(r'\b(href|src)="([^"]*)"', fix, html)

def on_env(env, config, files):
    "Notebook pages' links to anchors, once every page is rendered"
    for page, target, anchor, url in _links:
        ids = target.page.present_anchor_ids if target.page else None
        if ids is not None and anchor not in ids:
            log.warning(f"Doc file '{page.file.src_uri}' contains a link '{url}', but '{target.src_uri}' has no "
                        f"anchor '#{anchor}'.")
    return env
