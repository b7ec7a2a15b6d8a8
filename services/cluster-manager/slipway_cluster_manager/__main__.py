"""`python -m slipway_cluster_manager`: run the cluster-manager service."""

from slipway_cluster_manager.app import create_app
from slipway_libs import runtime

if __name__ == "__main__":
    runtime.run(create_app().run())
