"""The shape of the code: no module of the apps imports itself back through others (an import
circle), counting imports inside functions too. `make lint` checks the same with import-linter's
contracts (pyproject.toml); this test makes `make test` say it first."""

from __future__ import annotations

import grimp
import pytest

APPS = ("config", "trust", "disbursements", "reports")


def import_circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every group of modules that import one another in a circle (strongly connected
    components of more than one module, or a module importing itself), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        # Iterative Tarjan: the apps' graph is small, but recursion limits are not worth a risk.
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            module, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[module] = min(low[module], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == module:
                        break
                if len(component) > 1 or graph.direct_import_exists(
                    importer=module, imported=module
                ):
                    circles.append(sorted(component))
    return sorted(circles)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*APPS, cache_dir=None)


def test_no_import_circles_in_the_apps(graph: grimp.ImportGraph) -> None:
    assert import_circles(graph) == []


def test_services_never_import_tasks(graph: grimp.ImportGraph) -> None:
    services = [m for m in graph.modules if ".services" in m or m.endswith(".runs")]
    tasks = [m for m in graph.modules if m.endswith(".tasks")]
    found = [
        (service, task)
        for service in services
        for task in tasks
        if graph.chain_exists(importer=service, imported=task)
    ]
    assert found == []


def test_import_circles_finds_a_circle_through_three_modules() -> None:
    graph = grimp.ImportGraph()
    for importer, imported in [
        ("app.services", "app.selectors"),
        ("app.selectors", "app.models"),
        ("app.models", "app.services"),  # the circle
        ("app.tasks", "app.services"),
        ("app.views", "app.selectors"),
    ]:
        graph.add_import(importer=importer, imported=imported)
    assert import_circles(graph) == [["app.models", "app.selectors", "app.services"]]


def test_import_circles_is_empty_for_a_one_way_graph() -> None:
    graph = grimp.ImportGraph()
    graph.add_import(importer="app.tasks", imported="app.services")
    graph.add_import(importer="app.services", imported="app.models")
    assert import_circles(graph) == []
