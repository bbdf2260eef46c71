"""Every TensorRT name edgeseg's code uses, read from its AST (not grep), with the conditions it
is used under, so a test can check each against NVIDIA's manifest for each TensorRT version.

Roots: a name bound by ``import tensorrt``, by ``import_tensorrt()``, or a parameter called
``trt``. From there expressions are typed with the manifests: ``trt.Builder(...)`` is a Builder,
``builder.create_builder_config()`` an IBuilderConfig (its declared return type), ``self._x = ...``
is remembered per class. Every attribute read, attribute store (must be a settable property),
keyword argument and ``getattr(obj, NAME)`` on a typed value is a :class:`Use`. A method a
subclass of a TensorRT class defines (a calibrator's ``get_batch_size``) is a use of that base.

Each use carries its guards: the ``if`` tests around it (negated in ``else``) and, through call
sites, those around the calls of its function, so the test can evaluate them with ``plan_build``'s
plans per version (a guard it cannot evaluate counts as true: the use is then always checked).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from _manifest import MODULE, is_enum, is_type, norm_type, returns, union_member

MOD = ("module",)


@dataclass(frozen=True)
class Use:
    file: str
    line: int
    func: str  # enclosing function ("<module>" at top level)
    scope: tuple  # enclosing functions, outermost first (a closure exists only while its outer function runs)
    owner: str  # manifest class/enum name, or MODULE
    name: str
    kind: str  # "attr" | "store" | "kwarg" | "override"
    guards: tuple = ()  # ((ast.expr, negated), ...)
    names_from: ast.expr | None = None  # getattr(obj, VAR): the iterable VAR loops over (resolved per plan)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def label(self) -> str:
        owner = "trt" if self.owner == MODULE else f"trt.{self.owner}"
        return f"{owner}.{self.name}" if self.kind != "kwarg" else f"{owner}(... {self.name}=)"


@dataclass
class Report:
    uses: list[Use] = field(default_factory=list)
    calls: dict = field(default_factory=dict)  # function name -> [(caller, guards)]
    #: function name -> {argument position or keyword: type} seen at its call sites (typed TensorRT
    #: objects passed to a helper, e.g. apply_timing_cache(config, ...)); used by the next pass.
    arg_types: dict = field(default_factory=dict)


def _type_of_name(owner: str, rec: dict | None, name: str):
    if rec is None:
        return None
    kind = rec.get("kind")
    if owner == MODULE:
        if kind in ("class", "enum"):
            return ("classobj", name)
        return None
    if kind in ("class", "enum"):
        return ("classobj", f"{owner}.{name}")
    if kind == "property":
        rt = returns(rec)
        return ("inst", rt[0]) if rt and rt[0] and is_type(rt[0]) else None
    if kind == "method":
        return ("method", owner, name)
    return None


class _Scanner:
    def __init__(self, file: str, report: Report, arg_types: dict) -> None:
        self.file, self.report, self.arg_types = file, report, arg_types
        self.self_types: dict[str, dict[str, tuple]] = {}
        self.scope: tuple = ()
        self.seen: set = set()

    # -- statements ---------------------------------------------------------------------------
    def module(self, tree: ast.Module) -> None:
        env: dict = {}
        self.block(tree.body, env, (), "<module>", None)

    def block(self, body: list, env: dict, guards: tuple, func: str, cls: str | None) -> None:
        for st in body:
            self.stmt(st, env, guards, func, cls)

    def stmt(self, st: ast.stmt, env: dict, guards: tuple, func: str, cls: str | None) -> None:
        E = lambda e: self.expr(e, env, guards, func, cls)  # noqa: E731
        if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = dict(env)
            known = self.arg_types.get(st.name, {})
            positional = [a.arg for a in st.args.args]
            if positional[:1] in (["self"], ["cls"]):
                positional = positional[1:]
            for a in st.args.args + st.args.kwonlyargs:
                if a.arg == "trt":
                    inner["trt"] = MOD
                t = known.get(a.arg) or (known.get(positional.index(a.arg)) if a.arg in positional else None)
                if t is not None and a.arg not in ("self", "cls"):
                    inner[a.arg] = t
            outer, self.scope = self.scope, self.scope + (st.name,)
            for _ in range(2 if cls else 1):
                self.block(st.body, dict(inner), (), st.name, cls)
            self.scope = outer
        elif isinstance(st, ast.ClassDef):
            bases = [E(b) for b in st.bases]
            base = next((b[1] for b in bases if b and b[0] == "classobj"), None)
            if base is not None:  # a subclass of a TensorRT class: its methods override the base's
                for d in st.body:
                    if isinstance(d, ast.FunctionDef) and union_member(base, d.name) is not None:
                        self.use(d, func, base, d.name, "override", guards)
            for _ in range(2):  # twice: self attributes set in a later method are typed on the second pass
                for d in st.body:
                    self.stmt(d, env, guards, func, st.name)
        elif isinstance(st, ast.Import):
            for a in st.names:
                if a.name == "tensorrt":
                    env[a.asname or "tensorrt"] = MOD
        elif isinstance(st, (ast.Assign, ast.AnnAssign)):
            value = st.value
            if value is None:
                return
            targets = st.targets if isinstance(st, ast.Assign) else [st.target]
            for tgt in targets:
                if (
                    isinstance(tgt, ast.Tuple)
                    and isinstance(value, ast.Tuple)
                    and len(tgt.elts) == len(value.elts)
                ):
                    for t, v in zip(tgt.elts, value.elts):
                        self.bind(t, E(v), v, env, guards, func, cls)
                else:
                    self.bind(tgt, E(value), value, env, guards, func, cls)
        elif isinstance(st, ast.AugAssign):
            E(st.value)
        elif isinstance(st, ast.If):
            E(st.test)
            self.block(st.body, env, guards + ((st.test, False),), func, cls)
            self.block(st.orelse, env, guards + ((st.test, True),), func, cls)
        elif isinstance(st, ast.For):
            E(st.iter)
            if isinstance(st.target, ast.Name):
                env[st.target.id] = ("loopvar", st.iter)
            self.block(st.body, env, guards, func, cls)
            self.block(st.orelse, env, guards, func, cls)
        elif isinstance(st, ast.While):
            E(st.test)
            self.block(st.body, env, guards, func, cls)
        elif isinstance(st, (ast.With, ast.AsyncWith)):
            for it in st.items:
                E(it.context_expr)
            self.block(st.body, env, guards, func, cls)
        elif isinstance(st, ast.Try):
            self.block(st.body, env, guards, func, cls)
            for h in st.handlers:
                self.block(h.body, env, guards, func, cls)
            self.block(st.orelse, env, guards, func, cls)
            self.block(st.finalbody, env, guards, func, cls)
        elif isinstance(st, (ast.Expr, ast.Return)) and st.value is not None:
            E(st.value)
        elif isinstance(st, ast.Raise) and st.exc is not None:
            E(st.exc)

    def bind(
        self, tgt: ast.expr, typ, value: ast.expr, env: dict, guards: tuple, func: str, cls: str | None
    ) -> None:
        if isinstance(tgt, ast.Name):
            env[tgt.id] = typ if typ is not None else ("value", value)
        elif isinstance(tgt, ast.Attribute):
            if isinstance(tgt.value, ast.Name) and tgt.value.id == "self" and cls:
                if typ is not None:
                    self.self_types.setdefault(cls, {})[tgt.attr] = typ
                return
            owner = self.expr(tgt.value, env, guards, func, cls)
            if owner and owner[0] == "inst":
                self.use(tgt, func, owner[1], tgt.attr, "store", guards)

    # -- expressions --------------------------------------------------------------------------
    def expr(self, e: ast.expr | None, env: dict, guards: tuple, func: str, cls: str | None):
        if e is None:
            return None
        E = lambda x: self.expr(x, env, guards, func, cls)  # noqa: E731
        if isinstance(e, ast.Name):
            t = env.get(e.id)
            return t if t and t[0] in ("module", "classobj", "inst") else None
        if isinstance(e, ast.Attribute):
            if isinstance(e.value, ast.Name) and e.value.id == "self" and cls:
                return self.self_types.get(cls, {}).get(e.attr)
            base = E(e.value)
            return self.attr(e, base, e.attr, func, guards)
        if isinstance(e, ast.Call):
            ft = E(e.func)
            args = [E(a) for a in e.args]
            kws = [(k.arg, E(k.value)) for k in e.keywords]
            fname = (
                e.func.id
                if isinstance(e.func, ast.Name)
                else e.func.attr
                if isinstance(e.func, ast.Attribute)
                else None
            )
            if fname is not None:
                slots = self.report.arg_types.setdefault(fname, {})
                for i, t in enumerate(args):
                    if t is not None and t[0] in ("module", "inst", "classobj"):
                        slots[i] = t
                for k, t in kws:
                    if k is not None and t is not None and t[0] in ("module", "inst", "classobj"):
                        slots[k] = t
            if isinstance(e.func, ast.Name):
                self.report.calls.setdefault(e.func.id, []).append((func, guards))
                if e.func.id == "import_tensorrt":
                    return MOD
                if e.func.id == "getattr" and len(e.args) >= 2:
                    return self.getattr_use(e, args[0], e.args[1], env, func, guards)
            elif isinstance(e.func, ast.Attribute):
                self.report.calls.setdefault(e.func.attr, []).append((func, guards))
            if ft is None:
                return None
            owner = ft[1] if ft[0] == "classobj" else (ft[1] if ft[0] == "method" else None)
            for k, _ in kws:
                if k is not None and owner and ft[0] in ("classobj", "method"):
                    meth = "__init__" if ft[0] == "classobj" else ft[2]
                    self.use(e, func, owner, f"{meth}:{k}", "kwarg", guards)
            if ft[0] == "classobj":
                return None if is_enum(ft[1]) else ("inst", ft[1])
            if ft[0] == "method":
                rt = returns(union_member(ft[1], ft[2]))
                return ("inst", rt[0]) if rt and rt[0] and is_type(rt[0]) else None
            return None
        for child in ast.iter_child_nodes(e):
            if isinstance(child, ast.expr):
                E(child)
            elif isinstance(child, ast.comprehension):
                E(child.iter)
                for c in child.ifs:
                    E(c)
        return None

    def attr(
        self, node: ast.AST, base, name: str, func: str, guards: tuple, names_from: ast.expr | None = None
    ):
        if base is None:
            return None
        if base[0] == "module":
            owner = MODULE
        elif base[0] in ("classobj", "inst"):
            owner = base[1]
        else:
            return None
        if name.startswith("__") and name not in ("__init__", "__version__"):
            return None
        self.use(node, func, owner, name, "attr", guards, names_from)
        return _type_of_name(owner, union_member(owner, name), name)

    def getattr_use(self, call: ast.Call, base, name_expr: ast.expr, env: dict, func: str, guards: tuple):
        if isinstance(name_expr, ast.Constant) and isinstance(name_expr.value, str):
            return self.attr(call, base, name_expr.value, func, guards)
        if isinstance(name_expr, ast.Name):
            bound = env.get(name_expr.id)
            lits = _literals(bound[1]) if bound and bound[0] == "value" else []
            if lits:  # name = "A" if ... else "B": every literal it can take
                types = [self.attr(call, base, lit, func, guards) for lit in lits]
                return next((t for t in types if t), None)
            if bound and bound[0] == "loopvar":
                self.attr(call, base, "*", func, guards, names_from=bound[1])
                return None
        if base is not None:
            self.attr(call, base, "?", func, guards)  # unresolvable: the test reports it
        return None

    def use(
        self,
        node: ast.AST,
        func: str,
        owner: str,
        name: str,
        kind: str,
        guards: tuple,
        names_from: ast.expr | None = None,
    ) -> None:
        u = Use(
            self.file, getattr(node, "lineno", 0), func, self.scope, owner, name, kind, guards, names_from
        )
        key = (u.file, u.line, u.owner, u.name, u.kind, tuple((ast.dump(g), n) for g, n in guards))
        if key not in self.seen:
            self.seen.add(key)
            self.report.uses.append(u)


def _literals(e: ast.expr) -> list[str]:
    """The strings an expression can evaluate to when it is a literal or a conditional of literals."""
    if isinstance(e, ast.Constant) and isinstance(e.value, str):
        return [e.value]
    if isinstance(e, ast.IfExp):
        a, b = _literals(e.body), _literals(e.orelse)
        return a + b if a and b else []
    return []


def scan(sources: dict[str, str]) -> Report:
    """``sources``: {display path: Python source}. Repeated until the argument types seen at call
    sites stop changing, so a TensorRT object passed to a helper function types its parameter."""
    trees = {path: ast.parse(text, filename=path) for path, text in sources.items()}
    arg_types: dict = {}
    for _ in range(4):
        report = Report()
        for path, tree in trees.items():
            _Scanner(path, report, arg_types).module(tree)
        if report.arg_types == arg_types:
            break
        arg_types = report.arg_types
    return report


def edgeseg_sources(root: Path) -> dict[str, str]:
    pkg = root / "edgeseg"
    return {str(p.relative_to(root)): p.read_text() for p in sorted(pkg.rglob("*.py"))}


def short(e: ast.expr) -> str:
    return ast.unparse(e)


__all__ = ["Use", "Report", "scan", "edgeseg_sources", "short", "norm_type"]
