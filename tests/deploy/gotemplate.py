"""A small renderer for the subset of Helm's Go templates the trial chart uses.

helm is not installed on our machines (not in the Debian archive; PyPI only has wrappers around
the binary), so tests render deploy/helm/trial with this and check the manifests. It implements
exactly what the chart needs, the way text/template and Helm do it, and refuses everything
else at parse time, so a template cannot silently drift outside the subset:

- actions ``{{ ... }}`` with the trim markers ``{{-`` / ``-}}`` (all whitespace, newlines
  included, on that side); comments ``{{/* ... */}}``;
- ``if`` / ``else`` / ``end`` (Go truthiness: false, 0, nil, "" and empty lists and maps are
  false); no ``else if``;
- ``range <pipeline>`` (dot becomes each element) and ``range $k, $v := <pipeline>`` (lists
  give index and element, maps give key and value in sorted key order, as Go does);
- ``define "name"`` (top level, any file) and the function ``include "name" <arg>``; inside
  the definition both ``.`` and ``$`` are ``<arg>``;
- terms: ``.``, ``.A.b`` fields, ``$``, ``$var``, ``$var.a``, ``"strings"``, integers,
  ``true`` / ``false``; pipelines with ``|`` (the value goes in as the last argument);
- functions: ``quote``, ``toYaml``, ``indent``, ``nindent``, ``default``, ``required``,
  ``include``, ``sha256sum``, ``not``;
- objects: ``.Values`` (values.yaml deep-merged with overrides: maps merge, lists replace),
  ``.Release`` (Name, Namespace, Service, IsInstall, IsUpgrade, Revision), ``.Chart`` (Name,
  Version, AppVersion from Chart.yaml).

Stricter than Helm on purpose: a missing map key is an error (Helm yields nil), and printing a
number is allowed only for integers below one million (Go prints larger ones, and every
non-integer, in exponent form: write those as quoted strings in values.yaml). Parentheses,
variables assigned with ``:=`` outside ``range``, ``with``, ``template``, ``tpl``, ``lookup``
and every other function are rejected.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class TemplateError(Exception):
    pass


# --- lexing ---------------------------------------------------------------------------------

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+)(?![\w.])
      | (?P<declare>:=)
      | (?P<comma>,)
      | (?P<pipe>\|)
      | (?P<variable>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
      | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.X,
)

FUNCTIONS = {"quote", "toYaml", "indent", "nindent", "default", "required", "include"}
FUNCTIONS |= {"sha256sum", "not"}


def _tokens(source: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    source = source.strip()
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None or match.end() == position:
            raise TemplateError(f"unsupported syntax at {source[position:]!r}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


# --- tree -----------------------------------------------------------------------------------


@dataclass
class Text:
    text: str


@dataclass
class Action:
    pipeline: list[list[tuple[str, str]]]


@dataclass
class If:
    condition: list[list[tuple[str, str]]]
    then: list = field(default_factory=list)
    otherwise: list = field(default_factory=list)
    in_else: bool = False


@dataclass
class Range:
    variables: list[str]
    pipeline: list[list[tuple[str, str]]]
    body: list = field(default_factory=list)


@dataclass
class Define:
    name: str
    body: list = field(default_factory=list)


def _pipeline(tokens: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    commands: list[list[tuple[str, str]]] = [[]]
    for token in tokens:
        if token[0] == "pipe":
            commands.append([])
        elif token[0] in {"declare", "comma"}:
            raise TemplateError("variable declarations are supported in range only")
        else:
            commands[-1].append(token)
    for position, command in enumerate(commands):
        if not command:
            raise TemplateError("empty command in a pipeline")
        kind, value = command[0]
        if kind == "ident" and value not in {"true", "false"}:
            if value not in FUNCTIONS:
                raise TemplateError(f"unsupported function {value!r}")
        elif position > 0 or len(command) > 1:
            raise TemplateError(f"{value!r} is not a function")
    return commands


def _segments(source: str):
    """Text and action segments, with the whitespace the trim markers remove already removed."""
    pieces = []
    position = 0
    for match in _ACTION.finditer(source):
        pieces.append(["text", source[position : match.start()]])
        pieces.append(["action", match.group(2), bool(match.group(1)), bool(match.group(3))])
        position = match.end()
    pieces.append(["text", source[position:]])
    for index, piece in enumerate(pieces):
        if piece[0] != "action":
            continue
        if piece[2]:
            pieces[index - 1][1] = pieces[index - 1][1].rstrip()
        if piece[3]:
            pieces[index + 1][1] = pieces[index + 1][1].lstrip()
    return pieces


def parse(source: str, defines: dict[str, list]) -> list:
    root: list = []
    stack: list[tuple[Any, list]] = [(None, root)]
    for piece in _segments(source):
        body = stack[-1][1]
        if piece[0] == "text":
            if piece[1]:
                body.append(Text(piece[1]))
            continue
        content = piece[1].strip()
        if content.startswith("/*"):
            if not content.endswith("*/"):
                raise TemplateError(f"unterminated comment {content!r}")
            continue
        keyword, _, rest = content.partition(" ")
        if keyword == "if":
            node = If(_pipeline(_tokens(rest)))
            body.append(node)
            stack.append((node, node.then))
        elif keyword == "else":
            node = stack[-1][0]
            if rest.strip() or not isinstance(node, If) or node.in_else:
                raise TemplateError(f"unsupported {content!r}")
            node.in_else = True
            stack[-1] = (node, node.otherwise)
        elif keyword == "range":
            tokens = _tokens(rest)
            variables: list[str] = []
            if any(kind == "declare" for kind, _ in tokens):
                split = [kind for kind, _ in tokens].index("declare")
                variables = [value for kind, value in tokens[:split] if kind == "variable"]
                if len(variables) not in (1, 2) or variables[0] == "$":
                    raise TemplateError(f"unsupported range declaration {content!r}")
                tokens = tokens[split + 1 :]
            node = Range(variables, _pipeline(tokens))
            body.append(node)
            stack.append((node, node.body))
        elif keyword == "define":
            if len(stack) != 1:
                raise TemplateError("define must be at the top level")
            name = json.loads(rest.strip())
            node = Define(name)
            defines[name] = node.body
            stack.append((node, node.body))
        elif keyword == "end":
            if len(stack) == 1:
                raise TemplateError("end without a block")
            stack.pop()
        elif keyword in {"with", "template", "block", "break", "continue"}:
            raise TemplateError(f"unsupported action {keyword!r}")
        else:
            body.append(Action(_pipeline(_tokens(content))))
    if len(stack) != 1:
        raise TemplateError(f"unclosed {type(stack[-1][0]).__name__}")
    return root


# --- evaluation -----------------------------------------------------------------------------


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "") and value != [] and value != {}


def go_print(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) < 1_000_000:
        return str(value)
    if isinstance(value, str):
        return value
    raise TemplateError(f"printing {value!r} is outside the subset (quote it in values.yaml)")


def to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True).rstrip("\n")


def _indent(width: int, text: str) -> str:
    pad = " " * width
    return pad + str(text).replace("\n", "\n" + pad)


@dataclass
class Scope:
    dot: Any
    root: Any
    variables: dict[str, Any]


class Renderer:
    def __init__(self, defines: dict[str, list]):
        self.defines = defines

    def render(self, nodes: list, scope: Scope) -> str:
        out = []
        for node in nodes:
            if isinstance(node, Text):
                out.append(node.text)
            elif isinstance(node, Action):
                out.append(go_print(self.pipeline(node.pipeline, scope)))
            elif isinstance(node, If):
                branch = (
                    node.then if truthy(self.pipeline(node.condition, scope)) else node.otherwise
                )
                out.append(self.render(branch, scope))
            elif isinstance(node, Range):
                out.append(self.range(node, scope))
        return "".join(out)

    def range(self, node: Range, scope: Scope) -> str:
        collection = self.pipeline(node.pipeline, scope)
        if isinstance(collection, dict):
            items = sorted(collection.items())
        elif isinstance(collection, list):
            items = list(enumerate(collection))
        elif collection is None:
            items = []
        else:
            raise TemplateError(f"cannot range over {collection!r}")
        out = []
        for key, element in items:
            variables = dict(scope.variables)
            if len(node.variables) == 1:
                variables[node.variables[0]] = element
            elif len(node.variables) == 2:
                variables[node.variables[0]] = key
                variables[node.variables[1]] = element
            out.append(self.render(node.body, Scope(element, scope.root, variables)))
        return "".join(out)

    def pipeline(self, commands: list, scope: Scope) -> Any:
        value: Any = None
        for position, command in enumerate(commands):
            piped = [value] if position > 0 else []
            value = self.command(command, scope, piped)
        return value

    def command(self, command: list[tuple[str, str]], scope: Scope, piped: list) -> Any:
        kind, name = command[0]
        if kind == "ident" and name in FUNCTIONS:
            args = [self.term(token, scope) for token in command[1:]] + piped
            return self.call(name, args)
        return self.term(command[0], scope)

    def term(self, token: tuple[str, str], scope: Scope) -> Any:
        kind, text = token
        if kind == "string":
            return json.loads(text)
        if kind == "number":
            return int(text)
        if kind == "ident":
            return {"true": True, "false": False}[text]
        if kind == "field":
            return _walk(scope.dot, text.split(".")[1:] if text != "." else [])
        if kind == "variable":
            name, *path = text.split(".")
            if name == "$":
                base = scope.root
            elif name in scope.variables:
                base = scope.variables[name]
            else:
                raise TemplateError(f"undefined variable {name}")
            return _walk(base, path)
        raise TemplateError(f"unexpected {text!r}")

    def call(self, name: str, args: list) -> Any:
        def arity(n: int) -> None:
            if len(args) != n:
                raise TemplateError(f"{name} takes {n} arguments, got {len(args)}")

        if name == "quote":
            return " ".join(json.dumps(go_print(arg)) for arg in args)
        if name == "toYaml":
            arity(1)
            return to_yaml(args[0])
        if name in {"indent", "nindent"}:
            arity(2)
            text = _indent(args[0], args[1])
            return "\n" + text if name == "nindent" else text
        if name == "default":
            arity(2)
            return args[1] if truthy(args[1]) else args[0]
        if name == "required":
            arity(2)
            if args[1] is None or args[1] == "":
                raise TemplateError(f"required: {args[0]}")
            return args[1]
        if name == "include":
            arity(2)
            if args[0] not in self.defines:
                raise TemplateError(f"no template named {args[0]!r}")
            return self.render(self.defines[args[0]], Scope(args[1], args[1], {}))
        if name == "sha256sum":
            arity(1)
            return hashlib.sha256(str(args[0]).encode()).hexdigest()
        if name == "not":
            arity(1)
            return not truthy(args[0])
        raise TemplateError(f"unsupported function {name!r}")


def _walk(value: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise TemplateError(f"no key {key!r} in {type(value).__name__}")
        value = value[key]
    return value


# --- charts ---------------------------------------------------------------------------------


def deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def render_chart(
    chart_dir: Path,
    values: dict | None = None,
    release_name: str = "trial",
    namespace: str = "default",
    is_upgrade: bool = False,
) -> dict[str, str]:
    """Render every template of the chart; returns {template path: rendered text}."""
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    merged = deep_merge(yaml.safe_load((chart_dir / "values.yaml").read_text()), values or {})
    root = {
        "Values": merged,
        "Release": {
            "Name": release_name,
            "Namespace": namespace,
            "Service": "Helm",
            "IsInstall": not is_upgrade,
            "IsUpgrade": is_upgrade,
            "Revision": 2 if is_upgrade else 1,
        },
        "Chart": {
            "Name": chart["name"],
            "Version": str(chart["version"]),
            "AppVersion": str(chart["appVersion"]),
        },
    }
    defines: dict[str, list] = {}
    trees = {}
    for path in sorted((chart_dir / "templates").iterdir()):
        if path.suffix not in {".yaml", ".yml", ".tpl"}:
            continue
        trees[path.relative_to(chart_dir).as_posix()] = (path, parse(path.read_text(), defines))
    renderer = Renderer(defines)
    return {
        name: renderer.render(tree, Scope(root, root, {}))
        for name, (path, tree) in trees.items()
        if not path.name.startswith("_")
    }


def manifests(rendered: dict[str, str]) -> list[dict]:
    """Every non-empty YAML document of the rendered templates, as Helm would apply them."""
    documents = []
    for name, text in rendered.items():
        try:
            loaded = list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:
            raise TemplateError(f"{name} does not render to valid YAML: {exc}\n{text}") from exc
        documents.extend(document for document in loaded if document)
    return documents
