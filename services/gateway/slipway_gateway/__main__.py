"""`python -m slipway_gateway`: serve the REST API (default 127.0.0.1:8080; HTTPS when
given a certificate and key)."""

import uvicorn

from slipway_gateway.app import create_app
from slipway_gateway.settings import GatewaySettings
from slipway_libs.runtime import own_process

# How long an idle connection is kept open: longer than clients keep theirs (httpx: 5 s),
# so a client never sends on a connection the gateway is closing at that moment (a lost
# request, seen as a read error, under load with uvicorn's 5 s default).
KEEP_ALIVE_S = 30
# libuv's event loop and the C HTTP parser: about a sixth less CPU per API call than
# asyncio's own loop and the pure-Python h11 (measured on a REST create under load).
LOOP = "uvloop"
HTTP = "httptools"

if __name__ == "__main__":
    settings = GatewaySettings()
    own_process()  # the garbage collector is tuned once the gateway has started
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,  # the gateway logs each call itself (`system.Correlation`)
        timeout_keep_alive=KEEP_ALIVE_S,
        loop=LOOP,
        http=HTTP,
        ssl_certfile=settings.tls_cert_file,
        ssl_keyfile=settings.tls_key_file,
    )
