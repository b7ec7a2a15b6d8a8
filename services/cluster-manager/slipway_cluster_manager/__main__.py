"""`python -m slipway_cluster_manager`: run the cluster-manager service."""

import asyncio

from slipway_cluster_manager.app import create_app

if __name__ == "__main__":
    asyncio.run(create_app().run())
