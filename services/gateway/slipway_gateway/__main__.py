"""`python -m slipway_gateway`: serve the REST API (default 127.0.0.1:8080; HTTPS when
given a certificate and key)."""

import uvicorn

from slipway_gateway.app import create_app
from slipway_gateway.settings import GatewaySettings

if __name__ == "__main__":
    settings = GatewaySettings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        ssl_certfile=settings.tls_cert_file,
        ssl_keyfile=settings.tls_key_file,
    )
