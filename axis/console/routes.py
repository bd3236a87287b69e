"""Mount the console under `/ui/`: its static files and its pages' routers."""

from __future__ import annotations

from fastapi import FastAPI

from axis.console.assets import STATIC_PATH, static_files


def install_console(app: FastAPI) -> None:
    app.mount(STATIC_PATH, static_files(), name="console-static")
