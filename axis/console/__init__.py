"""The operator console and the auditor's pages, served under `/ui/`."""
