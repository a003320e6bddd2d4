"""A native evaluator of a LightGBM model's trees: the call-path inference.

LightGBM's ``Booster.predict`` costs 25-70 us for one row and ``pred_contrib`` about
1.5 ms, mostly in its per-call set-up. Here the model file (LightGBM's text format) is
read without LightGBM and each tree becomes nested ``if``/``else`` Python source,
``compile()``d once at load:

- ``raw(x)`` is the raw score (log-odds), the sum of the trees' leaf values in tree
  order, exactly as LightGBM sums them;
- ``leaves(x)`` gives the leaf each tree sends the call to, and ``contributions(x)``
  turns those leaves into Saabas contributions: per feature, the sum of the changes of
  node value (``internal_value``) along each decision path. They add up to
  ``raw(x) - expected_value`` (the sum of the trees' root values).

Decisions follow LightGBM's ``Tree::NumericalDecision``: a value goes left when
``value <= threshold``; a missing value goes the default direction (``default_left``).
Which values are missing depends on the split's missing type: NaN for ``NaN``; zero
(|v| <= 1e-35) and NaN for ``Zero``; none for ``None``, where NaN is read as 0.0.
Categorical splits and linear trees are refused (callshield's features are numeric).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

K_ZERO = 1.0000000180025095e-35  # LightGBM's kZeroThreshold (1e-35f) as a double
_CATEGORICAL, _DEFAULT_LEFT = 1, 2
_MISSING_NONE, _MISSING_ZERO, _MISSING_NAN = 0, 1, 2
MAX_DEPTH = 80  # Python's tokenizer allows 100 indentation levels


class ModelFormatError(ValueError):
    """The text is not a LightGBM model this evaluator can run."""


@dataclass(frozen=True)
class Tree:
    split_feature: tuple[int, ...]
    threshold: tuple[float, ...]
    decision_type: tuple[int, ...]
    left_child: tuple[int, ...]  # >= 0: internal node; < 0: leaf ~child
    right_child: tuple[int, ...]
    leaf_value: tuple[float, ...]
    internal_value: tuple[float, ...]

    @property
    def root_value(self) -> float:
        return self.internal_value[0] if self.split_feature else self.leaf_value[0]


@dataclass(frozen=True)
class TextModel:
    trees: tuple[Tree, ...]
    feature_names: tuple[str, ...]
    objective: str


def parse_model(text: str) -> TextModel:
    """Read LightGBM's text model format (``Booster.save_model``)."""
    head, sep, rest = text.partition("\nTree=")
    if not sep or not head.startswith("tree"):
        raise ModelFormatError("not a LightGBM text model (no 'tree' header or no trees)")
    header = _fields(head)
    if header.get("num_class", "1") != "1" or header.get("num_tree_per_iteration", "1") != "1":
        raise ModelFormatError("only binary (one tree per iteration) models are supported")
    if "average_output" in head.split():
        raise ModelFormatError("random-forest (average_output) models are not supported")
    try:
        n_features = int(header["max_feature_idx"]) + 1
    except (KeyError, ValueError):
        raise ModelFormatError("the model header has no valid max_feature_idx") from None
    names = tuple(header.get("feature_names", "").split())
    if len(names) != n_features:
        raise ModelFormatError(f"the model header names {len(names)} features but max_feature_idx says {n_features}")
    body, end, _ = ("Tree=" + rest).partition("end of trees")
    if not end:
        raise ModelFormatError("the model is truncated (no 'end of trees')")
    trees = []
    for n, block in enumerate(body.split("Tree=")[1:]):
        trees.append(_tree(n, _fields(block), n_features))
    if not trees:
        raise ModelFormatError("the model has no trees")
    return TextModel(tuple(trees), names, header.get("objective", ""))


def _fields(block: str) -> dict[str, str]:
    out = {}
    for line in block.splitlines():
        key, eq, value = line.partition("=")
        if eq:
            out[key.strip()] = value.strip()
    return out


def _tree(n: int, f: dict[str, str], n_features: int) -> Tree:
    try:
        num_leaves = int(f["num_leaves"])
        if f.get("is_linear", "0") != "0":
            raise ModelFormatError(f"tree {n} is a linear tree")
        if f.get("num_cat", "0") != "0":
            raise ModelFormatError(f"tree {n} has categorical splits")
        leaf_value = tuple(float(v) for v in f["leaf_value"].split())
        if num_leaves == 1:
            return Tree((), (), (), (), (), leaf_value, ())
        ints = {k: tuple(int(v) for v in f[k].split()) for k in ("split_feature", "decision_type", "left_child", "right_child")}
        threshold = tuple(float(v) for v in f["threshold"].split())
        internal_value = tuple(float(v) for v in f["internal_value"].split())
    except KeyError as exc:
        raise ModelFormatError(f"tree {n} lacks {exc.args[0]}") from None
    except ValueError as exc:
        if isinstance(exc, ModelFormatError):
            raise
        raise ModelFormatError(f"tree {n} has a malformed value: {exc}") from None
    inner = num_leaves - 1
    if len(leaf_value) != num_leaves or any(len(v) != inner for v in (*ints.values(), threshold, internal_value)):
        raise ModelFormatError(f"tree {n}: array lengths do not match num_leaves={num_leaves}")
    if any(not 0 <= i < n_features for i in ints["split_feature"]):
        raise ModelFormatError(f"tree {n} splits on a feature outside 0..{n_features - 1}")
    if any(d & _CATEGORICAL for d in ints["decision_type"]):
        raise ModelFormatError(f"tree {n} has categorical splits")
    for child in ints["left_child"] + ints["right_child"]:
        if not (-num_leaves <= child < inner) or child == 0:
            raise ModelFormatError(f"tree {n} has a child index out of range")
    return Tree(ints["split_feature"], threshold, ints["decision_type"], ints["left_child"], ints["right_child"], leaf_value, internal_value)


def _num(v: float) -> str:
    if math.isfinite(v):
        return repr(float(v))
    return "INF" if v > 0 else "-INF"


def _goes_left(var: str, threshold: float, decision_type: int) -> str:
    """A Python condition true when LightGBM sends ``var`` to the left child."""
    t = _num(threshold)
    missing = (decision_type >> 2) & 3
    default_left = bool(decision_type & _DEFAULT_LEFT)
    if missing == _MISSING_NAN:
        # NaN goes the default way; `not (v > t)` is true for NaN.
        return f"not ({var} > {t})" if default_left else f"{var} <= {t}"
    if missing == _MISSING_ZERO:
        # NaN becomes 0.0, and zero is missing: both go the default way.
        if default_left:
            if threshold >= K_ZERO:
                return f"not ({var} > {t})"
            return f"({var} <= {t} or -{K_ZERO!r} <= {var} <= {K_ZERO!r} or {var} != {var})"
        if threshold < -K_ZERO:
            return f"{var} <= {t}"
        return f"({var} <= {t} and not (-{K_ZERO!r} <= {var} <= {K_ZERO!r}))"
    # None: NaN is read as 0.0 and compared like any value.
    return f"not ({var} > {t})" if 0.0 <= threshold else f"{var} <= {t}"


class FastTrees:
    """The model's trees compiled to Python; see the module docstring."""

    def __init__(self, model: TextModel):
        self.model = model
        self.n_features = len(model.feature_names)
        self.expected_value = math.fsum(t.root_value for t in model.trees)
        self.paths = _leaf_paths(model.trees)
        used = sorted({f for t in model.trees for f in t.split_feature})
        namespace: dict[str, object] = {"INF": math.inf}
        exec(compile(_source(model.trees, used, self.n_features), "<callshield-model>", "exec"), namespace)
        self.raw = namespace["raw"]
        self.leaves = namespace["leaves"]

    def contributions(self, x: Sequence[float]) -> list[float]:
        """Saabas contributions per feature (log-odds); they sum to raw(x) - expected_value."""
        out = [0.0] * self.n_features
        paths = self.paths
        for t, leaf in enumerate(self.leaves(x)):
            for i, d in paths[t][leaf]:
                out[i] += d
        return out


def _leaf_paths(trees: Sequence[Tree]) -> list[list[tuple[tuple[int, float], ...]]]:
    """Per tree, per leaf: the (feature, summed value change) pairs of its decision path."""
    out = []
    for tree in trees:
        per_leaf: list[tuple[tuple[int, float], ...]] = [()] * len(tree.leaf_value)
        if tree.split_feature:
            stack: list[tuple[int, dict[int, float]]] = [(0, {})]
            while stack:
                node, acc = stack.pop()
                parent = tree.internal_value[node]
                f = tree.split_feature[node]
                for child in (tree.left_child[node], tree.right_child[node]):
                    value = tree.leaf_value[~child] if child < 0 else tree.internal_value[child]
                    nxt = dict(acc)
                    nxt[f] = nxt.get(f, 0.0) + (value - parent)
                    if child < 0:
                        per_leaf[~child] = tuple(sorted(nxt.items()))
                    else:
                        stack.append((child, nxt))
        out.append(per_leaf)
    return out


def _source(trees: Sequence[Tree], used: list[int], n_features: int) -> str:
    unpack = ", ".join(f"f{i}" if i in set(used) else "_" for i in range(n_features))
    raw = ["def raw(x):", f"    {unpack}{',' if n_features == 1 else ''} = x", "    s = 0.0"]
    leaves = ["def leaves(x):", f"    {unpack}{',' if n_features == 1 else ''} = x"]
    for n, tree in enumerate(trees):
        _emit(tree, 0 if tree.split_feature else -1, 1, raw, lambda leaf, t=tree: f"s += {_num(t.leaf_value[leaf])}")
        _emit(tree, 0 if tree.split_feature else -1, 1, leaves, lambda leaf, n=n: f"l{n} = {leaf}")
    raw.append("    return s")
    names = ", ".join(f"l{n}" for n in range(len(trees)))
    leaves.append(f"    return ({names}{',' if len(trees) == 1 else ''})")
    return "\n".join(raw) + "\n\n" + "\n".join(leaves) + "\n"


def _emit(tree: Tree, node: int, depth: int, out: list[str], leaf_stmt) -> None:
    """Append the source of the subtree at ``node`` (a leaf when < 0) at ``depth``."""
    if depth > MAX_DEPTH:
        raise ModelFormatError(f"a tree is deeper than {MAX_DEPTH}; train with a smaller max_depth")
    pad = "    " * depth
    if node < 0:
        out.append(pad + leaf_stmt(~node))
        return
    cond = _goes_left(f"f{tree.split_feature[node]}", tree.threshold[node], tree.decision_type[node])
    out.append(f"{pad}if {cond}:")
    _emit(tree, tree.left_child[node], depth + 1, out, leaf_stmt)
    out.append(f"{pad}else:")
    _emit(tree, tree.right_child[node], depth + 1, out, leaf_stmt)
