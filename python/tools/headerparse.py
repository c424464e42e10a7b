"""Reading graft's C headers, with the standard library only.

What it reads from include/graft.h: the GRAFT_API prototypes, the GRAFT_*
object-like macros with a constant value, the typedefs (opaque handles,
option structs and their members, function pointers) and the section
banners; from src/layers/kinds.h: the layer kinds. It reports C types as
the header spells them (whitespace collapsed, parameter names apart);
mapping them to ctypes is python/tools/gen_api.py's business.

python/tools/gen_api.py writes python/graft/_api.py from this, and
python/tests/test_abi.py uses it to check the binding against the header.
Both import it by path, so it needs no installed package.

The parse is narrow on purpose: it knows the header's own style (one
declaration per GRAFT_API statement, ``typedef struct x x;`` for handles,
``typedef struct x { ... } x;`` for option structs, ``#define GRAFT_X
value``) and raises ValueError on a declaration it cannot read rather than
skip it, so that a new construct in the header shows up as a failure, not
as a function or field missing from the binding.
"""

import ast
import collections
import re
import sys

Function = collections.namedtuple("Function", "name ret args section arg_names")
Function.__doc__ = """A GRAFT_API function: its name, return type, argument
types (a list; empty for ``(void)``), the header section (banner title)
it is declared in and the parameter names (a list as long as args; None for
an unnamed pointer parameter)."""

Member = collections.namedtuple("Member", "name type count fn")
Member.__doc__ = """A struct member: its name, its C type, the array length
(None when not an array) and, for a function pointer member, the
(return type, argument types) pair it points to (else None)."""

# The integer types a cast in a constant expression may name.
_CAST = re.compile(r"\(\s*(?:u?int(?:8|16|32|64)_t|int|unsigned|long|size_t)\s*\)")
_NUMBER = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?[fF]?"


def _int_literal(node):
    """The value of an integer literal node, else None. Before Python 3.8
    ast.parse() makes ast.Num nodes; ast.Num is deprecated since."""
    if sys.version_info < (3, 8):
        return node.n if isinstance(node, ast.Num) and type(node.n) is int else None
    return node.value if isinstance(node, ast.Constant) and type(node.value) is int else None


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_comments(text):
    """text with every /* */ and // comment blanked out. Newlines and all
    other characters keep their offsets, so a match in the result can be
    located in the original (see banners())."""

    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))

    return re.sub(r"/\*.*?\*/|//[^\n]*", blank, text, flags=re.S)


def _squash(c_type):
    return " ".join(c_type.split())


def banners(text):
    """[(offset, title)] of the header's banners::

        /* ==== */
        /* Title */
        /* ==== */
    """
    found = []
    for m in re.finditer(r"^/\* =+ \*/\n/\* (.*?)\s*\*/\n/\* =+ \*/$", text, re.M):
        found.append((m.start(), m.group(1)))
    return found


def _parse_params(params, where):
    """(type, name) of each parameter of a parameter list; name is None for
    an unnamed pointer parameter."""
    params = _squash(params)
    if params == "void":
        return []
    if "(" in params or ")" in params:
        raise ValueError("%s: function pointer parameters are not understood: %s"
                         % (where, params))
    found = []
    for p in params.split(","):
        p = p.strip()
        name = None
        if not p.endswith("*"):
            # split off the parameter name: the last identifier, unless the
            # type ends with '*' (an unnamed pointer parameter)
            m = re.search(r"\b\w+$", p)
            if m:
                name = m.group(0)
                p = p[:m.start()].strip()
        if not p:
            raise ValueError("%s: an unnamed or empty parameter: %s" % (where, params))
        found.append((_squash(p), name))
    return found


def _split_params(params, where):
    """The argument types of a parameter list (names dropped)."""
    return [t for t, _ in _parse_params(params, where)]


def functions(text):
    """Every GRAFT_API function of the header, in header order. Raises
    ValueError when a GRAFT_API declaration cannot be read."""
    code = strip_comments(text)
    titles = banners(text)
    found = []
    pattern = re.compile(r"GRAFT_API\s+([^;(]*?)\b(graft_\w+)\s*\(([^()]*)\)\s*;")
    for m in pattern.finditer(code):
        section = _section_at(titles, m.start())
        ret, name = _squash(m.group(1)), m.group(2)
        params = _parse_params(m.group(3), name)
        found.append(Function(name, ret, [t for t, _ in params], section,
                              [n for _, n in params]))
    # Every GRAFT_API outside the preprocessor lines must have been read.
    uses = [m.start() for m in re.finditer(r"\bGRAFT_API\b", code)
            if not code[code.rfind("\n", 0, m.start()) + 1:m.start()].lstrip().startswith("#")]
    if len(uses) != len(found):
        parsed = {m.start() for m in pattern.finditer(code)}
        bad = [u for u in uses if u not in parsed]
        line = code.count("\n", 0, bad[0]) + 1 if bad else 0
        raise ValueError("cannot read the GRAFT_API declaration at line %d" % line)
    names = [f.name for f in found]
    if len(names) != len(set(names)):
        raise ValueError("a function is declared twice")
    return found


def _macros(code):
    """(offset, name, value text) of every object-like #define, continuation
    lines joined (offsets kept)."""
    code = code.replace("\\\n", "  ")
    for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(?![\w(])[ \t]*(.*)$", code, re.M):
        yield m.start(), m.group(1), m.group(2).strip()


def eval_int(expr, known):
    """The value of a C integer constant expression: integer literals (with
    any u/l suffix), casts to integer types, names of already known integer
    constants, unary - + ~ and binary + - * << >> | &. None when expr is
    anything else (a string, a brace list, sizeof, a division...)."""
    expr = _CAST.sub(" ", expr)
    expr = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", expr)
    if re.search(r"\b0\d", expr):  # C octal: not Python syntax, not worth it
        return None
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        return None
    ops = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
           ast.Mult: lambda a, b: a * b, ast.LShift: lambda a, b: a << b,
           ast.RShift: lambda a, b: a >> b, ast.BitOr: lambda a, b: a | b,
           ast.BitAnd: lambda a, b: a & b}
    unary = {ast.USub: lambda a: -a, ast.UAdd: lambda a: a, ast.Invert: lambda a: ~a}

    def value(node):
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in unary:
            return unary[type(node.op)](value(node.operand))
        if isinstance(node, ast.Name) and node.id in known:
            return known[node.id]
        if _int_literal(node) is not None:
            return _int_literal(node)
        raise ValueError

    try:
        return value(tree)
    except ValueError:
        return None


def _section_at(titles, offset):
    title = ""
    for start, t in titles:
        if start < offset:
            title = t
    return title


def defines(text, prefix="GRAFT_", sections=None):
    """name -> value, in header order, for every object-like macro named
    prefix* whose value is a constant the binding can use:

    * an integer constant expression (see eval_int()) -> int,
    * a string literal -> str,
    * a brace list of numeric literals, e.g. ``{ 0.485f, 0.456f }`` -> a
      tuple of floats.

    Others (empty macros, struct initialisers, stringification) are left
    out. When sections is a dict, it receives name -> the header section
    (banner title) of each.
    """
    found = collections.OrderedDict()
    ints = {}
    titles = banners(text) if sections is not None else []
    for offset, name, value in _macros(strip_comments(text)):
        if not name.startswith(prefix) or not value:
            continue
        if sections is not None:
            sections[name] = _section_at(titles, offset)
        n = eval_int(value, ints)
        if n is not None:
            found[name] = ints[name] = n
            continue
        m = re.fullmatch(r'"([^"\\]*)"', value)
        if m:
            found[name] = m.group(1)
            continue
        m = re.fullmatch(r"\{\s*(%s(?:\s*,\s*%s)*)\s*\}" % (_NUMBER, _NUMBER), value)
        if m:
            found[name] = tuple(float(v.strip().rstrip("fF")) for v in m.group(1).split(","))
    return found


def integer_defines(text, prefix="GRAFT_"):
    """name -> int for the integer constants among defines()."""
    return collections.OrderedDict(
        (k, v) for k, v in defines(text, prefix).items() if isinstance(v, int))


def handle_types(text):
    """The opaque types: ``typedef struct x x;`` with no body."""
    return [m.group(1) for m in re.finditer(r"\btypedef\s+struct\s+(\w+)\s+\1\s*;",
                                            strip_comments(text))]


def function_pointer_types(text):
    """name -> (return type, argument types) of every
    ``typedef R (*name)(params);``."""
    found = collections.OrderedDict()
    for m in re.finditer(r"\btypedef\s+([^;()]+?)\s*\(\s*\*\s*(\w+)\s*\)\s*\(([^()]*)\)\s*;",
                         strip_comments(text)):
        found[m.group(2)] = (_squash(m.group(1)), _split_params(m.group(3), m.group(2)))
    return found


def struct_bodies(text):
    """name -> the text between the braces of every
    ``typedef struct x { ... } x;``, comments blanked."""
    return collections.OrderedDict(
        (m.group(1), m.group(2))
        for m in re.finditer(r"\btypedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*\1\s*;",
                             strip_comments(text), re.S))


def struct_members(body, known_ints, where):
    """The members of a struct body (see struct_bodies()) as Member tuples,
    in order. Array lengths may use the integer constants in known_ints."""
    members = []
    for decl in body.split(";"):
        decl = _squash(decl)
        if not decl:
            continue
        m = re.fullmatch(r"(.*?)\(\s*\*\s*(\w+)\s*\)\s*\(([^()]*)\)", decl)
        if m:  # a function pointer member
            fn = (_squash(m.group(1)), _split_params(m.group(3), where + "." + m.group(2)))
            members.append(Member(m.group(2), None, None, fn))
            continue
        m = re.fullmatch(r"((?:const )?\w+) (.*)", decl)
        if not m:
            raise ValueError("%s: cannot read the member %r" % (where, decl))
        base = m.group(1)
        for declarator in m.group(2).split(","):
            d = re.fullmatch(r"\s*((?:\*\s*(?:const\b)?\s*)*)(\w+)\s*(?:\[([^]]*)\])?\s*",
                             declarator)
            if not d:
                raise ValueError("%s: cannot read the member %r" % (where, decl))
            count = None
            if d.group(3) is not None:
                count = eval_int(d.group(3), known_ints)
                if count is None:
                    raise ValueError("%s.%s: cannot evaluate the array length %r"
                                     % (where, d.group(2), d.group(3)))
            # spelt as the header spells parameters: "const char *const *"
            c_type = re.sub(r"\s*\*\s*", " *", _squash(base + " " + d.group(1))).strip()
            members.append(Member(d.group(2), c_type, count, None))
    return members


# ---- layer kinds ------------------------------------------------------------------


def layer_kinds(text):
    """[(enum suffix, kind name, vtable symbol)] of the
    ``GRAFT_LAYER_KIND(CONV2D, conv2d, graftConv2dVtbl)`` lines of
    src/layers/kinds.h, in order (the order of the registry)."""
    code = strip_comments(text)
    found = re.findall(r"^[ \t]*GRAFT_LAYER_KIND\(\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*\)[ \t]*$",
                       code, re.M)
    if not found:
        raise ValueError("no GRAFT_LAYER_KIND(ENUM, name, vtable) line")
    names = [k[1] for k in found]
    if len(names) != len(set(names)):
        raise ValueError("a layer kind is listed twice")
    return found
