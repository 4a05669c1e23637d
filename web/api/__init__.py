"""The versioned JSON API (`/api/v1/...`): one handler per coordinator or supervisor action.

Handlers live by resource (`cases`, `records`, `review`, `consults`, `admin`), share the
plumbing in `call`, and are listed with their inputs, results and roles in `routes`, from
which `web.spec` builds the OpenAPI document and `web.app` the aiohttp routes.
"""
