"""`python -m slipway_chart_validator`: run the chart-validator service."""

import asyncio

from slipway_chart_validator.app import create_app

if __name__ == "__main__":
    asyncio.run(create_app().run())
