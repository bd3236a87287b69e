"""The operator console and the auditor's pages, served under `/ui/`: server-rendered
(Jinja2), enhanced by htmx and its SSE extension, charts by uPlot, all served from the
package (`assets.py`). Each request passes the console's front door (`front_door.py`:
session, role, admission, CSRF); `routes.py` says how a page is added.
"""
