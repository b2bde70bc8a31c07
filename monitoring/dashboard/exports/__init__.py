"""Exports of the clinical data: one CSV per domain and the CDISC ODM 1.3.2 XML.

Both are generators of text chunks over ``QuerySet.values_list(...).iterator(chunk_size)``, so
memory stays flat whatever the number of rows: the web serves them through a
``StreamingHttpResponse`` and the export job writes them to a file. Both are pseudonymised
(subjects are trial numbers, never screening numbers; a patient never enrolled is ``NE-<id>``),
site-scoped with ``trial.selectors.access.scope_by_site``, and mask the randomized arm for the
roles that may not see it (``monitoring.dashboard.access.masks_arms``).
"""
