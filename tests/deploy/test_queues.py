"""Every Celery task lands on a queue that the compose stack and the Helm chart consume.

The deployments run a worker pool per queue (default, reminders, lab, exports). A task routed
to any other queue (Celery's own default is named "celery") would wait forever in production
while every test passes, so the routing in deploy/celery.py is pinned here.
"""

from __future__ import annotations

import yaml

from tests.deploy import gotemplate as gt
from tests.deploy.support import DEPLOY

CHART = DEPLOY / "helm" / "trial"


def _compose_queues() -> set[str]:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    queues: set[str] = set()
    for service in services.values():
        command = service.get("command") or []
        if "worker" in command:
            queues |= set(command[command.index("--queues") + 1].split(","))
    return queues


def _helm_queues() -> set[str]:
    lint_values = yaml.safe_load((CHART / "ci" / "lint-values.yaml").read_text())
    queues: set[str] = set()
    for document in gt.manifests(gt.render_chart(CHART, lint_values)):
        if document["kind"] != "Deployment":
            continue
        command = document["spec"]["template"]["spec"]["containers"][0].get("command") or []
        if "worker" in command:
            queues |= set(command[command.index("--queues") + 1].split(","))
    return queues


def test_compose_and_helm_consume_the_same_queues():
    assert _compose_queues() == _helm_queues() == {"default", "reminders", "lab", "exports"}


def test_every_task_is_routed_to_a_consumed_queue():
    from deploy.celery import app

    app.loader.import_default_modules()  # autodiscovery: every app's tasks module
    consumed = _helm_queues()
    routes = {
        name: app.amqp.router.route({}, name)["queue"].name
        for name in app.tasks
        if not name.startswith("celery.")
    }
    assert routes, "no task discovered"
    unconsumed = {name: queue for name, queue in routes.items() if queue not in consumed}
    assert not unconsumed, f"tasks no deployed worker would take: {unconsumed}"
