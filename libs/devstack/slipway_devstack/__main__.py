"""`python -m slipway_devstack`: what `make run` starts."""

from slipway_devstack import main

main()
