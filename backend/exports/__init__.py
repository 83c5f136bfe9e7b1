"""Bulk exports: a job per request streams one dataset to a file in the data dir, then expires.

`service.py` runs the jobs, `datasets.py` says what can be exported, `models.py` is the table,
`views.py` the answers and file names, `writer.py` the blocking file writes. The HTTP routes are
`backend/api/routes/exports.py`.
"""
