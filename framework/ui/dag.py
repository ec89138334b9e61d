"""The pipeline graph as SVG: nodes in layers (top to bottom), coloured by state.

Pure functions over node names and edges, so the layout can be checked without a store.
A node's layer is the longest path to it from a node without inputs; a node without inputs
is placed just above its first consumer (the model resolver sits beside the Evaluator, not
beside ExampleGen). Within a layer, nodes follow the mean position of their inputs.
"""

from __future__ import annotations

import html
from typing import Iterable, Optional

STATE_COLOURS = {
    "complete": ("#e3f2e5", "#2e7d32"),
    "cached": ("#e3ecf8", "#1f5fa8"),
    "failed": ("#fbe4e4", "#c62828"),
    "running": ("#fff4d6", "#b07800"),
    "new": ("#fff4d6", "#b07800"),
    "canceled": ("#eeeeee", "#616161"),
    "not run": ("#f7f7f7", "#9e9e9e"),
}
NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 200, 46, 22, 34, 8
SIDE = 64  # room on each side for edges that skip a layer


def layers(nodes: list[str], edges: Iterable[tuple[str, str]]) -> dict[str, int]:
    """{node: layer}: 0 for the first row. Edges naming unknown nodes, self-loops and edges
    closing a cycle are left out."""
    known = set(nodes)
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        if a in known and b in known and a != b and a not in preds[b]:
            preds[b].append(a)
            succs[a].append(b)
    layer: dict[str, int] = {}
    waiting = {n: len(preds[n]) for n in nodes}
    ready = [n for n in nodes if waiting[n] == 0]
    order = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        layer[node] = max((layer[p] + 1 for p in preds[node] if p in layer), default=0)
        for nxt in succs[node]:
            waiting[nxt] -= 1
            if waiting[nxt] == 0:
                ready.append(nxt)
    for node in nodes:  # in a cycle: after everything else
        if node not in layer:
            layer[node] = max(layer.values(), default=-1) + 1
    for node in order:  # sources sit just above their first consumer
        if not preds[node] and succs[node]:
            layer[node] = max(0, min(layer[s] for s in succs[node]) - 1)
    return layer


def layout(nodes: list[str], edges: list[tuple[str, str]]) -> tuple[dict, int, int]:
    """({node: (x, y)} of each box's top-left corner, width, height) of the drawing."""
    layer = layers(nodes, edges)
    rows: dict[int, list[str]] = {}
    for node in nodes:
        rows.setdefault(layer[node], []).append(node)
    preds = {n: [a for a, b in edges if b == n and a in layer] for n in nodes}
    widest = max((len(r) for r in rows.values()), default=0)
    width = max(1, widest) * (NODE_W + GAP_X) - GAP_X + 2 * (MARGIN + SIDE)
    position: dict[str, tuple[float, float]] = {}
    for index in sorted(rows):
        row = rows[index]
        first = {node: i * (NODE_W + GAP_X) for i, node in enumerate(row)}

        def centre(node, first=first):
            xs = [position[p][0] for p in preds[node] if p in position]
            return sum(xs) / len(xs) if xs else first[node]

        row.sort(key=centre)
        span = len(row) * (NODE_W + GAP_X) - GAP_X
        left = (width - span) / 2
        y = MARGIN + index * (NODE_H + GAP_Y)
        for i, node in enumerate(row):
            position[node] = (left + i * (NODE_W + GAP_X), y)
    height = MARGIN * 2 + (max(rows, default=0) + 1) * (NODE_H + GAP_Y) - GAP_Y
    return position, int(width), int(height)


def _edge_path(a: tuple[float, float], b: tuple[float, float],
               out: Optional[float] = None) -> str:
    """A curve from a's bottom to b's top; with `out` (an edge that skips layers), from side
    to side around the nodes between them, reaching out to x = `out`."""
    if out is not None:
        right = out > a[0] + NODE_W / 2
        side = NODE_W if right else 0
        x1, y1 = a[0] + side, a[1] + NODE_H / 2
        x2, y2 = b[0] + side, b[1] + NODE_H / 2
        return f"M{x1:.0f},{y1:.0f} C{out:.0f},{y1:.0f} {out:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
    x1, y1 = a[0] + NODE_W / 2, a[1] + NODE_H
    x2, y2 = b[0] + NODE_W / 2, b[1]
    if y2 <= y1:  # same row or upwards (a cycle): around the side
        x1, y1 = a[0] + NODE_W, a[1] + NODE_H / 2
        x2, y2 = b[0] + NODE_W, b[1] + NODE_H / 2
        bend = max(x1, x2) + 40
        return f"M{x1:.0f},{y1:.0f} C{bend:.0f},{y1:.0f} {bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
    mid = (y1 + y2) / 2
    return f"M{x1:.0f},{y1:.0f} C{x1:.0f},{mid:.0f} {x2:.0f},{mid:.0f} {x2:.0f},{y2 - 2:.0f}"


def bends(position: dict, edges: list[tuple[str, str]]) -> dict[tuple[str, str], Optional[float]]:
    """{edge: None} for an edge to the next layer; for one that skips layers, the x its
    curve reaches out to: past every node in the rows it passes, on the side of its source
    (right unless the source is left of the target), farther for each such edge there."""
    out: dict[tuple[str, str], Optional[float]] = {}
    count = {1: 0, -1: 0}
    step = NODE_H + GAP_Y
    skipping = []
    for a, b in edges:
        if a not in position or b not in position:
            continue
        if position[b][1] - position[a][1] > step + 1:
            skipping.append((position[b][1] - position[a][1], a, b))
        else:
            out[(a, b)] = None
    for _, a, b in sorted(skipping):
        side = 1 if position[a][0] >= position[b][0] else -1
        count[side] += 1
        between = [x for x, y in position.values() if position[a][1] <= y <= position[b][1]]
        edge = max(between) + NODE_W if side > 0 else min(between)
        out[(a, b)] = edge + side * min(SIDE - 4, 10 + 10 * count[side])
    return out


def svg(nodes: list[dict], edges: list[tuple[str, str]], *, title: str = "pipeline graph") -> str:
    """The graph as an inline SVG element. Each node: {id, state, detail?, href?, title?}."""
    names = [n["id"] for n in nodes]
    position, width, height = layout(names, edges)
    out = [f'<svg class="dag" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"'
           f' width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
           'fill="#8a8f98"/></marker></defs>']
    for (a, b), reach in bends(position, edges).items():
        if a in position and b in position and a != b:
            path = _edge_path(position[a], position[b], reach)
            out.append(f'<path class="edge" data-from="{html.escape(a)}" '
                       f'data-to="{html.escape(b)}" d="{path}" '
                       'fill="none" stroke="#8a8f98" stroke-width="1.4" '
                       'marker-end="url(#arrow)"/>')
    for node in nodes:
        x, y = position[node["id"]]
        fill, stroke = STATE_COLOURS.get(node.get("state", "not run"), STATE_COLOURS["not run"])
        label = _fit(node["id"], 30)
        detail = _fit(node.get("detail", ""), 31)
        body = (f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="7" '
                f'fill="{fill}" stroke="{stroke}" stroke-width="1.6"/>'
                f'<text class="{"label long" if len(label) > 24 else "label"}" '
                f'x="{x + NODE_W / 2:.0f}" y="{y + 19:.0f}" '
                f'text-anchor="middle">{html.escape(label)}</text>'
                f'<text class="detail" x="{x + NODE_W / 2:.0f}" y="{y + 36:.0f}" '
                f'text-anchor="middle" fill="{stroke}">{html.escape(detail)}</text>')
        tip = html.escape(node.get("title") or f"{node['id']}: {node.get('state', '')}")
        body = f"<title>{tip}</title>{body}"
        if node.get("href"):
            body = f'<a href="{html.escape(node["href"])}">{body}</a>'
        state = html.escape(node.get("state", "not run").replace(" ", "-"))
        out.append(f'<g class="node state-{state}" data-node="{html.escape(node["id"])}">'
                   f"{body}</g>")
    out.append("</svg>")
    return "".join(out)


def _fit(text: Optional[str], limit: int) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit - 1] + "…"
