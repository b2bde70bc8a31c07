"""The Helm chart, rendered and checked manifest by manifest.

helm is not installed here (nor in CI, the same kind of machine): the chart is rendered with
tests/deploy/gotemplate.py, whose subset is tested first below; `helm lint` and `helm template`
run as well wherever the binary exists.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.deploy import gotemplate as gt
from tests.deploy.support import DEPLOY, settings_variables

CHART = DEPLOY / "helm" / "trial"
LINT_VALUES = yaml.safe_load((CHART / "ci" / "lint-values.yaml").read_text())
QUEUES = {"default", "reminders", "lab", "exports"}


# --- the renderer's subset ------------------------------------------------------------------


def _render(source: str, values: dict | None = None, defines: str = "") -> str:
    registry: dict[str, list] = {}
    gt.parse(defines, registry)
    tree = gt.parse(source, registry)
    root = {"Values": values or {}, "Release": {"Name": "r"}}
    return gt.Renderer(registry).render(tree, gt.Scope(root, root, {}))


def test_trim_markers_remove_whitespace_and_newlines_on_their_side():
    assert _render("a:\n  {{- 1 }}\nb") == "a:1\nb"
    assert _render("a {{ 1 -}}\n\n  b") == "a 1b"
    assert _render("x\n{{- /* a comment */}}\ny") == "x\ny"


def test_if_else_follows_go_truthiness():
    template = "{{ if .Values.v }}yes{{ else }}no{{ end }}"
    for falsy in (False, 0, "", [], {}, None):
        assert _render(template, {"v": falsy}) == "no"
    for truthy in (True, 1, "x", [0], {"a": 1}):
        assert _render(template, {"v": truthy}) == "yes"


def test_range_rebinds_dot_and_iterates_maps_in_key_order():
    assert _render("{{ range .Values.l }}[{{ . }}]{{ end }}", {"l": ["a", "b"]}) == "[a][b]"
    assert (
        _render(
            "{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}",
            {"m": {"b": "2", "a": "1"}},
        )
        == "a=1;b=2;"
    )
    assert (
        _render("{{ range $i, $v := .Values.l }}{{ $i }}{{ $v }}{{ end }}", {"l": ["x", "y"]})
        == "0x1y"
    )
    assert (
        _render(
            "{{ range $w := .Values.l }}{{ $w.n }}{{ $.Release.Name }}{{ end }}",
            {"l": [{"n": "q"}]},
        )
        == "qr"
    )


def test_include_binds_dot_and_dollar_to_its_argument_and_pipes_into_nindent():
    defines = '{{- define "x" -}}a: {{ .Release.Name }}\nb: {{ $.Release.Name }}{{- end }}'
    assert (
        _render('k:\n  {{- include "x" . | nindent 2 }}', defines=defines) == "k:\n  a: r\n  b: r"
    )


def test_functions():
    assert _render("{{ .Values.s | quote }}", {"s": 'say "hi"'}) == '"say \\"hi\\""'
    assert _render('{{ .Values.s | default "d" }}', {"s": ""}) == "d"
    assert _render('{{ .Values.s | default "d" }}', {"s": "v"}) == "v"
    assert (
        _render("{{ toYaml .Values.m | indent 2 }}", {"m": {"b": [1], "a": 1}})
        == "  a: 1\n  b:\n  - 1"
    )
    assert _render("{{ not .Values.b }}", {"b": False}) == "true"
    assert len(_render("{{ toYaml .Values.m | sha256sum }}", {"m": {"a": 1}})) == 64
    with pytest.raises(gt.TemplateError, match="required: give s"):
        _render('{{ required "give s" .Values.s }}', {"s": ""})


@pytest.mark.parametrize(
    "source",
    [
        '{{ printf "%s" .Values.a }}',
        "{{ with .Values.a }}x{{ end }}",
        "{{ if .Values.a }}x{{ else if .Values.b }}y{{ end }}",
        '{{ include "x" (dict) }}',
        "{{ $x := 1 }}",
        "{{ if .Values.a }}unclosed",
        "{{ tpl .Values.a . }}",
    ],
)
def test_anything_outside_the_subset_is_refused_at_parse_time(source):
    with pytest.raises(gt.TemplateError):
        gt.parse(source, {})


def test_missing_keys_and_large_numbers_are_errors_not_silent_output():
    with pytest.raises(gt.TemplateError, match="no key"):
        _render("{{ .Values.missing }}", {})
    # Helm would print 3.1536e+07 here
    with pytest.raises(gt.TemplateError, match="outside the subset"):
        _render("{{ .Values.n }}", {"n": 31536000})
    assert _render("{{ .Values.n }}", {"n": 8000}) == "8000"


# --- the chart ------------------------------------------------------------------------------


def render(**overrides) -> list[dict]:
    values = gt.deep_merge(LINT_VALUES, overrides)
    return gt.manifests(gt.render_chart(CHART, values, release_name="trial"))


def by_kind(documents: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def pod_specs(documents: list[dict]) -> dict[str, dict]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in documents
        if d["kind"] in {"Deployment", "Job"}
    }


@pytest.fixture(scope="module")
def documents() -> list[dict]:
    return render()


def test_chart_metadata():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "trial"
    assert chart["type"] == "application"


def test_the_chart_renders_every_expected_object(documents):
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in documents)
    assert kinds == sorted(
        [
            ("ConfigMap", "trial-config"),
            ("Secret", "trial-secrets"),
            ("Job", "trial-migrate"),
            ("Deployment", "trial-web"),
            ("Service", "trial-web"),
            ("HorizontalPodAutoscaler", "trial-web"),
            ("PodDisruptionBudget", "trial-web"),
            ("Deployment", "trial-worker-default"),
            ("Deployment", "trial-worker-reminders"),
            ("Deployment", "trial-worker-lab"),
            ("Deployment", "trial-worker-exports"),
            ("Deployment", "trial-beat"),
            ("PersistentVolumeClaim", "trial-media"),
        ]
    )
    for document in documents:
        assert document["metadata"]["labels"]["app.kubernetes.io/instance"] == "trial"


def test_web_is_probed_served_and_autoscaled(documents):
    web = by_kind(documents, "Deployment")["trial-web"]
    assert "replicas" not in web["spec"]  # the autoscaler owns the count
    assert web["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    (container,) = web["spec"]["template"]["spec"]["containers"]
    assert "command" not in container  # the image's gunicorn command
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert container["readinessProbe"]["timeoutSeconds"] >= 3  # two 1 s network checks + the query
    assert {"name": "WEB_CONCURRENCY", "value": "3"} in container["env"]

    service = by_kind(documents, "Service")["trial-web"]
    pod_labels = web["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert web["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"

    hpa = by_kind(documents, "HorizontalPodAutoscaler")["trial-web"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "trial-web",
    }
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_without_autoscaling_web_has_a_fixed_replica_count():
    documents = render(web={"autoscaling": {"enabled": False}})
    assert by_kind(documents, "Deployment")["trial-web"]["spec"]["replicas"] == 2
    assert not by_kind(documents, "HorizontalPodAutoscaler")


def test_a_worker_deployment_per_queue_each_pinging_itself(documents):
    deployments = by_kind(documents, "Deployment")
    seen_queues = set()
    for queue in QUEUES:
        worker = deployments[f"trial-worker-{queue}"]
        (container,) = worker["spec"]["template"]["spec"]["containers"]
        command = container["command"]
        assert command[:5] == ["celery", "-A", "deploy", "--quiet", "worker"]
        seen_queues |= set(command[command.index("--queues") + 1].split(","))
        hostname = command[command.index("--hostname") + 1]
        assert hostname == f"worker-{queue}@%h"
        probe = container["livenessProbe"]["exec"]["command"]
        assert f"--destination worker-{queue}@$HOSTNAME" in probe[-1]
        assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 60
    assert seen_queues == QUEUES
    exports = deployments["trial-worker-exports"]["spec"]["template"]["spec"]
    assert exports["terminationGracePeriodSeconds"] >= 600


def test_exactly_one_beat_replaced_by_recreate(documents):
    beats = [
        d
        for d in documents
        if d["kind"] == "Deployment"
        and "beat" in d["spec"]["template"]["spec"]["containers"][0].get("command", [])
    ]
    assert [b["metadata"]["name"] for b in beats] == ["trial-beat"]
    (beat,) = beats
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}


def test_migrations_run_as_a_hook_after_the_configuration_it_reads(documents):
    job = by_kind(documents, "Job")["trial-migrate"]
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["containers"][0]["command"] == ["django-admin", "migrate", "--noinput"]
    # the media claim does not exist yet when pre-install hooks run
    assert not any("persistentVolumeClaim" in volume for volume in spec["volumes"])
    job_weight = int(annotations["helm.sh/hook-weight"])
    for kind, name in (("ConfigMap", "trial-config"), ("Secret", "trial-secrets")):
        hook = by_kind(documents, kind)[name]["metadata"]["annotations"]
        assert "pre-install" in hook["helm.sh/hook"] and "pre-upgrade" in hook["helm.sh/hook"]
        assert int(hook["helm.sh/hook-weight"]) < job_weight


def test_every_pod_runs_non_root_read_only_with_resources(documents):
    specs = pod_specs(documents)
    assert len(specs) == 7
    for name, spec in specs.items():
        assert spec["automountServiceAccountToken"] is False, name
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert security["runAsUser"] > 0 and security["runAsGroup"] > 0, name
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {volume["name"] for volume in spec["volumes"]}
        for container in spec["containers"]:
            assert container["image"] == "registry.example.org/adaptive-trial:0.1.0", name
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert "memory" in resources["limits"], name
            mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
            assert set(mounts) <= volumes, name
            # the read-only root needs scratch space where the code writes
            assert mounts["tmp"] == "/tmp" and mounts["var"] == "/var/lib/trial", name
            assert container["envFrom"] == [
                {"configMapRef": {"name": "trial-config"}},
                {"secretRef": {"name": "trial-secrets"}},
            ], name


def test_configuration_and_secrets_are_the_settings_variables(documents):
    config = by_kind(documents, "ConfigMap")["trial-config"]["data"]
    secret = by_kind(documents, "Secret")["trial-secrets"]["stringData"]
    assert set(secret) == {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"}
    assert set(config) <= settings_variables(), set(config) - settings_variables()
    assert not set(config) & set(secret)
    assert config["TRIAL_ENV"] == "production"
    assert all(isinstance(value, str) for value in config.values())
    assert secret["REDIS_URL"] == LINT_VALUES["secrets"]["REDIS_URL"]


def test_pods_roll_when_configuration_or_secrets_change(documents):
    before = by_kind(documents, "Deployment")["trial-web"]["spec"]["template"]["metadata"]
    after = by_kind(render(secrets={"REDIS_URL": "redis://other:6379/0"}), "Deployment")
    annotations = after["trial-web"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["checksum/secrets"] != before["annotations"]["checksum/secrets"]
    assert annotations["checksum/config"] == before["annotations"]["checksum/config"]


def test_an_existing_secret_replaces_the_charts_secret():
    documents = gt.manifests(
        gt.render_chart(CHART, {"secrets": {"existingSecret": "trial-managed"}})
    )
    assert not by_kind(documents, "Secret")
    for spec in pod_specs(documents).values():
        assert {"secretRef": {"name": "trial-managed"}} in spec["containers"][0]["envFrom"]


def test_secrets_are_required_when_the_chart_creates_them():
    with pytest.raises(gt.TemplateError, match=r"secrets\.SECRET_KEY is required"):
        gt.render_chart(CHART, {})


def test_media_volume_shared_by_web_and_workers_or_per_pod_when_persistence_is_off(documents):
    claim = by_kind(documents, "PersistentVolumeClaim")["trial-media"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    specs = pod_specs(documents)
    for name in ("trial-web", "trial-worker-exports"):
        assert {"name": "media", "persistentVolumeClaim": {"claimName": "trial-media"}} in specs[
            name
        ]["volumes"]
    documents = render(media={"persistence": {"enabled": False}})
    assert not by_kind(documents, "PersistentVolumeClaim")
    assert {"name": "media", "emptyDir": {}} in pod_specs(documents)["trial-web"]["volumes"]


def test_optional_ingress_terminates_tls_for_the_web_service(documents):
    assert not by_kind(documents, "Ingress")
    documents = render(
        ingress={
            "enabled": True,
            "className": "nginx",
            "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "20m"},
        }
    )
    ingress = by_kind(documents, "Ingress")["trial-web"]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["trial.example.org"], "secretName": "trial-tls"}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "trial-web", "port": {"name": "http"}}}


@pytest.mark.skipif(shutil.which("helm") is None, reason="helm is not installed")
def test_helm_lint_and_template_agree_with_the_renderer(documents):
    lint = ["helm", "lint", str(CHART), "-f", str(CHART / "ci" / "lint-values.yaml")]
    result = subprocess.run(lint, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    template = [
        "helm",
        "template",
        "trial",
        str(CHART),
        "-f",
        str(CHART / "ci" / "lint-values.yaml"),
    ]
    result = subprocess.run(template, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert sorted((d["kind"], d["metadata"]["name"]) for d in rendered) == sorted(
        (d["kind"], d["metadata"]["name"]) for d in documents
    )
