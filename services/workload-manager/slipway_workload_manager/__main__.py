"""`python -m slipway_workload_manager`: run the workload-manager service."""

import asyncio

from slipway_workload_manager.app import create_app

if __name__ == "__main__":
    asyncio.run(create_app().run())
