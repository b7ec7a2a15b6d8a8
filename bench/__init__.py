"""`make bench`: Slipway's figures beside the raw ceilings of the same machine, in one run.

Run `python -m bench --help` for the sizes. By default it starts the embedded stack (as
`make run` has it: NATS, MongoDB and the API with authentication, every service its own
process) on free loopback ports under a temporary directory and stops it at the end; set
`SLIPWAY_BENCH_URL` to measure a stack that runs already (see `bench.target`).

Sections, in the order they run (`bench.run.SECTIONS`): the raw ceiling (`raw`), REST
creates (`rest_create`), creates over NATS (`nats_create`), reads and lists at a seeded
entity count (`reads`), event latency at a steady create rate (`events`), image builds
against `docker build` (`image_build`), chart validation against the helm and
kubernetes-validate CLIs (`chart_validation`), a burst of deployments (`deployments`), and
the memory of every service process throughout (`rss`). Results go to
`bench/results/<timestamp>.json`; a markdown table is printed.
"""
