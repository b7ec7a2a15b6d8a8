"""`slipway`, the command line of Slipway: a thin client of the REST API (httpx), never of
NATS or MongoDB. One module per command group; `client` (configuration, errors), `output`
(table, json, yaml) and `waiting` (`--wait`) are shared."""
