"""The agency side: the client that builds, signs, sends, reads and acknowledges; the push
receiver; the drop-folder reader; and delivery verification. It imports `schemas` and
`signing`, never `axis`, and installs alone (`agency/pyproject.toml`)."""
