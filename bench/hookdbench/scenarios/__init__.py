"""The scenarios, in the order they run and their tables stand. Each module
has run(ctx), which returns its rows (measure.row: one a contender and
round), TITLE (the heading of its table) and PRODUCES (the figure a row
must have for the scenario to count as having produced numbers); where a
scenario cannot run on every machine, unavailable() says why, or None.
A new scenario is a module here and a line in MODULES."""

from . import body, fanout, ingest, memory, nodes, signed, startup, subs
from . import exec as exec_  # the module; the builtin is not used here

MODULES = {"ingest": ingest, "signed": signed, "exec": exec_, "fanout": fanout,
           "memory": memory, "startup": startup, "body": body, "nodes": nodes,
           "subs": subs}
SCENARIOS = list(MODULES)
RUNNERS = {name: m.run for name, m in MODULES.items()}
TITLES = {name: m.TITLE for name, m in MODULES.items()}
# What each scenario must produce for the smoke check (key, in some row).
PRODUCES = {name: m.PRODUCES for name, m in MODULES.items()}


def unavailable(name):
    """Why scenario `name` cannot run here (it is then skipped), or None."""
    check = getattr(MODULES[name], "unavailable", None)
    return check() if check else None
