"""A griffe extension (mkdocs.yml: mkdocstrings' `extensions`) for what griffe's static reading of nbdev-exported
modules would miss:

- methods that fastcore's `@patch` adds to a class are documented on that class, as `Class.method`, as they are at
  run time (`@patch(as_prop=True)`: a property);
- names bound together at module level (`A, B = 1, 2`) are module attributes, each with its value.
"""
import ast
import griffe

def _patch(func):
    "`'method'`, `'property'` or None: how `@patch` decorates `func`"
    for d in func.decorators:
        v = str(d.value).replace(' ', '')
        if v in ('patch', 'fastcore.basics.patch'): return 'method'
        if v.startswith('patch('): return 'property' if 'as_prop=True' in v else 'method'
    return None

class NbdevModules(griffe.Extension):
    def __init__(self): self.patched = []

    def on_function_instance(self, *, func, **kwargs):
        if isinstance(func.parent, griffe.Module) and (kind := _patch(func)): self.patched.append((func, kind))

    def on_module_members(self, *, node, mod, **kwargs):
        for n in getattr(node, 'body', []):
            if not (isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Tuple)
                    and isinstance(n.value, ast.Tuple) and len(n.targets[0].elts) == len(n.value.elts)): continue
            for t, v in zip(n.targets[0].elts, n.value.elts):
                if isinstance(t, ast.Name) and t.id not in mod.members:
                    attr = griffe.Attribute(t.id, lineno=n.lineno, endlineno=n.end_lineno, value=ast.unparse(v))
                    attr.labels.add('module-attribute')
                    mod.set_member(t.id, attr)

    def on_package(self, *, pkg, **kwargs):
        for func, kind in self.patched:
            if not func.parameters or func.parameters[0].annotation is None: continue
            cls_name, mod = str(func.parameters[0].annotation), func.parent
            try: cls = mod.get_member(cls_name)
            except KeyError: continue
            if isinstance(cls, griffe.Alias):
                try: cls = cls.final_target
                except griffe.AliasResolutionError: continue
            if not isinstance(cls, griffe.Class): continue
            if mod.members.get(func.name) is func: mod.del_member(func.name)   # two classes may patch one name
            if kind == 'property': func.labels.add('property')
            cls.set_member(func.name, func)
        self.patched.clear()
