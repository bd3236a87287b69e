"""The console's pages: one module each, with its router (`APIRouter(route_class=ConsoleRoute)`)."""
