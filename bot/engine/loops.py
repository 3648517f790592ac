"""Loops in a flow's step graph, found in time linear in its size (flows check runs on reload).

Listing every cycle, as a plain search does, takes time exponential in the number of branches
in a row: twenty branch steps took 14 s. Strongly connected components (Tarjan's algorithm,
written without recursion so a flow of 5 000 steps cannot exhaust the stack) name each loop once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence


def loops(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One cycle (its nodes in order, first node first) for every loop in the graph.

    Edges to nodes outside the graph are ignored. Loops come in the order of the graph's keys.
    """
    position = {node: number for number, node in enumerate(graph)}
    found = []
    for component in _strongly_connected(graph):
        first = min(component, key=position.__getitem__)
        if len(component) > 1 or first in graph[first]:
            found.append(_cycle_through(first, set(component), graph))
    return sorted(found, key=lambda cycle: position[cycle[0]])


def _strongly_connected(graph: Mapping[str, Sequence[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for root in graph:
        if root in index:
            continue
        visit(root)
        work = [(root, iter(graph[root]))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in graph:
                    continue
                if child not in index:
                    visit(child)
                    work.append((child, iter(graph[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:  # every child seen: the node is done
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
    return components


def _cycle_through(start: str, members: set[str], graph: Mapping[str, Sequence[str]]) -> list[str]:
    """The shortest way from `start` back to itself inside its component."""
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in graph[node]:
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return path[::-1]
            if child in members and child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"{start} is in a loop, so a way back exists")
