"""The ceiling: a constant-JSON endpoint on the same stack (Litestar on granian,
same worker count) as `loomal serve`. Run: granian --interface asgi bench.bare_app:app"""

from litestar import Litestar, get


@get("/bare", sync_to_thread=False)
def bare() -> dict[str, str]:
    return {"status": "ok"}


app = Litestar([bare], logging_config=None, openapi_config=None)
