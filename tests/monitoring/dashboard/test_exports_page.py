"""The exports page without the known dataset: its htmx filter swaps the export links only."""

from __future__ import annotations


def test_the_exports_filter_re_renders_the_export_links_only(client, investigator_a, pada1):
    client.force_login(investigator_a)
    headers = {"HX-Request": "true", "HX-Target": "panels"}
    html = client.get("/dashboard/exports/?site=FR01", headers=headers).content.decode()
    assert "<html" not in html and 'data-table="exports"' in html
    assert 'href="/dashboard/exports/patients/?protocol=PADA1&amp;site=FR01"' in html
    assert '<input type="hidden" name="site" value="FR01">' in html
